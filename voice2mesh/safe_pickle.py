"""Reading third-party pickles (BFM models, 3DDFA-V2's whitening) without running their code.

``pickle.load`` calls whatever a file names, so a crafted ``.pkl`` runs arbitrary code. The
files we read (3DDFA-V2's ``bfm_noneck_v3.pkl``, ``tri.pkl``, ``param_mean_std_62d_120x120.pkl``)
hold only numpy arrays, numbers, strings, lists and dicts; ``load_pickle`` admits exactly those
(https://docs.python.org/3/library/pickle.html#restricting-globals) and refuses anything else
with a message naming the file and the object it asked for.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

# (module, name) pairs a numpy-arrays-and-containers pickle needs; nothing here can run code.
_ALLOWED = {
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # protocol-2 pickles store bytes as _codecs.encode(str, "latin1")
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),  # protocol 5 arrays
    ("numpy._core.numeric", "_frombuffer"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle that asks for something other than arrays, numbers, strings and containers."""


class _ArraysOnly(pickle.Unpickler):
    def __init__(self, handle: Any, path: Path) -> None:
        super().__init__(handle, encoding="latin1")  # Python 2 pickles of numpy arrays too
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self.path}: refused to load {module}.{name}: a third-party pickle may only hold "
            "numpy arrays, numbers, strings, lists and dicts (is this the file you meant?)"
        )


def load_pickle(path: Path | str) -> Any:
    """Unpickle ``path`` admitting only numpy arrays, scalars, strings, lists and dicts.

    Raises:
        FileNotFoundError: no such file.
        UnsafePickleError: the file names any other class or function (nothing is run).
        pickle.UnpicklingError: the file is not a pickle (message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open("rb") as handle:
        try:
            return _ArraysOnly(handle, path).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
            raise pickle.UnpicklingError(f"{path}: not a readable pickle ({error})") from error
