"""Tests for voice2mesh.synth.voice_traits: the three voice-face links and the coupling scale."""

import dataclasses

import numpy as np
import pytest

from voice2mesh.synth.spec import MAX_VOICE_COUPLING
from voice2mesh.synth.voice_traits import (
    ANATOMY_KEYS,
    COUPLED_TRAITS,
    IDENTITY_TRAITS,
    anatomy_correlation,
    link_r,
    trait_drivers,
    voice_identity,
)

# The widths ARE scores (as ratios to the OICD) and the chin: no voice trait may read them.
EVALUATION_RATIOS = {"face_width", "jaw_width", "cheek", "chin"}


def population(n: int, seed: int = 0) -> tuple[list[dict[str, float]], list[str]]:
    """n random speakers with independent standard-normal anatomy z-scores."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(ANATOMY_KEYS)))
    genders = rng.choice(["male", "female"], n).tolist()
    return [dict(zip(ANATOMY_KEYS, row, strict=True)) for row in z], genders


def identities(anatomy, genders, coupling, seed=1):
    rng = np.random.default_rng(seed)
    return [voice_identity(a, g, coupling, rng) for a, g in zip(anatomy, genders, strict=True)]


def test_three_links_read_the_anatomy_that_produces_them_and_no_evaluation_ratio():
    assert {t: dict(link.weights) for t, link in COUPLED_TRAITS.items()} == {
        "vtl_cm": {"face_length": 0.8, "face_size": 0.6},
        "f0_hz": {"face_size": 1.0},
        "nasality": {"nose_size": 1.0},
    }
    for trait, link in COUPLED_TRAITS.items():
        assert not EVALUATION_RATIOS & set(link.weights), trait
        assert link.rho_range[0] <= link.rho <= link.rho_range[1], trait
        assert link.source, trait
    assert {t: link.rho for t, link in COUPLED_TRAITS.items()} == {
        "vtl_cm": 0.30,
        "f0_hz": -0.12,
        "nasality": 0.20,
    }
    assert COUPLED_TRAITS["vtl_cm"].driver == "0.8 face_length + 0.6 face_size"
    assert not set(COUPLED_TRAITS) & set(IDENTITY_TRAITS)
    assert {"spectral_tilt_db", "breathiness", "f0_range"} <= set(IDENTITY_TRAITS)


def test_coupling_scales_every_literature_r_and_clamps_at_one():
    weakest = min(abs(link.rho) for link in COUPLED_TRAITS.values())
    assert 1.0 / weakest == MAX_VOICE_COUPLING  # f0_hz, the weakest link, reaches r = 1
    assert link_r(0.30, 0.0) == 0.0 and link_r(-0.12, 0.0) == 0.0
    assert link_r(0.30, 1.0) == pytest.approx(0.30)
    assert link_r(-0.12, 2.0) == pytest.approx(-0.24)
    assert link_r(0.30, 4.0) == 1.0  # 1.2 clamps
    for link in COUPLED_TRAITS.values():
        assert abs(link_r(link.rho, MAX_VOICE_COUPLING)) == pytest.approx(1.0)


@pytest.mark.parametrize("coupling", [0.0, 0.5, 1.0, 4.0, MAX_VOICE_COUPLING])
def test_trait_z_correlates_with_its_driver_at_the_scaled_literature_r(coupling):
    anatomy, genders = population(2000)  # sd of r ≤ 0.023
    ids = identities(anatomy, genders, coupling)
    for trait, link in COUPLED_TRAITS.items():
        z = np.array([v.trait_z[trait] for v in ids])
        a = np.array([trait_drivers(x)[trait] for x in anatomy])
        r = np.corrcoef(z, a)[0, 1]
        assert abs(r - link_r(link.rho, coupling)) < 0.08, (trait, r)
        assert 0.9 < z.std() < 1.1, (trait, z.std())  # same spread at every coupling


def test_identity_traits_do_not_follow_the_face_even_at_full_coupling():
    anatomy, genders = population(2000)
    ids = identities(anatomy, genders, MAX_VOICE_COUPLING)
    male = np.array(genders) == "male"
    for trait in IDENTITY_TRAITS:
        value = np.array([getattr(v, trait) for v in ids])[male]
        for key in ANATOMY_KEYS:
            r = np.corrcoef(value, np.array([x[key] for x in anatomy])[male])[0, 1]
            assert abs(r) < 0.12, (trait, key, r)  # sd of r ≈ 0.03


def test_generator_is_consumed_identically_at_every_coupling():
    anatomy, _ = population(1, seed=3)
    couplings = [0.0, 0.5, 1.0, 4.0, MAX_VOICE_COUPLING]
    rngs = [np.random.default_rng(7) for _ in couplings]
    voices = [
        voice_identity(anatomy[0], "female", c, r) for c, r in zip(couplings, rngs, strict=True)
    ]
    after = {r.bit_generator.state["state"]["state"] for r in rngs}
    assert len(after) == 1  # every coupling left the generator in the same state
    noise = voices[0].trait_z  # c = 0: z_t = e_t
    drivers = trait_drivers(anatomy[0])
    for c, v in zip(couplings, voices, strict=True):
        for t, link in COUPLED_TRAITS.items():
            r = link_r(link.rho, c)
            assert v.trait_z[t] == pytest.approx(r * drivers[t] + np.sqrt(1 - r * r) * noise[t])
        for t in IDENTITY_TRAITS:
            assert getattr(v, t) == getattr(voices[0], t)


@pytest.mark.parametrize("coupling", [0.0, MAX_VOICE_COUPLING])
def test_gender_shifts_f0_and_vtl_at_every_coupling(coupling):
    anatomy, genders = population(400)
    ids = identities(anatomy, genders, coupling)
    g = np.array(genders)
    f0 = np.array([i.f0_hz for i in ids])
    vtl = np.array([i.vtl_cm for i in ids])
    assert np.exp(np.log(f0[g == "male"]).mean()) == pytest.approx(115.0, rel=0.05)
    assert np.exp(np.log(f0[g == "female"]).mean()) == pytest.approx(210.0, rel=0.05)
    assert vtl[g == "male"].mean() == pytest.approx(17.0, rel=0.03)
    assert vtl[g == "female"].mean() == pytest.approx(14.5, rel=0.03)
    assert f0.min() > 60.0 and f0.max() < 400.0
    assert vtl.min() > 11.0 and vtl.max() < 21.0


def test_anatomy_correlation_standardises_correlated_drivers():
    rng = np.random.default_rng(0)
    n = 2000
    z = {k: rng.standard_normal(n) for k in ANATOMY_KEYS}
    size = z["face_length"] + z["nose_size"] + 0.5 * z["face_size"]  # face_size is a mixture
    z["face_size"] = (size - size.mean()) / size.std()
    rows = [{k: z[k][i] for k in ANATOMY_KEYS} for i in range(n)]
    naive = np.array([trait_drivers(r)["vtl_cm"] for r in rows])
    corr = anatomy_correlation(z)
    exact = np.array([trait_drivers(r, corr)["vtl_cm"] for r in rows])
    assert naive.std() > 1.2  # correlated face_length and face_size inflate the variance
    assert exact.std() == pytest.approx(1.0, abs=0.05)


def test_identity_is_a_flat_record_of_plain_values():
    anatomy, _ = population(1)
    v = voice_identity(anatomy[0], "male", 0.7, np.random.default_rng(0))
    rec = dataclasses.asdict(v)
    assert rec["gender"] == "male"
    assert all(isinstance(val, float) for key, val in rec.items() if key != "gender")
    assert {k for k in rec if k.startswith("z_")} == {f"z_{t}" for t in COUPLED_TRAITS}
    assert set(rec) - {"gender"} - {k for k in rec if k.startswith("z_")} == {
        *COUPLED_TRAITS,
        *IDENTITY_TRAITS,
    }
    assert v.trait_z == {t: rec[f"z_{t}"] for t in COUPLED_TRAITS}
    assert 0.0 <= v.nasality <= 1.0 and 0.0 <= v.breathiness <= 1.0
    assert v.spectral_tilt_db < 0 and 0 < v.jitter < 0.05 and 0 < v.shimmer < 0.2
    assert 3.0 <= v.speaking_rate <= 6.5


def test_bad_inputs_are_rejected_with_the_reason():
    anatomy, _ = population(1)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="gender"):
        voice_identity(anatomy[0], "m", 0.5, rng)
    for coupling in (-0.1, MAX_VOICE_COUPLING + 0.01):
        with pytest.raises(ValueError, match=r"\[0, 8\.333\]"):
            voice_identity(anatomy[0], "male", coupling, rng)
    partial = {k: v for k, v in anatomy[0].items() if k != "nose_size"}
    with pytest.raises(KeyError, match="nose_size"):
        voice_identity(partial, "male", 0.5, rng)
    with pytest.raises(ValueError, match="anatomy_corr"):
        trait_drivers(anatomy[0], np.eye(3))
