"""Source–filter speech synthesis of one utterance by one synthetic speaker.

Signal chain (Fant 1960's source–filter model, Klatt 1980's cascade synthesizer in spirit):

1. content (``phones.plan_utterance``): random phrases of (C)(C)V(C) syllables at the speaker's
   rate, separated by 0.15–0.6 s pauses; an F0 contour over it (``prosody.f0_contour``);
2. source (``glottal``): Rosenberg pulses on a jittered epoch train, shimmer, spectral tilt and
   flow-modulated aspiration, gated by a smoothed voicing envelope; plus aspiration noise for
   /h/ and stop release;
3. filter (``tract``): a time-varying cascade of F1–F5 and a nasal pole-zero pair, targets
   scaled by 17.5 cm / vtl and updated every 10 ms;
4. radiation: first difference; frication (band-passed noise bursts and fricatives, bands also
   scaled by the tract) is added after it, level relative to the vowels' RMS;
5. channel (``channel.record``): random EQ, background noise at a random SNR, random peak level,
   int16.

Each utterance draws three sub-seeds from ``rng`` (content, source, channel), so two speakers
given equal seeds say the same thing with the same prosody and channel: only their voices differ.
Transcendental functions and normal draws come from ``voice2mesh.portable`` (the same bits on
every CPU).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from voice2mesh import portable as pm
from voice2mesh.synth.channel import record
from voice2mesh.synth.glottal import glottal_source
from voice2mesh.synth.phones import (
    BURST,
    FRICATION_BANDS,
    PAUSE,
    REF_VTL_CM,
    VOWEL,
    SegmentPlan,
    plan_utterance,
)
from voice2mesh.synth.prosody import f0_contour, sample_envelope, upsample_blocks
from voice2mesh.synth.tract import timevarying_lfilter, tract_tracks
from voice2mesh.synth.voice_traits import VoiceIdentity

BLOCK_S = 0.01  # control update interval: formants, bandwidths and F0 targets
_RAMP_S = 0.005  # box length of the amplitude-envelope smoothing (two passes: ~10 ms ramps)
_STRESS_GAIN = 1.3
_WARMUP = 64  # frication filter warm-up samples, discarded
# Coefficients (in z⁻¹) of (1 − z⁻¹)^k (1 + z⁻¹)^(4 − k), k = 0..4: s^k · (1 + z⁻¹)^4 under the
# bilinear map s = (1 − z⁻¹) / (1 + z⁻¹).
_BILINEAR = np.array(
    [[1, 4, 6, 4, 1], [1, 2, 0, -2, -1], [1, 0, -2, 0, 1], [1, -2, 0, 2, -1], [1, -4, 6, -4, 1]],
    np.float64,
)


def synthesize_utterance(
    identity: VoiceIdentity,
    rng: np.random.Generator,
    duration_s: float,
    sample_rate: int = 16000,
    *,
    snr_db_range: tuple[float, float] = (15.0, 40.0),
    peak_dbfs_range: tuple[float, float] = (-10.0, -1.0),
) -> tuple[np.ndarray, dict[str, float]]:
    """Synthesize one utterance with new random content.

    Args:
        identity: the speaker's voice.
        rng: the utterance's generator; the same seed gives byte-identical output.
        duration_s: length in seconds (the output has ``round(duration_s * sample_rate)``
            samples).
        sample_rate: Hz (≥ 8000).
        snr_db_range: uniform range of the background-noise SNR; ``(inf, inf)`` for none.
        peak_dbfs_range: uniform range of the peak level in dBFS (both < 0: never clips).

    Returns:
        samples: (n,) int16 mono audio.
        info: plain floats for the truth files: ``duration_s``, the three sub-seeds, the
            realised F0 (``f0_mean_hz``, ``f0_median_hz``, ``f0_sd_semitones`` over voiced
            samples), ``n_phrases``, ``n_syllables``, ``speech_fraction``,
            ``articulation_rate`` (syllables per second of non-pause time) and the channel's
            parameters (``snr_db``, ``noise_type``, ``peak_dbfs``, EQ corners and gains).
    """
    if not duration_s > 0.0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}")
    if max(peak_dbfs_range) >= 0.0:
        raise ValueError(f"peak_dbfs_range must stay below 0 dBFS, got {peak_dbfs_range}")
    seeds = rng.integers(0, 2**31, size=3)  # content, source, channel
    content_rng, source_rng, channel_rng = (np.random.default_rng(int(s)) for s in seeds)
    block = round(BLOCK_S * sample_rate)

    plan = plan_utterance(content_rng, duration_s, identity.speaking_rate, sample_rate)
    f0_blocks = f0_contour(
        plan, identity.f0_hz, identity.f0_range, content_rng, sample_rate, block
    )  # (NB,)
    n = plan.n_samples
    f0 = upsample_blocks(f0_blocks, block, n)  # (n,)

    noise = pm.standard_normal(source_rng, n)
    voiced = glottal_source(
        f0,
        identity.breathiness,
        identity.spectral_tilt_db,
        identity.jitter,
        identity.shimmer,
        noise,
        source_rng,
        sample_rate,
    )
    ramp = max(1, round(_RAMP_S * sample_rate))
    gain = plan.voicing * np.where(plan.stress > 0, _STRESS_GAIN, 1.0)
    voicing = sample_envelope(plan, gain, ramp)
    aspiration = sample_envelope(plan, plan.aspiration, ramp)
    excitation = voiced  # (n,) in place: voicing · voiced + aspiration · noise
    excitation *= voicing
    excitation += aspiration * noise

    b, a = tract_tracks(
        plan, identity.vtl_cm, identity.nasality, identity.breathiness, sample_rate, block
    )
    tract_out = timevarying_lfilter(b, a, excitation, block)
    radiated = np.empty(n)  # first difference, starting from silence
    radiated[0] = tract_out[0]
    np.subtract(tract_out[1:], tract_out[:-1], out=radiated[1:])
    vowel = plan.kind == VOWEL
    ref = (
        np.sqrt(_mean_power(radiated, plan.start[vowel], plan.length[vowel]))
        if vowel.any()
        else 1.0
    )
    scale = REF_VTL_CM / identity.vtl_cm
    speech = frication(plan, scale, source_rng, sample_rate)
    speech *= ref
    speech += radiated

    active = np.repeat(plan.kind != PAUSE, plan.length)
    n_active = int(plan.length[plan.kind != PAUSE].sum())  # = active.sum()
    samples, channel = record(
        speech, active, channel_rng, sample_rate, snr_db_range, peak_dbfs_range
    )
    voiced_f0 = f0[voicing > 0.5]
    if not voiced_f0.size:
        voiced_f0 = f0
    log_f0 = pm.log2(voiced_f0)
    n_syllables = int(np.sum(plan.kind == VOWEL))
    info = {
        "duration_s": n / sample_rate,
        "content_seed": float(seeds[0]),
        "source_seed": float(seeds[1]),
        "channel_seed": float(seeds[2]),
        "f0_mean_hz": float(np.mean(voiced_f0)),
        "f0_median_hz": float(pm.exp2(np.median(log_f0))),
        "f0_sd_semitones": float(12.0 * np.std(log_f0)),
        "n_phrases": float(len(np.unique(plan.phrase[plan.phrase >= 0]))),
        "n_syllables": float(n_syllables),
        "speech_fraction": n_active / n,
        "articulation_rate": float(n_syllables / max(n_active / sample_rate, 1e-9)),
        **channel,
    }
    return samples, info


def frication(
    plan: SegmentPlan, scale: float, rng: np.random.Generator, sample_rate: int
) -> np.ndarray:
    """Post-radiation noise of fricatives and stop bursts.

    Args:
        plan: the utterance's segments.
        scale: ``REF_VTL_CM / vtl_cm``; noise bands move with the tract like formants.
        rng: the source generator.
        sample_rate: Hz.

    Returns:
        (n,) noise, unit RMS within each segment before its envelope and ``plan.frication``
        amplitude: bursts rise in 0.5 ms and decay with a 4 ms time constant, fricatives ramp
        over 15 ms at both ends.
    """
    out = np.zeros(plan.n_samples)
    segments = np.flatnonzero(plan.frication > 0)  # (F,)
    if not segments.size:
        return out
    bands = list(FRICATION_BANDS.values())
    filters = np.zeros((len(segments), 2, 5))  # (F, b | a, 5): order-4 band-passes
    for row, i in enumerate(segments):
        lo, hi = bands[plan.band[i]]
        filters[row] = _band_filter(round(lo * scale), round(hi * scale), sample_rate)
    length = plan.length[segments]
    noise = pm.standard_normal(rng, int(np.sum(length + _WARMUP)))  # the segments', in order
    decay = pm.exp(-(np.arange(length.max()) / sample_rate) / 0.004)  # bursts' 4 ms decay
    _fricate(
        decay,
        out,
        noise,
        plan.start[segments],
        length,
        plan.kind[segments] == BURST,
        plan.frication[segments],
        filters,
        sample_rate,
    )
    return out


@njit(cache=True)
def _fricate(
    decay: np.ndarray,
    out: np.ndarray,
    noise: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    burst: np.ndarray,
    amplitude: np.ndarray,
    filters: np.ndarray,
    sample_rate: int,
) -> None:
    """Kernel of ``frication``: filter, normalise and shape each segment's noise into ``out``.

    ``noise`` holds every segment's draws in turn, ``length[f] + _WARMUP`` each (the warm-up
    is discarded); ``out`` is (n,), ``decay`` (max length,) e^(−t / 4 ms) at every sample, the
    other arrays are (F,) or (F, 2, 5) for ``filters``.
    """
    piece = np.empty(length.max() + _WARMUP)
    offset = 0
    for f in range(len(start)):
        b, a, m = filters[f, 0], filters[f, 1], length[f]
        x = noise[offset : offset + m + _WARMUP]
        offset += m + _WARMUP
        for i in range(m + _WARMUP):  # direct form I
            acc = b[0] * x[i]
            for j in range(1, 5):
                if i >= j:
                    acc += b[j] * x[i - j] - a[j] * piece[i - j]
            piece[i] = acc
        power = 0.0
        for i in range(_WARMUP, m + _WARMUP):
            power += piece[i] * piece[i]
        gain = amplitude[f] / (np.sqrt(power / m) + 1e-12)
        end = (m - 1) / sample_rate
        for i in range(m):
            t = i / sample_rate
            # bursts: 0.5 ms rise, 4 ms decay; fricatives: 15 ms ramps at both ends
            ramp = min(1.0, min(t, end - t) / 0.015)
            env = decay[i] * min(1.0, t / 0.0005) if burst[f] else ramp
            out[start[f] + i] = gain * env * piece[_WARMUP + i]


@njit(cache=True)
def _mean_power(x: np.ndarray, start: np.ndarray, length: np.ndarray) -> float:
    """Mean of x² over the segments ``x[start[i] : start[i] + length[i]]`` (both (K,))."""
    total = 0.0
    for i in range(len(start)):
        for j in range(start[i], start[i] + length[i]):
            total += x[j] * x[j]
    return total / length.sum()


@lru_cache(maxsize=256)
def _band_filter(lo_hz: int, hi_hz: int, sample_rate: int) -> np.ndarray:
    """Second-order Butterworth band-pass (order 4), edges below Nyquist: (2, 5) b over a.

    ``scipy.signal.butter(2, [lo, hi], "bandpass", fs=sample_rate)`` in closed form (equal to
    1e-14): the analog band-pass ``bw² s² / (s⁴ + √2 bw s³ + (2 w² + bw²) s² + √2 bw w² s + w⁴)``
    with pre-warped edges ``tan(π f / fs)`` (``bw`` their difference, ``w²`` their product)
    through the bilinear transform. ``butter`` goes through numpy's complex products and
    SIMD ``tan``, whose last bits differ between CPUs; this uses portable functions and sums
    in a fixed order.
    """
    hi = min(hi_hz, 0.46 * sample_rate)
    lo = min(lo_hz, 0.5 * hi)
    angle = np.pi * np.array([lo, hi]) / sample_rate
    t_lo, t_hi = pm.sin(angle) / pm.cos(angle)
    bw, w2 = t_hi - t_lo, t_lo * t_hi
    root2 = np.sqrt(2.0)
    a = (
        _BILINEAR[4]
        + root2 * bw * _BILINEAR[3]
        + (2.0 * w2 + bw * bw) * _BILINEAR[2]
        + root2 * bw * w2 * _BILINEAR[1]
        + w2 * w2 * _BILINEAR[0]
    )
    return np.stack([bw * bw * _BILINEAR[2], a]) / a[0]
