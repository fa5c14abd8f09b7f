"""Resemblyzer 0.1.4's front end, reimplemented without librosa: wav -> 160-frame mel partials.

What ``resemblyzer.preprocess_wav`` and ``VoiceEncoder.embed_utterance`` do (``audio.py``,
``hparams.py``, ``voice_encoder.py``), with librosa 0.11's ``melspectrogram`` written out:

1. Samples as floats ``int16 / 32768`` (what ``librosa.load`` gives for 16-bit PCM) at 16 kHz.
2. Volume: raised (never lowered) to an RMS of -30 dBFS, full scale being 32767.
3. Long silences trimmed: the tail cut to a multiple of 30 ms; ``webrtcvad`` mode 3 on each
   30 ms window; the 0/1 decisions smoothed by an 8-wide moving average and rounded; voiced
   runs dilated by 7 windows (bridging up to 6 silent windows); only voiced windows kept.
4. Partials: 160 frames (1.6 s) every ``round(16000 / 1.3 / 160)`` = 77 frames (1.3 partials
   per second, ~52 % overlap); a last partial less than 75 % covered by audio is dropped
   unless it is the only one; the wave is zero-padded to the last partial's end.
5. Mel power spectrogram of the padded wave (not a log): 400-sample (25 ms) periodic Hann
   window, n_fft 400, hop 160 (10 ms), centred frames with 200 zeros padded on both sides,
   |rfft|^2, times 40 Slaney-style mel filters 0-8 kHz with Slaney area normalisation.

Deviations, both outside 16-bit 16 kHz input: another rate is converted by ``read_wav``'s
``resample_poly`` (librosa uses soxr), and a sample pushed past full scale by the volume gain
is saturated before the VAD (resemblyzer's ``astype(np.int16)`` wraps it around).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import webrtcvad
from scipy.ndimage import binary_dilation

# Names this front end's definition in embedding caches: change it whenever its output changes.
FRONT_END = "resemblyzer-0.1.4-frontend-1"
SAMPLE_RATE = 16000
N_MELS = 40  # mel_n_channels
N_FFT = 400  # mel_window_length 25 ms
HOP = 160  # mel_window_step 10 ms
PARTIAL_FRAMES = 160  # partials_n_frames (1.6 s)
PARTIALS_PER_S = 1.3  # embed_utterance's default rate
MIN_COVERAGE = 0.75  # embed_utterance's default min_coverage
TARGET_DBFS = -30.0  # audio_norm_target_dBFS
VAD_WINDOW = 480  # vad_window_length 30 ms, in samples
VAD_MODE = 3  # webrtcvad aggressiveness
VAD_AVERAGE = 8  # vad_moving_average_width
VAD_MAX_SILENCE = 6  # vad_max_silence_length (windows)
INT16_MAX = 32767  # resemblyzer's full scale for dBFS and the VAD's PCM


def normalize_volume(wav: np.ndarray) -> np.ndarray:
    """(n,) float32 wave raised to ``TARGET_DBFS`` RMS when quieter (never lowered)."""
    rms = np.sqrt(np.mean((wav * np.float32(INT16_MAX)) ** 2))
    change = TARGET_DBFS - 20 * np.log10(rms / INT16_MAX)
    if change < 0:
        return wav
    return (wav * np.float32(10 ** (change / 20))).astype(np.float32)


def _moving_average(flags: np.ndarray, width: int) -> np.ndarray:
    """resemblyzer's centred moving average: zero padding, (width-1)//2 before, width//2 after."""
    padded = np.concatenate((np.zeros((width - 1) // 2), flags, np.zeros(width // 2)))
    total = np.cumsum(padded, dtype=float)
    total[width:] = total[width:] - total[:-width]
    return total[width - 1 :] / width


def trim_long_silences(wav: np.ndarray) -> np.ndarray:
    """(n,) float32 wave -> the voiced part, silences longer than 6 windows removed (step 3)."""
    wav = wav[: len(wav) - len(wav) % VAD_WINDOW]
    pcm = np.clip(np.round(wav * INT16_MAX), -32768, INT16_MAX).astype("<i2").tobytes()
    vad = webrtcvad.Vad(VAD_MODE)  # stateful: one detector per utterance, windows in order
    step = 2 * VAD_WINDOW  # bytes per window
    flags = np.array(
        [vad.is_speech(pcm[i : i + step], SAMPLE_RATE) for i in range(0, len(pcm), step)],
        dtype=float,
    )
    if len(flags) == 0:
        return wav
    voiced = np.round(_moving_average(flags, VAD_AVERAGE)).astype(bool)
    voiced = binary_dilation(voiced, np.ones(VAD_MAX_SILENCE + 1))
    return wav[np.repeat(voiced, VAD_WINDOW)]


def preprocess(samples: np.ndarray) -> np.ndarray:
    """(n,) int16 samples at 16 kHz -> (m,) float32 wave after volume and silence trimming."""
    wav = samples.astype(np.float32) / np.float32(32768)
    return trim_long_silences(normalize_volume(wav))


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa ``htk=False``): linear to 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=float)
    linear = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear = mel * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log, linear)


@cache
def mel_filters() -> np.ndarray:
    """(40, 201) float32 triangular filters over the rfft bins, each of area-normalised height
    ``2 / (upper - lower edge in Hz)`` (librosa 0.11 ``filters.mel``, ``norm="slaney"``)."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    bins = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)  # (201,)
    ramps = edges[:, None] - bins[None, :]  # (42, 201)
    widths = np.diff(edges)  # (41,)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))  # (40, 201)
    filters *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    filters = filters.astype(np.float32)
    filters.setflags(write=False)
    return filters


def mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """(n,) float wave -> (1 + n // 160, 40) float32 mel power spectrogram (step 5)."""
    padded = np.pad(wav.astype(np.float32), N_FFT // 2)
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    starts = np.arange(n_frames)[:, None] * HOP
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann
    frames = padded[starts + np.arange(N_FFT)[None, :]] * window  # (F, 400)
    power = np.abs(np.fft.rfft(frames, axis=1)).astype(np.float32) ** 2  # (F, 201)
    return (power @ mel_filters().T).astype(np.float32)


def partial_slices(n_samples: int) -> list[slice]:
    """Mel-frame ranges of the 160-frame partials of an ``n_samples`` wave (step 4)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round(SAMPLE_RATE / PARTIALS_PER_S / HOP))  # 77 frames
    starts = range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)
    slices = [slice(s, s + PARTIAL_FRAMES) for s in starts]
    last = slices[-1]
    coverage = (n_samples - last.start * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices.pop()
    return slices


def partials(wav: np.ndarray) -> np.ndarray:
    """(n,) preprocessed float32 wave -> (P, 160, 40) float32 mel partials, P >= 1."""
    slices = partial_slices(len(wav))
    end = slices[-1].stop * HOP
    padded = np.pad(wav, (0, max(0, end - len(wav))))
    mel = mel_spectrogram(padded)  # (end / 160 + 1, 40) at least
    return np.stack([mel[s] for s in slices])
