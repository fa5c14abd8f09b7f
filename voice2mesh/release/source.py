"""The release as the pipeline's input: ``intersect.source: release`` (docs/real_data.md).

``intersect``, ``features`` and ``fit3dmm`` then run the importer's three parts
(``import_manifest``, ``import_voices``, ``import_fits``) on the release at
``intersect.voxceleb_root``, with the options taken from params here, so that they write what
``voice2mesh import-release`` writes with the same options.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from voice2mesh.config import IntersectParams
from voice2mesh.release.errors import ReleaseError
from voice2mesh.release.scan import ImportOptions

PARAMS_FOR_FLAGS = (
    "(intersect.source is release: ROOT is intersect.voxceleb_root; --voices, --faces and "
    "--alias are intersect.release.voices, .faces and .aliases; --meta and --unknown-ids are "
    "intersect.meta_file and intersect.unknown_ids)"
)


def import_options(intersect: IntersectParams) -> ImportOptions:
    """The importer's options of the ``intersect`` section; the stages that write features and
    fits set their own (``shard_size``, ``workers``; ``n_shape``, ``n_expression``,
    ``reference``) with ``dataclasses.replace``."""
    release = intersect.release
    return ImportOptions(
        voices=release.voices,
        faces=release.faces,
        meta_file=intersect.meta_file,
        aliases=dict(release.aliases),
        unknown_ids=intersect.unknown_ids,
        test_initials=intersect.test_initials,
        val_fraction=intersect.val_fraction,
        workers=release.workers,
    )


@contextmanager
def naming_params() -> Iterator[None]:
    """Re-raise a ``ReleaseError`` (whose fix names the command's ROOT and flags) with the
    params that stand for them."""
    try:
        yield
    except ReleaseError as error:
        raise ReleaseError(f"{error} {PARAMS_FOR_FLAGS}") from error
