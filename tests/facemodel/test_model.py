"""MorphableModel: numpy/torch reconstruction, landmarks, validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from voice2mesh.facemodel.model import TILE, DenseBasisUnavailable, MorphableModel, _add_products

KS, KE = 7, 4


@pytest.fixture()
def model(tiny_face) -> MorphableModel:
    rng = np.random.default_rng(1)
    n = len(tiny_face.mean)
    landmarks = tiny_face.landmarks.copy()
    landmarks[[0, 16, 60]] = -1  # unmapped, like the SFM's contour and inner mouth corners
    return MorphableModel(
        name="tiny",
        mean=tiny_face.mean,
        shape_basis=rng.normal(size=(3 * n, KS)).astype(np.float32),
        shape_std=np.linspace(3.0, 1.0, KS).astype(np.float32),
        expression_basis=rng.normal(size=(3 * n, KE)).astype(np.float32),
        expression_std=np.ones(KE, np.float32),
        triangles=tiny_face.triangles,
        landmarks=landmarks,
    )


def _direct(model: MorphableModel, alpha: np.ndarray, beta: np.ndarray | None) -> np.ndarray:
    """Reference formula, one face at a time in float64: (B, N, 3)."""
    faces = []
    for b in range(alpha.shape[0]):
        flat = model.mean.reshape(-1).astype(np.float64)
        flat = flat + model.shape_basis[:, : alpha.shape[1]].astype(np.float64) @ alpha[b]
        if beta is not None:
            flat = flat + model.expression_basis[:, : beta.shape[1]].astype(np.float64) @ beta[b]
        faces.append(flat.reshape(-1, 3))
    return np.stack(faces)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_and_torch_agree_with_direct_formula(model, dtype):
    rng = np.random.default_rng(2)
    alpha, beta = rng.normal(size=(3, KS)).astype(dtype), rng.normal(size=(3, KE)).astype(dtype)
    expected = _direct(model, alpha.astype(np.float64), beta.astype(np.float64))
    tol = 1e-9 if dtype == np.float64 else 1e-3

    out_np = model.reconstruct(alpha, beta)
    out_t = model.reconstruct(torch.from_numpy(alpha), torch.from_numpy(beta))
    assert out_np.shape == (3, model.n_vertices, 3) and out_np.dtype == dtype
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.from_numpy(alpha).dtype
    np.testing.assert_allclose(out_np, expected, atol=tol)
    np.testing.assert_allclose(out_t.numpy(), expected, atol=tol)


def test_partial_coefficients_mean_trailing_zeros(model):
    rng = np.random.default_rng(3)
    alpha, beta = rng.normal(size=(2, 3)), rng.normal(size=(2, 2))
    full_alpha = np.concatenate([alpha, np.zeros((2, KS - 3))], axis=1)
    full_beta = np.concatenate([beta, np.zeros((2, KE - 2))], axis=1)
    np.testing.assert_allclose(
        model.reconstruct(alpha, beta), model.reconstruct(full_alpha, full_beta), atol=1e-9
    )
    torch_partial = model.reconstruct(torch.from_numpy(alpha), torch.from_numpy(beta))
    np.testing.assert_allclose(torch_partial.numpy(), _direct(model, alpha, beta), atol=1e-9)


def test_zero_coefficients_and_no_expression_give_the_mean(model):
    out = model.reconstruct(np.zeros((4, KS)))
    np.testing.assert_array_equal(out, np.broadcast_to(model.mean, out.shape))


def test_torch_reconstruction_is_differentiable(model):
    alpha = torch.zeros(2, KS, dtype=torch.float64, requires_grad=True)
    model.reconstruct(alpha, landmarks_only=True).nan_to_num().sum().backward()
    assert alpha.grad is not None and torch.isfinite(alpha.grad).all()


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_landmarks_only_rows_and_nan_for_unmapped(model, library):
    rng = np.random.default_rng(4)
    alpha, beta = rng.normal(size=(2, KS)), rng.normal(size=(2, KE))
    dense = model.reconstruct(alpha, beta)
    if library == "torch":
        alpha, beta = torch.from_numpy(alpha), torch.from_numpy(beta)
    lms = np.asarray(model.reconstruct(alpha, beta, landmarks_only=True))
    assert lms.shape == (2, 68, 3)
    valid = model.landmark_valid
    assert np.isnan(lms[:, ~valid]).all() and not np.isnan(lms[:, valid]).any()
    np.testing.assert_allclose(lms[:, valid], dense[:, model.landmarks[valid]], atol=1e-9)


def test_landmark_only_model_refuses_dense_use(model):
    sparse = dataclasses.replace(model, triangles=None, dense=False)
    assert sparse.reconstruct(np.zeros((1, KS)), landmarks_only=True).shape == (1, 68, 3)
    with pytest.raises(DenseBasisUnavailable, match="dense face mesh"):
        sparse.reconstruct(np.zeros((1, KS)))


def test_pair_distances(model):
    model = dataclasses.replace(model, pairs={"oicd": (model.landmarks[36], model.landmarks[45])})
    distances = model.pair_distances(model.reconstruct(np.zeros((2, KS))))
    np.testing.assert_allclose(distances["oicd"], [90.0, 90.0], atol=1e-4)


@pytest.mark.parametrize(
    ("field", "bad", "message"),
    [
        ("mean", np.zeros((10, 2), np.float32), "mean must be"),
        ("shape_basis", np.zeros((5, KS), np.float32), "shape_basis must have 3N rows"),
        ("expression_basis", np.zeros((5, KE), np.float32), "expression_basis must have 3N"),
        ("shape_std", np.ones(KS + 1, np.float32), "shape_std must be"),
        ("expression_std", np.ones(1, np.float32), "expression_std must be"),
        ("landmarks", np.zeros(67, np.int64), "landmarks must be"),
        ("landmarks", np.full(68, 10**6, np.int64), "landmark vertex id out of range"),
        ("triangles", np.zeros((4, 2), np.int64), "triangles must be"),
        ("triangles", np.full((4, 3), 10**6, np.int64), "triangle vertex id out of range"),
    ],
)
def test_validation_names_the_problem(model, field, bad, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(model, **{field: bad})


def test_bases_are_read_only(model):
    with pytest.raises(ValueError, match="read-only"):
        model.shape_basis[0, 0] = 1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reconstruction_products_are_added_in_component_order(dtype) -> None:
    """The tiled kernel gives, bit for bit, the products added one component after another
    (the order that keeps reconstructions the same on every machine), across tile borders."""
    rng = np.random.default_rng(3)
    columns = 2 * TILE + 37  # two full tiles and a partial one
    components = rng.normal(size=(6, columns)).astype(dtype)
    coefficients = rng.normal(size=(5, 4)).astype(dtype)  # K' = 4 of the 6 components
    out = rng.normal(size=(5, columns)).astype(dtype)
    expected = out.copy()
    for k in range(coefficients.shape[1]):
        expected += coefficients[:, k : k + 1] * components[k]
    _add_products(out, coefficients, components)
    np.testing.assert_array_equal(out, expected)
