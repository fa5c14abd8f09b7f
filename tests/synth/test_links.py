"""The reported voice-face links (voice2mesh.synth.links) and the coupling's schema range."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from voice2mesh.config import ConfigError, params_from_dict
from voice2mesh.synth.links import trait_correlations, voice_face_links
from voice2mesh.synth.spec import MAX_VOICE_COUPLING, Identity, SynthParams
from voice2mesh.synth.voice_traits import (
    ANATOMY_KEYS,
    COUPLED_TRAITS,
    anatomy_correlation,
    voice_identity,
)

N = 4000  # sd of a measured r ≈ (1 - r²) / sqrt(N) ≤ 0.016


def draw(coupling: float, n: int = N, seed: int = 0) -> tuple[dict, np.ndarray, dict]:
    """Anatomy z-scores with the size measures correlated as in real faces, and the voices."""
    rng = np.random.default_rng(seed)
    z = {k: rng.standard_normal(n) for k in ANATOMY_KEYS}
    size = 0.6 * z["face_length"] + 0.8 * z["face_size"]
    z["face_size"] = (size - size.mean()) / size.std()
    genders = rng.choice(["male", "female"], n)
    corr = anatomy_correlation(z)  # as the world does: each driver a_t gets unit variance
    voice_rng = np.random.default_rng(seed + 1)
    voices = [
        voice_identity(
            {k: z[k][i] for k in ANATOMY_KEYS}, str(genders[i]), coupling, voice_rng, corr
        )
        for i in range(n)
    ]
    traits = {t: np.array([getattr(v, t) for v in voices]) for t in COUPLED_TRAITS}
    return z, genders, traits


def measured(coupling: float) -> dict[str, float]:
    links = trait_correlations(*draw(coupling), coupling)
    return {t: links[t]["measured_r"] for t in COUPLED_TRAITS}


def test_no_coupling_leaves_no_correlation():
    for trait, r in measured(0.0).items():
        assert abs(r) < 0.06, (trait, r)


def test_literature_coupling_gives_the_literature_r_within_sampling_error():
    for trait, r in measured(1.0).items():
        assert r == pytest.approx(COUPLED_TRAITS[trait].rho, abs=0.05), trait


def test_large_couplings_clamp_each_link_at_one():
    at4, full = measured(4.0), measured(MAX_VOICE_COUPLING)
    assert at4["vtl_cm"] > 0.99  # 4 · 0.30 clamps to 1
    assert at4["f0_hz"] == pytest.approx(-0.48, abs=0.05)
    assert at4["nasality"] == pytest.approx(0.80, abs=0.05)
    assert full["vtl_cm"] > 0.99 and full["f0_hz"] < -0.99
    assert full["nasality"] > 0.97  # nasality clips at 0 for about 2 % of the men


def test_report_names_driver_target_and_source():
    links = trait_correlations(*draw(2.0, n=50), 2.0)
    assert set(links) == set(COUPLED_TRAITS)
    vtl = links["vtl_cm"]
    assert vtl["driver"] == "0.8 face_length + 0.6 face_size"
    assert (vtl["literature_r"], vtl["literature_range"], vtl["target_r"]) == (0.3, [0.2, 0.4], 0.6)
    assert links["f0_hz"]["target_r"] == -0.24 and links["f0_hz"]["driver"] == "1.0 face_size"
    assert "Pisanski" in vtl["source"] and "Stevens" in links["nasality"]["source"]
    assert all(-1.0 <= link["measured_r"] <= 1.0 for link in links.values())
    z, genders, traits = draw(1.0, n=2)
    assert trait_correlations(z, genders, traits, 1.0)["vtl_cm"]["measured_r"] is None


def test_world_links_use_only_identities_with_a_voice():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((300, len(ANATOMY_KEYS)))
    idents, results = [], []
    for i in range(300):
        anatomy = dict(zip(ANATOMY_KEYS, z[i], strict=True))
        gender = "male" if i % 2 else "female"
        idents.append(Identity(i, f"N{i}", gender, "X", None, True, np.zeros(1), anatomy))
        voice = voice_identity(anatomy, gender, MAX_VOICE_COUPLING, rng)
        results.append({"index": i, "voice": None if i % 3 == 0 else asdict(voice)})
    links = voice_face_links(idents, results, MAX_VOICE_COUPLING)
    assert links["vtl_cm"]["measured_r"] > 0.99 and links["f0_hz"]["measured_r"] < -0.99
    results[1]["voice"]["vtl_cm"] = 1e3  # a voiced identity counts
    assert voice_face_links(idents, results, MAX_VOICE_COUPLING)["vtl_cm"]["measured_r"] < 0.99


def test_schema_allows_zero_to_max_coupling_only():
    assert SynthParams().voice_coupling == 1.0
    assert SynthParams(voice_coupling=0.0).voice_coupling == 0.0
    assert SynthParams(voice_coupling=MAX_VOICE_COUPLING).voice_coupling == MAX_VOICE_COUPLING
    for bad in (-0.1, MAX_VOICE_COUPLING + 0.01):
        with pytest.raises(ValueError, match="voice_coupling"):
            SynthParams(voice_coupling=bad)
        with pytest.raises(ConfigError, match=r"p\.yaml: synth\.voice_coupling .*<= 8\.33"):
            params_from_dict({"synth": {"voice_coupling": bad}}, "p.yaml")
