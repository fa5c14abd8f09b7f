"""Wen et al.'s 64-bin log-mel front end, batched over frames and utterances (docs/audio.md).

Wen, Ismail, Raj & Singh, *Face reconstruction from voice using generative adversarial networks*
(NeurIPS 2019), computed their features with a port of SphinxTrain's ``mfcc.py`` (David
Huggins-Daines, CMU) configured as ``MFCC(nfilt=64, lowerf=20, upperf=7200, samprate=16000,
nfft=1024, wlen=0.025)`` and its ``sig2logspec``; Voice2Mesh reuses their features. That code
loops over frames in Python; this module computes the same numbers for all frames of many
utterances at once (``log_mel_batch``; ``tests/audio/logmel_reference.py`` keeps a per-frame
loop as the reference).

Definition, for a signal ``x`` of ``L`` samples at ``sr`` Hz (16 kHz: wlen 400, hop 160):

* Frames: ``T = int(L / hop + 1)``; frame ``k`` is ``x[s : min(L, s + wlen)]`` with
  ``s = k * hop``. Frames near the end are shorter than ``wlen``; each is filled to
  ``wlen`` by cyclic repetition of *its own* samples (``numpy.resize(frame, wlen)``); a frame
  starting at ``L`` (``L`` a multiple of the hop) is empty and becomes zeros.
* Pre-emphasis, per frame, as Sphinx does it: ``y[0] = f[0] - 0.97 * prior`` and
  ``y[n] = f[n] - 0.97 * f[n-1]``, where ``prior`` is the **last sample of the previous frame**
  (``f_{k-1}[wlen-1]``, i.e. ``x[s_{k-1} + wlen - 1]`` for full frames — not ``x[s_k - 1]``,
  the sample just before the current frame) and ``0`` for the first frame. Frames overlap, so
  this is *not* a pre-emphasis of the whole signal.
* Window ``numpy.hamming(wlen)`` (symmetric); power spectrum ``|rfft(y * w, nfft)|²`` with no
  ``1/N`` factor.
* Filterbank: ``nfilt + 2`` edge frequencies equally spaced on the mel scale
  ``mel(f) = 2595 log10(1 + f / 700)`` from ``lowerf`` to ``upperf``; filter ``i`` has left,
  centre and right edges ``l, c, r = round(edge[i..i+2] / (sr / nfft))`` in DFT bins (round half
  to even). Its height is ``2 / ((r - l) * sr / nfft)`` (2 over the full width in Hz between the
  rounded left and right edges), reached at bin ``c``; weights fall linearly to zero at bins
  ``l`` and ``r`` (which themselves get weight 0).
* Output ``log(max(power @ filters, 1e-5))`` (natural log), shape ``(T, nfilt)``.

Input is raw int16 sample values: float audio scaled to [-1, 1] would shift every log energy by
-log(32768²) ≈ -20.8 and push the quiet bins under the 1e-5 floor, so such input is refused.

Exactness and speed: frames, window and pre-emphasis are bitwise the loop's
(``voice2mesh.audio.framing``), and the FFT is the same float64 ``numpy.fft.rfft``. The filterbank
is a sparse product (ascending bins, one product and one sum at a time) where the loop uses a
dense BLAS product, and the power is ``re² + im²`` where the loop squares ``abs``: their float64
results may differ in the last bit, which has not been seen to survive the rounding to float32
(benchmarks/bench_logmel.py and the tests compare bitwise). Any faster FFT (float32, or another
algorithm) would give other float64 bits, so that rfft bounds the speed: it takes over half the
time here (``reports/benchmarks.md``, "Log-mel front end").
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import sparse

from voice2mesh.audio.framing import FrameBatch

SAMPLE_RATE = 16000
N_MELS = 64
LOWER_HZ = 20.0
UPPER_HZ = 7200.0
FRAME_S = 0.025
FRAME_RATE = 100  # frames per second: the hop is sample_rate / 100 samples
N_FFT = 1024
PRE_EMPHASIS = 0.97
LOG_FLOOR = 1e-5
# Frames per rfft/filterbank block: 64 keeps a block's spectrum (~0.5 MB) in cache, which is
# 2-3x faster than one whole-batch block; a block may span utterances (frames are cut by
# ``FrameBatch.block`` from one strided view of the whole batch).
BLOCK_FRAMES = 64
# Samples per FrameBatch (~65 s of audio, 8 MB per float64 copy): the 64-utterance benchmark
# batch (5.7 M samples) ran 7-14 % faster in such chunks than as one FrameBatch, and 2^20 beat
# 2^16 and 2^18 (2-core machine, interleaved runs). Chunks do not change any result.
CHUNK_SAMPLES = 1 << 20


def mel(hz: np.ndarray | float) -> np.ndarray | float:
    """Hz -> mel (O'Shaughnessy's formula, as Sphinx uses it)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def mel_inverse(m: np.ndarray | float) -> np.ndarray | float:
    """Mel -> Hz."""
    return 700.0 * (np.power(10.0, np.asarray(m) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(
    sample_rate: int = SAMPLE_RATE,
    n_mels: int = N_MELS,
    n_fft: int = N_FFT,
    lower_hz: float = LOWER_HZ,
    upper_hz: float = UPPER_HZ,
) -> np.ndarray:
    """Sphinx's triangular mel filters (definition in the module docstring).

    Returns:
        (n_fft // 2 + 1, n_mels) float64, read-only.

    Raises:
        ValueError: ``upper_hz`` above Nyquist, or filters so narrow that two edges round to
            the same DFT bin (Sphinx would silently build a broken filter there).
    """
    if upper_hz > sample_rate / 2:
        raise ValueError(
            f"mel filterbank: upper edge {upper_hz} Hz exceeds the Nyquist frequency "
            f"{sample_rate / 2} Hz of {sample_rate} Hz audio; resample the audio to 16 kHz"
        )
    dfreq = sample_rate / n_fft
    edges_hz = mel_inverse(
        mel(lower_hz) + (mel(upper_hz) - mel(lower_hz)) / (n_mels + 1) * np.arange(n_mels + 2)
    )
    edges = np.round(edges_hz / dfreq).astype(np.int64)  # (n_mels + 2,) DFT bins, half to even
    if np.any(np.diff(edges) <= 0):
        raise ValueError(
            f"mel filterbank: {n_mels} filters over {lower_hz}-{upper_hz} Hz with nfft {n_fft} "
            "put two filter edges in the same DFT bin; use fewer filters or a larger nfft"
        )
    bins = np.arange(n_fft // 2 + 1)[:, None]  # (F, 1)
    left, centre, right = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]  # (1, M) each
    height = 2.0 / ((right - left) * dfreq)
    rising = (bins - left) * (height / (centre - left))
    falling = (bins - right) * (height / (centre - right))
    filters = np.where(bins < centre, rising, np.where(bins == centre, height, falling))
    filters[(bins <= left) | (bins >= right)] = 0.0
    filters.setflags(write=False)
    return filters


@lru_cache(maxsize=8)
def _sparse_filters(sample_rate: int) -> sparse.csr_array:
    """The filterbank, transposed and cut at its last non-zero bin: (64, B) CSR.

    97 % of the dense matrix is zeros; the sparse product is single-threaded, where a dense
    BLAS matmul spawns threads that fight the feature-extraction worker processes.
    """
    filters = mel_filterbank(sample_rate)  # (F, 64)
    n_bins = int(np.flatnonzero(filters.any(axis=1))[-1]) + 1
    return sparse.csr_array(filters[:n_bins].T)


def _check_signal(signal: np.ndarray, where: str = "log_mel") -> np.ndarray:
    """Validate int16-scaled samples (L,) and return them as an array; ``where`` names them."""
    x = np.asarray(signal)
    if x.ndim != 1:
        raise ValueError(f"{where}: expected a mono signal of shape (n,), got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{where}: the signal is empty (did the VAD keep any speech?)")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"{where}: expected int16 samples, got dtype {x.dtype}")
    peak = max(abs(float(x.min())), abs(float(x.max())))
    if np.issubdtype(x.dtype, np.floating) and peak <= 1.0:
        raise ValueError(
            f"{where}: float samples with peak |x| = {peak:.3g} <= 1 look like audio scaled to "
            "[-1, 1]; the front end expects raw int16 sample values (multiply by 32768, or read "
            "the file with voice2mesh.audio.read_wav)"
        )
    if peak > 32768.0 or not np.isfinite(peak):
        raise ValueError(
            f"{where}: peak |x| = {peak:.6g} is outside the int16 range; pass int16 samples"
        )
    return x


def log_mel_batch(
    signals: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE
) -> list[np.ndarray]:
    """Un-normalised 64-bin log-mel of many utterances of any lengths (Wen et al., no VAD).

    All frames of all utterances go through the FFT and the filterbank together, in blocks of
    ``BLOCK_FRAMES`` that may span utterance boundaries; the result is bitwise the same as
    ``log_mel`` on each utterance alone, whatever the batch (each frame's numbers do not depend
    on its neighbours in a block).

    Args:
        signals: N arrays of raw int16 sample values, shape (L_i,), L_i >= 1.
        sample_rate: Hz, a multiple of 100; 16000 in the paper (frame 0.025 s, hop 0.01 s).

    Returns:
        N float32 arrays (T_i, 64), ``T_i = int(L_i / hop + 1)``: views into one array.

    Raises:
        ValueError: a bad sample rate, or an empty, multi-channel, non-numeric or
            [-1, 1]-scaled signal (the message names its position in ``signals``).
    """
    if sample_rate % FRAME_RATE:
        raise ValueError(
            f"log_mel: sample rate {sample_rate} Hz is not a multiple of {FRAME_RATE} Hz, so the "
            "10 ms hop is not a whole number of samples; resample to 16 kHz (read_wav does)"
        )
    many = len(signals) > 1
    xs = [
        _check_signal(s, f"log_mel (signal {i})" if many else "log_mel")
        for i, s in enumerate(signals)
    ]
    if not xs:
        return []
    wlen, hop = int(FRAME_S * sample_rate), sample_rate // FRAME_RATE
    filters_t = _sparse_filters(sample_rate)  # (64, B) sparse, B = highest used DFT bin + 1
    counts = [int(len(x) / hop + 1) for x in xs]  # (N,) frames per utterance
    out = np.empty((sum(counts), filters_t.shape[0]), np.float32)  # (ΣT, 64)
    first = 0  # first frame of the chunk in ``out``
    for chunk in _chunks([len(x) for x in xs]):
        batch = FrameBatch(xs[chunk], wlen, hop, PRE_EMPHASIS)
        _log_energies(batch, filters_t, out[first : first + batch.n_frames])
        first += batch.n_frames
    return np.split(out, np.cumsum(counts)[:-1])


def _chunks(lengths: list[int]) -> list[slice]:
    """Runs of consecutive utterances of at most ``CHUNK_SAMPLES`` samples (or one longer one)."""
    chunks, start, total = [], 0, 0
    for i, n in enumerate(lengths):
        if total and total + n > CHUNK_SAMPLES:
            chunks.append(slice(start, i))
            start, total = i, 0
        total += n
    return [*chunks, slice(start, len(lengths))]


def _log_energies(batch: FrameBatch, filters_t: sparse.csr_array, out: np.ndarray) -> None:
    """Log mel energies of every frame of ``batch`` into ``out`` (n_frames, 64), block by block."""
    n_bins = filters_t.shape[1]
    for lo in range(0, batch.n_frames, BLOCK_FRAMES):
        hi = min(lo + BLOCK_FRAMES, batch.n_frames)
        spectrum = np.fft.rfft(batch.block(lo, hi), N_FFT, axis=1)  # (b, nfft / 2 + 1)
        # |rfft|^2 without 1/N: square re and im together on the interleaved float view.
        squares = np.square(spectrum.view(np.float64)[:, : 2 * n_bins])  # (b, 2B)
        power = np.add(squares[:, 0::2], squares[:, 1::2])  # (b, B) re^2 + im^2
        energies = (filters_t @ power.T).T  # (b, 64)
        out[lo:hi] = np.log(np.maximum(energies, LOG_FLOOR))


def log_mel(signal: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Un-normalised 64-bin log-mel of one utterance (Wen et al.'s front end, no VAD).

    Args:
        signal: (L,) raw int16 sample values (int16 or any int/float array on that scale).
        sample_rate: Hz, a multiple of 100; 16000 in the paper (frame 0.025 s, hop 0.01 s).

    Returns:
        (T, 64) float32 log filterbank energies, ``T = int(L / hop + 1)``.

    Raises:
        ValueError: empty, multi-channel, non-numeric or [-1, 1]-scaled float input.
    """
    return log_mel_batch([signal], sample_rate)[0]


def normalize(features: np.ndarray) -> np.ndarray:
    """Per-bin mean/variance normalisation over one utterance (Wen et al.'s ``get_fbank``).

    ``(f - mean) / (std + eps)`` per mel bin, ``eps`` the float32 machine epsilon as in their
    code, so a constant bin (e.g. all at the log floor) becomes zeros instead of NaN. Computed
    in float64 (they used float32: differences of order 1e-6).

    Args:
        features: (T, M) log-mel frames.

    Returns:
        (T, M) float32.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] == 0:
        raise ValueError(f"normalize: expected (T, M) features with T >= 1, got {f.shape}")
    std = f.std(axis=0) + np.finfo(np.float32).eps
    return ((f - f.mean(axis=0)) / std).astype(np.float32)


def repeat_to(features: np.ndarray, min_frames: int = 1000) -> np.ndarray:
    """Repeat an utterance shorter than ``min_frames`` until it has exactly ``min_frames``.

    Wen et al. tile utterances under 10 s (1000 frames) and cut the result; longer ones are
    returned unchanged.

    Args:
        features: (T, M) frames, T >= 1.
        min_frames: target length.

    Returns:
        (max(T, min_frames), M), same dtype.
    """
    t = features.shape[0]
    if t == 0:
        raise ValueError("repeat_to: cannot repeat an utterance with no frames")
    if t >= min_frames:
        return features
    reps = -(-min_frames // t)
    return np.tile(features, (reps, 1))[:min_frames]
