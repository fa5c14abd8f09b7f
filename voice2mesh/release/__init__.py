"""The authors' Voxceleb-3D release (Wu, Hsu & Neumann, CVPR 2022) as an input.

    summary = import_release(root, out)   # -> out/manifest, out/features, out/fits
    import_manifest(root, out, options)   # its parts, as intersect, features and fit3dmm run
    import_voices(root, out, options)     #   them with intersect.source: release
    import_fits(manifests, out, options)  #   (``release.source``)
    fbank = read_fbank("00001.npy")       # one utterance's (T, 64) features, repetition undone

Release layout (README of choyingw/Cross-Modal-Perceptionist, "Voxceleb-3D")::

    ROOT/vox1_meta.csv
    ROOT/fbank/<speaker>/<video>/<utt>.npy      (or preprocessed_MFCC/) fbank, ``release.fbank``
    ROOT/<face folder>/<VGGFace1 ID>/<stem>.npy 199 + 29 BFM parameters, ``release.params3dmm``

This package only reads the release and writes this project's formats; the stages read those
unchanged.
"""

from voice2mesh.release.errors import ReleaseError, ReleaseFileError
from voice2mesh.release.fbank import Fbank, read_fbank
from voice2mesh.release.importer import import_fits, import_manifest, import_release, import_voices
from voice2mesh.release.params3dmm import read_params
from voice2mesh.release.scan import ImportOptions

__all__ = [
    "Fbank",
    "ImportOptions",
    "ReleaseError",
    "ReleaseFileError",
    "import_fits",
    "import_manifest",
    "import_release",
    "import_voices",
    "read_fbank",
    "read_params",
]
