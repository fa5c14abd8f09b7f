"""On-disk dataset formats: VoxCeleb1 / VGGFace layouts, manifests, ibug .pts files."""
