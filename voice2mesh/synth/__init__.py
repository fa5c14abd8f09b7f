"""The synthetic Voxceleb-3D world."""
