"""The synthetic world is byte-identical on other CPUs, emulated in subprocesses.

Each emulation sets variables the libraries read at process start:

* ``NPY_DISABLE_CPU_FEATURES``: numpy's SIMD targets (``X86_V4`` = AVX-512, ``X86_V3`` =
  AVX2 + FMA3; numpy ≥ 2.4's names);
* ``OPENBLAS_CORETYPE``: OpenBLAS's kernels (Haswell: AVX2 + FMA; Sandybridge: AVX, no FMA);
* ``NUMBA_CPU_NAME``: numba's code generation target;
* ``GLIBC_TUNABLES=glibc.cpu.hwcaps=-…``: libm's FMA/AVX2 variants of exp, log, sin, cos, pow
  (glibc ≥ 2.33 spelling; older glibc ignores it);
* ``JSIMD_FORCESSE2``: libjpeg-turbo's SIMD in Pillow's JPEG encoder.

Before ``voice2mesh.portable`` every emulation below changed the world (the face model's basis,
most wav files, identities.csv, voices.csv, the truth landmarks); on a host without AVX2 there
is nothing to emulate and the tests only check what they can.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_GLIBC_NO_FMA = "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F,-AVX512VL,-AVX512DQ,-AVX512BW,-AVX512CD"
EMULATIONS: dict[str, dict[str, str]] = {
    "host": {},
    "avx2_fma": {  # e.g. Intel Haswell to Comet Lake, AMD Zen 1-3
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "OPENBLAS_CORETYPE": "Haswell",
        "NUMBA_CPU_NAME": "haswell",
    },
    "no_avx2_no_fma": {  # an older x86-64: SSE4.2 numpy, no FMA anywhere
        "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
        "OPENBLAS_CORETYPE": "Sandybridge",
        "NUMBA_CPU_NAME": "generic",
        "GLIBC_TUNABLES": _GLIBC_NO_FMA,
        "JSIMD_FORCESSE2": "1",
    },
}

_FUNCTIONS = """
import hashlib, json
import numpy as np
from voice2mesh import portable as pm

digest = lambda a: hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
rng = np.random.default_rng(0)
x = rng.uniform(-30.0, 30.0, 100_000)
a, b = rng.standard_normal((300, 40)), rng.standard_normal((40, 3))
numpy = {"exp64": np.exp(x), "exp32": np.exp(x.astype(np.float32)), "matmul": a @ b}
portable = {
    "exp": pm.exp(x), "log": pm.log(np.abs(x)), "sin": pm.sin(x), "cos": pm.cos(x),
    "arctan2": pm.arctan2(x, x[::-1]), "power": pm.power(np.abs(x), 0.7), "cbrt": pm.cbrt(x),
    "tanh": pm.tanh(x), "exp2": pm.exp2(x), "log2": pm.log2(np.abs(x)),
    "normal": pm.standard_normal(np.random.default_rng(1), 100_000),
}
print(json.dumps({k: {n: digest(v) for n, v in d.items()} for k, d in
                  (("numpy", numpy), ("portable", portable))}))
"""

_WORLD = """
import hashlib, json, sys
from pathlib import Path
import numpy as np
from stages.synthesize import run
from voice2mesh.config import Params
from voice2mesh.facemodel.synthetic import build_synthetic_model
from voice2mesh.synth.spec import SynthParams

out = Path(sys.argv[1])
spec = SynthParams(
    root=str(out / "world"), n_identities=12, voice_only=1, face_only=1,
    images_per_identity=(2, 3), utterances_per_identity=(2, 2), duration_s=(3.0, 3.5),
    image_size=96, workers=1, preview_identities=1,
)
run(Params(synth=spec), out / "sheet.png", out / "counts.json", quiet=True)
digest = lambda data: hashlib.sha256(data).hexdigest()
files = {str(p.relative_to(out)): digest(p.read_bytes())
         for p in sorted((out / "world").rglob("*")) if p.is_file()}
model = build_synthetic_model()
for name in ("mean", "shape_basis", "expression_basis", "shape_std", "expression_std"):
    files["model." + name] = digest(np.ascontiguousarray(getattr(model, name)).tobytes())
print(json.dumps(files))
"""


def _run(script: str, emulation: str, *args: str) -> dict:
    """Run ``script`` under an emulated CPU; return the JSON it prints."""
    env = {**os.environ, **EMULATIONS[emulation], "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{emulation}: {done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def _differences(runs: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    host = runs["host"]
    return {
        name: sorted(k for k in host.keys() | run.keys() if host.get(k) != run.get(k))
        for name, run in runs.items()
        if name != "host"
    }


def test_emulated_cpus_change_numpy_but_not_the_portable_functions():
    runs = {name: _run(_FUNCTIONS, name) for name in EMULATIONS}
    portable = _differences({name: run["portable"] for name, run in runs.items()})
    assert not any(portable.values()), f"portable results differ between CPUs: {portable}"
    if "avx2" not in Path("/proc/cpuinfo").read_text().split():
        pytest.skip("this CPU has no AVX2: nothing to emulate, so nothing shows it works")
    numpy = _differences({name: run["numpy"] for name, run in runs.items()})
    assert numpy["no_avx2_no_fma"], "the emulation changed none of numpy's results"


@pytest.mark.slow
def test_world_is_byte_identical_on_emulated_cpus(tmp_path):
    runs = {name: _run(_WORLD, name, str(tmp_path / name)) for name in EMULATIONS}
    assert sum(k.endswith(".wav") for k in runs["host"]) >= 10
    assert sum(k.endswith(".jpg") for k in runs["host"]) >= 10
    differences = _differences(runs)
    assert not any(differences.values()), f"files that differ from the host's: {differences}"
