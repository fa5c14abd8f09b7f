"""GE2E encoder and its front end: weights, network, and agreement with resemblyzer's own code.

Three levels of reference: (1) always, the front end's arithmetic against resemblyzer's numbers
(partial layout, filter normalisation, silence trimming); (2) with the ``resemblyzer`` wheel
installed (its weights), embeddings of synthetic voices against ``ge2e_reference.json``, which
resemblyzer 0.1.4 + librosa 0.11.0 produced; (3) when resemblyzer's own code is importable
(it needs librosa, not a project dependency), the real VoxCeleb1 clips end to end.
"""

from __future__ import annotations

import json
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from ge2e_voices import REFERENCE_CLIPS, voice, write_voice

from voice2mesh.audio.io import read_wav
from voice2mesh.encoders import ge2e, ge2e_audio
from voice2mesh.encoders.embeddings import embed_files, utterance_partials

REFERENCE = json.loads((Path(__file__).with_name("ge2e_reference.json")).read_text())
EMBED_TOL = 1e-5  # largest |difference| per component; measured ≤ 1.2e-7 on the ten clips
MEL_TOL = 1e-5  # relative to the largest mel value; measured ≤ 1.4e-7


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def encoder() -> ge2e.GE2EEncoder:
    try:
        return ge2e.load_ge2e()
    except ge2e.EncoderUnavailable as error:
        pytest.skip(f"GE2E weights not installed: {error}")


@pytest.fixture(scope="module")
def resemblyzer():
    """resemblyzer's own code, when importable; its DeprecationWarnings are not ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import resemblyzer
        except ImportError as error:
            pytest.skip(
                f"resemblyzer's code is not importable ({error}): it needs librosa, which this "
                "project does not install; put librosa on PYTHONPATH to run the cross-check"
            )
    return resemblyzer


def test_partial_layout_follows_resemblyzer() -> None:
    # 77-frame step (round(16000 / 1.3 / 160)); the last partial kept when >= 75 % covered.
    assert ge2e_audio.partial_slices(16000) == [slice(0, 160)]  # under one partial: kept
    assert ge2e_audio.partial_slices(48000) == [slice(0, 160), slice(77, 237), slice(154, 314)]
    # 3 s: the partial at frame 154 covers (48000 - 24640) / 25600 = 0.91 of itself -> kept;
    # 2.5 s: it covers (40000 - 24640) / 25600 = 0.60 -> dropped.
    assert ge2e_audio.partial_slices(40000)[-1] == slice(77, 237)
    wav = np.zeros(40000, np.float32)
    wav[::7] = 0.1
    assert ge2e_audio.partials(wav).shape == (2, 160, 40)


def test_mel_filters_are_slaney_normalised() -> None:
    filters = ge2e_audio.mel_filters()  # (40, 201) over rfft bins 40 Hz apart
    assert filters.shape == (40, 201) and (filters >= 0).all()
    # Slaney's scale: 3 mel per 200 Hz to 1 kHz (15 mel), then 27 mel per factor 6.4.
    step = (15 + 27 * np.log(8.0) / np.log(6.4)) / 41  # 0-8 kHz in 41 steps
    mels = step * np.arange(1, 41)
    centres = np.where(mels < 15, mels * 200 / 3, 1000 * np.exp((mels - 15) * np.log(6.4) / 27))
    hz = np.fft.rfftfreq(400, 1 / 16000)
    assert np.abs(hz[filters.argmax(axis=1)] - centres).max() <= 20.0  # the nearest bin
    # Area normalisation: height 2 / width, so each triangle integrates to 1 over Hz (filters
    # wide enough for the 40 Hz bins to sample them).
    np.testing.assert_allclose(filters[10:].sum(axis=1) * 40.0, 1.0, rtol=0.05)


def test_silence_longer_than_six_windows_is_trimmed() -> None:
    speech = voice(1.0, seed=1)
    gap = np.concatenate([speech, np.zeros(2 * 16000, np.int16), voice(1.0, seed=2)])
    trimmed = ge2e_audio.preprocess(gap)
    assert len(trimmed) % 480 == 0 and 2 * 16000 <= len(trimmed) < 2.5 * 16000
    short_gap = np.concatenate([speech, np.zeros(3 * 480, np.int16), speech])
    assert len(ge2e_audio.preprocess(short_gap)) == len(short_gap) // 480 * 480  # bridged


def test_volume_is_raised_to_minus_30_dbfs_never_lowered() -> None:
    quiet = np.full(1000, 0.001, np.float32)
    raised = ge2e_audio.normalize_volume(quiet)
    assert 20 * np.log10(np.sqrt(np.mean((raised * 32767) ** 2)) / 32767) == pytest.approx(-30)
    loud = np.full(1000, 0.5, np.float32)
    assert ge2e_audio.normalize_volume(loud) is loud


def test_network_shapes_norms_and_input_check() -> None:
    torch.manual_seed(0)
    net = ge2e.GE2EEncoder().eval()
    with torch.no_grad():
        out = net(torch.rand(3, 160, 40))
    assert out.shape == (3, 256) and (out >= 0).all()
    assert torch.allclose(out.norm(dim=1), torch.ones(3))
    with pytest.raises(ValueError, match=r"\(P, T, 40\)"):
        net(torch.rand(3, 40, 160))


def test_missing_package_names_it_and_the_pip_command(monkeypatch) -> None:
    def absent(name: str):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(ge2e.metadata, "distribution", absent)
    with pytest.raises(ge2e.EncoderUnavailable) as error:
        ge2e.load_ge2e()
    assert "'resemblyzer' is not installed" in str(error.value)
    assert "pip install --no-deps resemblyzer==0.1.4" in str(error.value)


def test_damaged_weights_are_refused(encoder, monkeypatch) -> None:
    monkeypatch.setattr(ge2e, "_sha256", lambda path: "0" * 64)
    with pytest.raises(ge2e.EncoderUnavailable, match="RECORD"):
        ge2e.weights_path()


def test_pretrained_weights_load(encoder) -> None:
    path, digest = ge2e.weights_path()
    assert path.name == "pretrained.pt" and encoder.key == f"ge2e-{digest[:16]}"
    assert not encoder.training
    assert encoder.lstm.weight_ih_l0.shape == (1024, 40)


@pytest.mark.parametrize("name", sorted(REFERENCE_CLIPS))
def test_synthetic_voice_matches_resemblyzer_reference(encoder, name, tmp_path) -> None:
    clip = REFERENCE["clips"][name]
    path = write_voice(tmp_path / f"{name}.wav", REFERENCE_CLIPS[name]())
    _, info = utterance_partials(path)
    assert round(info["speech_s"] * 16000) == clip["trimmed_samples"]
    got = embed_files([path], encoder).vectors[0]
    np.testing.assert_allclose(got, np.array(clip["embedding"]), rtol=0, atol=EMBED_TOL)


def test_real_clips_match_resemblyzer_end_to_end(encoder, resemblyzer, assets_dir) -> None:
    files = sorted((assets_dir / "voxceleb1").glob("*.wav"))
    assert len(files) == 10
    theirs = resemblyzer.VoiceEncoder("cpu", verbose=False)
    ours = embed_files(files, encoder)
    assert ours.paths == [str(f) for f in files] and not ours.rejects
    for f, vector in zip(files, ours.vectors, strict=True):
        wav = resemblyzer.preprocess_wav(f)
        np.testing.assert_array_equal(ge2e_audio.preprocess(read_wav(f)[0]), wav)
        mel = resemblyzer.wav_to_mel_spectrogram(wav)  # (F, 40)
        diff = np.abs(ge2e_audio.mel_spectrogram(wav) - mel).max() / mel.max()
        assert diff < MEL_TOL, f.name
        np.testing.assert_allclose(vector, theirs.embed_utterance(wav), rtol=0, atol=EMBED_TOL)


def test_stored_reference_is_what_resemblyzer_gives(resemblyzer, tmp_path) -> None:
    theirs = resemblyzer.VoiceEncoder("cpu", verbose=False)
    assert sorted(REFERENCE["clips"]) == sorted(REFERENCE_CLIPS)
    for name, clip in REFERENCE["clips"].items():
        wav = resemblyzer.preprocess_wav(
            write_voice(tmp_path / f"{name}.wav", REFERENCE_CLIPS[name]())
        )
        assert len(wav) == clip["trimmed_samples"]
        embedding = theirs.embed_utterance(wav)
        np.testing.assert_allclose(embedding, clip["embedding"], rtol=0, atol=1e-6)
