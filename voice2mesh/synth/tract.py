"""Vocal-tract filter: a time-varying cascade of formant resonators and a nasal pole-zero pair.

Each block (~10 ms) has its own cascade (Klatt 1980, "Software for a cascade/parallel formant
synthesizer"): five oral resonators F1–F5 and a nasal pole at ``FNP`` with a nasal zero at
``FNZ``. Each second-order section has unity gain at DC:

    resonator      H(z) = A / (1 − B z⁻¹ − C z⁻²),   C = −e^(−2πBw/fs),
                   B = 2 e^(−πBw/fs) cos(2πF/fs),    A = 1 − B − C
    antiresonator  H(z) = (1 − B z⁻¹ − C z⁻²) / A.

Nasality moves the nasal zero above the nasal pole (FNZ = FNP · (1 + nasality); equal
frequencies cancel) and widens F1 (Stevens 1998, ch. 6); a nasal murmur instead places the zero at
the consonant's antiformant. The sections of a block are multiplied into one direct-form filter,
and ``timevarying_lfilter`` switches filters between blocks *exactly* (direct form I: every block
starts from the true past inputs and outputs, so a coefficient change injects no transient) in a
numba loop over the samples.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from voice2mesh import portable as pm
from voice2mesh.synth.phones import NASAL, REF_VTL_CM, SegmentPlan
from voice2mesh.synth.prosody import block_segments, smooth_blocks

BASE_BANDWIDTHS = np.array([60.0, 90.0, 130.0, 200.0, 260.0])  # Hz, F1..F5
NASAL_POLE_HZ = 250.0
NASAL_BW_HZ = 100.0


@njit(cache=True)
def _cascade(radius: np.ndarray, cosine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kernel of ``cascade_coefficients``: (NB, 7) resonators (the last one the zero) → b, a.

    ``radius`` is e^(−πBw/fs) and ``cosine`` cos(2πF/fs) of each resonator. Each block's six
    pole sections are multiplied out in place into a (NB, 13); b (NB, 3) is the antiresonator
    scaled to the poles' DC gain.
    """
    nb = radius.shape[0]
    a, b = np.zeros((nb, 13)), np.empty((nb, 3))
    for k in range(nb):
        a[k, 0] = 1.0
        for s in range(7):
            r = radius[k, s]
            c1 = -(2.0 * r * cosine[k, s])  # −B
            c2 = r * r  # −C
            if s == 6:  # the antiresonator, scaled to the poles' DC gain
                gain = a[k].sum() / (1.0 + c1 + c2)
                b[k, 0], b[k, 1], b[k, 2] = gain, gain * c1, gain * c2
                break
            for i in range(2 * s + 2, 0, -1):  # a ← a · (1 + c1 z⁻¹ + c2 z⁻²), top down
                acc = a[k, i] + a[k, i - 1] * c1
                if i >= 2:
                    acc += a[k, i - 2] * c2
                a[k, i] = acc
    return b, a


def cascade_coefficients(
    formants: np.ndarray,
    bandwidths: np.ndarray,
    nasal_pole: np.ndarray,
    nasal_zero: np.ndarray,
    sample_rate: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-block direct-form coefficients of the resonator cascade.

    Args:
        formants: (NB, 5) oral formant frequencies, Hz.
        bandwidths: (NB, 5) oral bandwidths, Hz.
        nasal_pole: (NB,) nasal pole frequency, Hz.
        nasal_zero: (NB,) nasal zero frequency, Hz.
        sample_rate: Hz.

    Returns:
        b (NB, 3) and a (NB, 13) with a[:, 0] = 1; unity gain at DC.
    """
    nb = formants.shape[0]
    freq = np.column_stack([formants, nasal_pole, nasal_zero])  # (NB, 7): 6 poles, 1 zero
    bw = np.column_stack([bandwidths, np.full((nb, 2), NASAL_BW_HZ)])
    return _cascade(pm.exp(-np.pi * bw / sample_rate), pm.cos(2.0 * np.pi * freq / sample_rate))


def timevarying_lfilter(b: np.ndarray, a: np.ndarray, x: np.ndarray, block: int) -> np.ndarray:
    """Filter ``x`` with a different direct-form filter in every block.

    The output is the direct-form I recursion ``y[n] = Σ_i b_k[i] x[n−i] − Σ_i a_k[i] y[n−i]``
    with ``k = n // block`` the block of sample ``n``: every block starts from the true past
    inputs and outputs, so a coefficient change injects no transient (a transposed-form state,
    as ``scipy.signal.lfilter`` carries, would have to be rebuilt at every change). One compiled
    pass over the samples replaces a filter call per block.

    Args:
        b: (NB, M + 1) numerators per block, M ≤ N.
        a: (NB, N + 1) denominators per block, a[:, 0] = 1.
        x: (n,) input, n ≤ NB · block.
        block: samples per block.

    Returns:
        (n,) output.
    """
    nb, order = a.shape[0], a.shape[1] - 1
    if nb * block < len(x):
        raise ValueError(f"{nb} blocks of {block} samples cannot cover {len(x)} samples")
    if b.shape[1] > order + 1:
        raise ValueError(f"numerators of order {b.shape[1] - 1} exceed the denominators' {order}")
    b, a, x = (np.ascontiguousarray(v, dtype=np.float64) for v in (b, a, x))
    if b.shape[1] == 3 and order == 12:  # the tract's shape: 6 resonators and a zero
        return _cascade_blocks(b, a, x, block)
    return _direct_form_blocks(b, a, x, block)


@njit(cache=True)
def _direct_form_blocks(b: np.ndarray, a: np.ndarray, x: np.ndarray, block: int) -> np.ndarray:
    """Kernel of ``timevarying_lfilter`` for any order: b (NB, M + 1), a (NB, N + 1), x (n,)."""
    m, order, n = b.shape[1] - 1, a.shape[1] - 1, len(x)
    xp = np.zeros(n + m)  # xp[m + i] = x[i]; zeros stand for the samples before the start
    xp[m:] = x
    yp = np.zeros(n + order)  # yp[order + i] = y[i]
    for k in range((n + block - 1) // block):
        for i in range(k * block, min((k + 1) * block, n)):
            acc = 0.0
            for j in range(m + 1):
                acc += b[k, j] * xp[m + i - j]
            for j in range(order, 0, -1):  # y[i - 1] last: the only term that waits on y[i - 1]
                acc -= a[k, j] * yp[order + i - j]
            yp[order + i] = acc
    return yp[order:]


@njit(cache=True)
def _cascade_blocks(b: np.ndarray, a: np.ndarray, x: np.ndarray, block: int) -> np.ndarray:
    """``_direct_form_blocks`` unrolled for b (NB, 3) and a (NB, 13).

    The past inputs and outputs live in registers, and two partial sums keep all but the last
    two products off the sample-to-sample dependency chain: about 4× faster than the loops.
    """
    n = len(x)
    y = np.empty(n)
    x1 = x2 = 0.0
    y1 = y2 = y3 = y4 = y5 = y6 = y7 = y8 = y9 = y10 = y11 = y12 = 0.0
    for k in range((n + block - 1) // block):
        b0, b1, b2 = b[k, 0], b[k, 1], b[k, 2]
        a1, a2, a3, a4, a5, a6 = a[k, 1], a[k, 2], a[k, 3], a[k, 4], a[k, 5], a[k, 6]
        a7, a8, a9, a10, a11, a12 = a[k, 7], a[k, 8], a[k, 9], a[k, 10], a[k, 11], a[k, 12]
        for i in range(k * block, min((k + 1) * block, n)):
            x0 = x[i]
            even = a12 * y12 + a10 * y10 + a8 * y8 + a6 * y6 + a4 * y4
            odd = a11 * y11 + a9 * y9 + a7 * y7 + a5 * y5 + a3 * y3
            y0 = (b0 * x0 + b1 * x1 + b2 * x2) - (even + odd) - a2 * y2 - a1 * y1
            y[i] = y0
            x2, x1 = x1, x0
            y12, y11, y10, y9, y8, y7, y6 = y11, y10, y9, y8, y7, y6, y5
            y5, y4, y3, y2, y1 = y4, y3, y2, y1, y0
    return y


def tract_tracks(
    plan: SegmentPlan,
    vtl_cm: float,
    nasality: float,
    breathiness: float,
    sample_rate: int,
    block: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-block cascade coefficients of a speaker saying ``plan``.

    Formant targets scale by ``REF_VTL_CM / vtl_cm``; targets are smoothed over ±30 ms so they
    glide between segments.

    Args:
        plan: the utterance's segments.
        vtl_cm: vocal-tract length.
        nasality: 0..1.
        breathiness: 0..1 (widens F1: glottal losses).
        sample_rate: Hz.
        block: samples per block.

    Returns:
        b (NB, 3), a (NB, 13) for ``timevarying_lfilter``.
    """
    scale = REF_VTL_CM / vtl_cm
    seg = block_segments(plan, block)  # (NB,)
    formants = plan.formants[seg] * scale  # (NB, 5)
    bandwidths = BASE_BANDWIDTHS * plan.bw_scale[seg][:, None]
    bandwidths[:, 0] += 50.0 * nasality + 30.0 * breathiness
    pole = np.full(len(seg), NASAL_POLE_HZ * scale)
    murmur = plan.kind[seg] == NASAL
    zero = np.where(murmur, plan.nasal_zero[seg] * scale, pole * (1.0 + nasality))
    tracks = np.column_stack([formants, bandwidths, zero])
    tracks = pm.exp(smooth_blocks(pm.log(tracks), 4))  # glide (±30 ms) in log frequency
    formants = np.minimum(tracks[:, :5], 0.46 * sample_rate)  # below Nyquist
    return cascade_coefficients(formants, tracks[:, 5:10], pole, tracks[:, 10], sample_rate)
