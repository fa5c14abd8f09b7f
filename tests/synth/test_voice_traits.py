"""Tests for voice2mesh.synth.voice_traits: the anatomy → voice mapping and its coupling knob."""

import dataclasses

import numpy as np
import pytest

from voice2mesh.synth.voice_traits import (
    ANATOMY_KEYS,
    COUPLED_TRAITS,
    anatomy_correlation,
    trait_drivers,
    voice_identity,
)


def population(n: int, seed: int = 0) -> tuple[list[dict[str, float]], list[str]]:
    """n random speakers with independent standard-normal anatomy z-scores."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(ANATOMY_KEYS)))
    genders = rng.choice(["male", "female"], n).tolist()
    return [dict(zip(ANATOMY_KEYS, row, strict=True)) for row in z], genders


def identities(anatomy, genders, coupling, seed=1):
    rng = np.random.default_rng(seed)
    return [voice_identity(a, g, coupling, rng) for a, g in zip(anatomy, genders, strict=True)]


@pytest.mark.parametrize("coupling", [0.0, 0.25, 0.5, 1.0])
def test_trait_z_correlates_with_its_driver_as_sqrt_coupling(coupling):
    anatomy, genders = population(1000)  # sd of r ≈ 0.03
    ids = identities(anatomy, genders, coupling)
    for trait in COUPLED_TRAITS:
        z = np.array([v.trait_z[trait] for v in ids])
        a = np.array([trait_drivers(x)[trait] for x in anatomy])
        r = np.corrcoef(z, a)[0, 1]
        assert abs(r - np.sqrt(coupling)) < 0.1, (trait, r)
        assert 0.8 < z.std() < 1.2, (trait, z.std())  # same spread at every coupling
    if coupling == 0.0:
        z = np.array([v.trait_z["vtl_cm"] for v in ids])
        assert abs(np.corrcoef(z, [x["face_length"] for x in anatomy])[0, 1]) < 0.2


def test_full_coupling_makes_traits_follow_the_face_with_documented_signs():
    anatomy, genders = population(300)
    ids = identities(anatomy, genders, 1.0)
    male = np.array(genders) == "male"

    def r(trait, key, log=False):
        v = np.array([getattr(i, trait) for i in ids])[male]
        v = np.log(v) if log else v
        return np.corrcoef(v, np.array([x[key] for x in anatomy])[male])[0, 1]

    assert r("vtl_cm", "face_length", log=True) > 0.7  # longer face ↔ longer tract
    assert r("vtl_cm", "face_size", log=True) > 0.5
    assert r("f0_hz", "face_size", log=True) < -0.7  # bigger face ↔ lower voice
    assert r("f0_hz", "face_width", log=True) < -0.5
    assert r("nasality", "nose_size") > 0.9
    assert r("spectral_tilt_db", "jaw_width") > 0.9  # wider jaw ↔ flatter spectrum
    assert r("breathiness", "chin") < -0.9
    assert r("f0_range", "cheek") > 0.9


@pytest.mark.parametrize("coupling", [0.0, 1.0])
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


def test_one_seed_gives_the_same_identity_noise_at_every_coupling():
    anatomy, _ = population(1, seed=3)
    z0 = voice_identity(anatomy[0], "female", 0.0, np.random.default_rng(7)).trait_z
    z1 = voice_identity(anatomy[0], "female", 1.0, np.random.default_rng(7)).trait_z
    zh = voice_identity(anatomy[0], "female", 0.5, np.random.default_rng(7)).trait_z
    drivers = trait_drivers(anatomy[0])
    for t in COUPLED_TRAITS:
        assert z1[t] == pytest.approx(drivers[t])
        assert zh[t] == pytest.approx(np.sqrt(0.5) * (z0[t] + z1[t]))


def test_anatomy_correlation_standardises_correlated_drivers():
    rng = np.random.default_rng(0)
    n = 2000
    z = {k: rng.standard_normal(n) for k in ANATOMY_KEYS}
    size = z["face_length"] + z["face_width"] + 0.5 * z["face_size"]  # face_size is a mixture
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
    assert {f"z_{t}" for t in COUPLED_TRAITS} <= set(rec)
    assert v.trait_z == {t: rec[f"z_{t}"] for t in COUPLED_TRAITS}
    assert 0.0 <= v.nasality <= 1.0 and 0.0 <= v.breathiness <= 1.0
    assert v.spectral_tilt_db < 0 and 0 < v.jitter < 0.05 and 0 < v.shimmer < 0.2
    assert 3.0 <= v.speaking_rate <= 6.5


def test_bad_inputs_are_rejected_with_the_reason():
    anatomy, _ = population(1)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="gender"):
        voice_identity(anatomy[0], "m", 0.5, rng)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        voice_identity(anatomy[0], "male", 1.5, rng)
    partial = {k: v for k, v in anatomy[0].items() if k != "chin"}
    with pytest.raises(KeyError, match="chin"):
        voice_identity(partial, "male", 0.5, rng)
    with pytest.raises(ValueError, match="anatomy_corr"):
        trait_drivers(anatomy[0], np.eye(3))
