"""What the training tests share: a tiny feature store in the ``features`` stage's layout."""

from __future__ import annotations

from feature_stores import write_store  # tests/ is on sys.path under pytest

__all__ = ["write_store"]
