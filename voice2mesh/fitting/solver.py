"""The batched MAP landmark fitter's iterations (torch; every op covers the whole batch).

All quantities are in *normalised* image units: targets ``q`` are the landmarks (height-up)
minus their centroid, divided by the face size in pixels, so ``σ`` is the landmark noise as a
fraction of the face size. Per image the objective is

    E = Σ_l w_l ‖s R₂ X_l + t − q_l‖² / σ²  +  ‖y‖²,      X_l = mean_l + B_l y,

with ``R₂`` the first two rows of the rotation, ``w`` the valid landmarks and ``y`` the
whitened, rotated coefficients of ``LandmarkBasis`` (so ``‖y‖²`` is the Gaussian prior).

Two kinds of iterations (``fit_batch`` runs ``n_iterations`` of the first, then ``n_refine``
of the second):

* ``em_step`` — alternating least squares in the style of eos: the affine camera by linear
  least squares, projected to the nearest scaled rotation; then the coefficients given the
  pose. The coefficient step treats each landmark's depth (and any invalid landmark's
  position) as a latent variable set to the current model's value, an EM step: the 2D
  residual is lifted into the model frame and the coefficients solve a pose-independent 3D
  problem whose normal matrix ``κ diag(E) + I`` (κ = s²/σ²) is diagonal in ``y``. No per-image
  K x K factorisation is needed: an iteration costs two (M, K) x (K, 3L) products and runs in
  float32. Like any alternation it converges linearly, slowly where pose and shape trade off
  (pitch against the depth profile, scale against face size); it starts from a strong prior
  (σ annealed from ``ANNEAL_SIGMA``) so the shape does not absorb the first pose's error.
* ``gn_step`` (``voice2mesh.fitting.gauss_newton``) — a joint Gauss-Newton step over pose
  (rotation increment, log-scale, translation) and coefficients in float64, with
  backtracking, whose fixed point is the exact MAP estimate. The pose and the coefficient
  directions that the landmarks inform well (κ E_k ≥ ``HEAD_INFORMATION``, 14 of the SFM's
  69, in the first step; ≥ ``HEAD_INFORMATION_POLISH`` later) share one batched Cholesky
  solve; the rest gets a diagonal step. After the EM start one step recovers most of the
  pose / shape trade-off that the alternation leaves; more steps converge to the minimum.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from voice2mesh.fitting.camera_fit import nearest_scaled_rotation, weighted_affine_camera
from voice2mesh.fitting.gauss_newton import gn_step
from voice2mesh.fitting.landmark_basis import LandmarkBasis
from voice2mesh.fitting.state import FitState, landmarks_3d, objective, small_bmm

# Coefficient directions whose data precision κ E_k (per prior variance) is below this get a
# diagonal Gauss-Newton step; the rest are solved jointly with the pose (``gn_step``). The
# first step from the EM start needs only the well-informed directions (cheap); later steps
# polish towards the exact minimum, where the diagonal steps would converge slowly.
HEAD_INFORMATION = 2.0
HEAD_INFORMATION_POLISH = 0.05
# The alternating iterations start from this landmark noise (if larger than the target).
ANNEAL_SIGMA = 0.1


def em_step(
    basis: LandmarkBasis, q: torch.Tensor, w: torch.Tensor, y: torch.Tensor, sigma: float
) -> FitState:
    """One alternating iteration: pose given y, then y given the pose (lifted-3D EM step).

    Args:
        basis: the model's landmark basis.
        q: (M, 2, L) normalised targets.
        w: (M, L) weights, 1 for valid landmarks, 0 for the others.
        y: (M, K) current coefficients.
        sigma: landmark noise (fraction of the face size).

    Returns:
        The new state.
    """
    X = landmarks_3d(basis, y)  # (M, 3, L)
    s, R = nearest_scaled_rotation(weighted_affine_camera(X, q, w)[0])
    P2 = s[:, None, None] * R[:, :2]  # (M, 2, 3)
    sX = small_bmm(P2, X)  # (M, 2, L)
    t = ((q - sX) * w[:, None]).sum(2) / w.sum(1, keepdim=True).clamp_min(1e-12)
    e = (q - sX - t[..., None]) * w[:, None]  # (M, 2, L) residual, zero where invalid
    # R₂ᵀ e / s: the residual back in the model frame (mm), depth kept at the model's.
    lifted = small_bmm(R[:, :2].transpose(1, 2) / s[:, None, None], e)  # (M, 3, L)
    kappa = ((s / sigma) ** 2)[:, None]  # data precision per mm² of the lifted 3D problem
    E = basis.eigenvalues
    rhs = torch.addmm(E * y, lifted.flatten(1), basis.flat)  # (M, K)
    return FitState(R, s, t, kappa * rhs / (kappa * E + 1.0))


def fit_batch(
    basis: LandmarkBasis,
    q: np.ndarray,
    w: np.ndarray,
    sigma: float,
    n_iterations: int,
    n_refine: int,
    device: str,
) -> tuple[np.ndarray, ...]:
    """Run the iterations on one batch (alternating, then Gauss-Newton refinement).

    Args:
        basis: the model's landmark basis.
        q: (B, 2, L) normalised targets; w: (B, L) bool valid landmarks.
        sigma: landmark noise (fraction of the face size).
        n_iterations: alternating iterations (≥ 1); n_refine: Gauss-Newton steps (≥ 0).
        device: torch device.

    Returns:
        R (B, 3, 3), s (B,), t (B, 2), y (B, K), the final objective (B,) and its distance
        from the minimum (B,): with refinement the decrease of E that one more Gauss-Newton
        step would bring (``gᵀH⁻¹g`` with the final gradient and the last step's normal
        matrix, whose change over a step this close to the minimum is negligible), without
        it the change of E over the last alternating iteration; and the landmark misfit (B,)
        ``Σ_l w_l ‖s R₂ X_l + t − q_l‖²`` (normalised units squared).
    """
    # The alternating iterations run in float32 (twice the speed; they only approach the
    # minimum), the Gauss-Newton refinement in float64.
    single = _single(basis)
    q_t = torch.as_tensor(q, dtype=torch.float32, device=device)
    w_t = torch.as_tensor(w, dtype=torch.float32, device=device)
    y = torch.zeros(len(q), basis.basis.shape[-1], dtype=torch.float32, device=device)
    energy = torch.full((len(q),), torch.inf, dtype=torch.float32, device=device)
    change = energy
    for iteration in range(n_iterations):
        state = em_step(single, q_t, w_t, y, _annealed(sigma, iteration, n_iterations))
        y = state.y
        if not n_refine and iteration >= n_iterations - 2:  # the last two: convergence test
            new_energy = objective(single, q_t, w_t, state, sigma)
            change, energy = (energy - new_energy).abs(), new_energy
    state = FitState(*(x.double() for x in (state.R, state.s, state.t, state.y)))
    q_t, w_t, energy, change = q_t.double(), w_t.double(), energy.double(), change.double()
    # κ = (s / σ)² with s ≈ 1 / (face size in mm) in normalised units: a per-model constant,
    # so the split into jointly solved and diagonal directions (and hence an image's fit)
    # does not depend on the batch the image is in.
    kappa = 1.0 / (sigma * basis.size_mm) ** 2
    for step in range(n_refine):
        threshold = HEAD_INFORMATION if step == 0 else HEAD_INFORMATION_POLISH
        head = int((kappa * basis.eigenvalues >= threshold).sum())
        state, energy, _, factor, gradient = gn_step(basis, q_t, w_t, state, sigma, head)
    if n_refine:
        change = factor.decrement(gradient)
    misfit = (energy - (state.y**2).sum(1)).clamp_min(0.0) * sigma**2  # Σ_l w_l ‖residual‖²
    outputs = (state.R, state.s, state.t, state.y, energy, change, misfit)
    return tuple(x.cpu().numpy() for x in outputs)


@functools.lru_cache(maxsize=8)
def _single(basis: LandmarkBasis) -> LandmarkBasis:
    """``basis`` in float32 (cached: converted once, not once per batch)."""
    return basis.to(torch.float32)


def _annealed(sigma: float, iteration: int, n_iterations: int) -> float:
    """Landmark noise for alternating iteration ``iteration``, annealed down to ``sigma``.

    Geometric from ``ANNEAL_SIGMA`` (when larger) to ``sigma`` at the last iteration: a strong
    prior first keeps the coefficients from absorbing the error of the initial pose
    (fitted to the mean face); the target prior takes over gradually.
    """
    if n_iterations == 1 or sigma >= ANNEAL_SIGMA:
        return sigma
    return sigma * (ANNEAL_SIGMA / sigma) ** (1.0 - iteration / (n_iterations - 1))
