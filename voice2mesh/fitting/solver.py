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
* ``gn_step`` — a joint Gauss-Newton step over pose (rotation increment, log-scale,
  translation) and coefficients in float64, with backtracking. It converges quadratically to
  the exact MAP estimate. The pose and the coefficient directions that the landmarks inform
  (κ E_k ≥ ``HEAD_INFORMATION``) share one batched Cholesky solve; the prior-dominated rest
  gets a diagonal step. Invalid landmarks enter the normal matrix with their residual pinned
  to zero (the same imputation as EM), so every image shares the model's landmark set and
  ``Σ_l B_lᵀ G B_l`` is one (M, 6) x (6, K²) product (``LandmarkBasis.pair_products``); the
  gradient is exact, so neither shortcut moves the fixed point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from voice2mesh.fitting.camera_fit import (
    nearest_scaled_rotation,
    so3_exp,
    weighted_affine_camera,
)
from voice2mesh.fitting.landmark_basis import PAIRS, LandmarkBasis

# Coefficient directions whose data precision κ E_k (per prior variance) is below this get a
# diagonal Gauss-Newton step; the rest are solved jointly with the pose (``gn_step``).
HEAD_INFORMATION = 0.05
# The alternating iterations start from this landmark noise (if larger than the target).
ANNEAL_SIGMA = 0.1


@dataclass(frozen=True)
class FitState:
    """Per-image parameters in normalised units.

    Attributes:
        R: (M, 3, 3) rotations.
        s: (M,) scales (normalised units per mm).
        t: (M, 2) translations (normalised units).
        y: (M, K) whitened rotated coefficients.
    """

    R: torch.Tensor
    s: torch.Tensor
    t: torch.Tensor
    y: torch.Tensor

    def where(self, take: torch.Tensor, other: FitState) -> FitState:
        """Per image: this state where ``take`` (M,) is True, else ``other``."""
        return FitState(
            torch.where(take[:, None, None], self.R, other.R),
            torch.where(take, self.s, other.s),
            torch.where(take[:, None], self.t, other.t),
            torch.where(take[:, None], self.y, other.y),
        )


# Landmark arrays are coordinate-major, (M, C, L): torch only vectorises along the last axis,
# and broadcasting over a trailing axis of 2 or 3 is several times slower.


def landmarks_3d(basis: LandmarkBasis, y: torch.Tensor) -> torch.Tensor:
    """(M, 3, L) model-frame landmarks of coefficients y (M, K)."""
    flat = torch.addmm(basis.mean.reshape(1, -1), y, basis.flat.T)  # (M, 3L)
    return flat.view(y.shape[0], 3, basis.mean.shape[1])


def objective(
    basis: LandmarkBasis, q: torch.Tensor, w: torch.Tensor, state: FitState, sigma: float
) -> torch.Tensor:
    """(M,) MAP objective ``E`` of ``state`` (module docstring); q (M, 2, L), w (M, L)."""
    P2 = state.s[:, None, None] * state.R[:, :2]
    r = (P2 @ landmarks_3d(basis, state.y) + state.t[..., None] - q) * w[:, None]
    return (r**2).sum((1, 2)) / sigma**2 + (state.y**2).sum(1)


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
    sX = P2 @ X  # (M, 2, L)
    t = ((q - sX) * w[:, None]).sum(2) / w.sum(1, keepdim=True).clamp_min(1e-12)
    e = (q - sX - t[..., None]) * w[:, None]  # (M, 2, L) residual, zero where invalid
    # R₂ᵀ e / s: the residual back in the model frame (mm), depth kept at the model's.
    lifted = R[:, :2].transpose(1, 2) @ e / s[:, None, None]  # (M, 3, L)
    kappa = ((s / sigma) ** 2)[:, None]  # data precision per mm² of the lifted 3D problem
    E = basis.eigenvalues
    rhs = torch.addmm(E * y, lifted.flatten(1), basis.flat)  # (M, K)
    return FitState(R, s, t, kappa * rhs / (kappa * E + 1.0))


def _pose_jacobian(X: torch.Tensor, P2: torch.Tensor, pt: torch.Tensor) -> torch.Tensor:
    """(M, 2, 6, L) d p / d (ω, log s, t) for ``p = s R exp([ω]x) X + t``; pt = p - t.

    ``d/dω_j = P2 (e_j × X)``, ``d/dlog s = p - t``, ``d/dt_a = e_a``.
    """
    x, y, z = X[:, 0:1], X[:, 1:2], X[:, 2:3]  # (M, 1, L)
    a, b, c = P2[:, :, 0:1], P2[:, :, 1:2], P2[:, :, 2:3]  # (M, 2, 1) columns of P2
    one, zero = torch.ones_like(pt[:, 0]), torch.zeros_like(pt[:, 0])  # (M, L)
    tx, ty = torch.stack([one, zero], 1), torch.stack([zero, one], 1)  # (M, 2, L)
    return torch.stack([c * y - b * z, a * z - c * x, b * x - a * y, pt, tx, ty], 2)


def _normal_equations(
    basis: LandmarkBasis,
    q: torch.Tensor,
    w: torch.Tensor,
    state: FitState,
    sigma: float,
    head: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gauss-Newton system of E/2 at ``state``, exact for the pose and the leading coefficients.

    The unknowns are ordered (ω, log s, t, y). Jacobians are divided by σ up front so that no
    pass over the normal matrix is spent on scaling.

    Returns:
        ``(H, g, tail)``: the upper triangle of the normal matrix (M, 6+head, 6+head) of the pose
        and the first ``head`` coefficients; the full gradient (M, 6+K); the diagonal (M,
        K-head) of the normal matrix for the remaining coefficients.
    """
    M, L = w.shape
    X = landmarks_3d(basis, state.y)  # (M, 3, L)
    P2 = state.s[:, None, None] * state.R[:, :2] / sigma  # (M, 2, 3), scaled by 1/σ
    pt = P2 @ X  # (M, 2, L)
    r = (pt + (state.t[..., None] - q) / sigma) * w[:, None]  # (M, 2, L) residual / σ
    Jp = _pose_jacobian(X, P2, pt)  # (M, 2, 6, L)
    Jp[:, :, 4:] /= sigma
    Jflat = Jp.transpose(1, 2).reshape(M, 6, 2 * L)
    # Only the upper triangle is filled (the upper Cholesky factorisation reads no more);
    # zeros() is a plain memset, much cheaper than clearing the strided lower block.
    H = torch.zeros(M, 6 + head, 6 + head, dtype=X.dtype, device=X.device)
    H[:, :6, :6] = Jflat @ Jflat.transpose(1, 2)
    # Σ_l J_p,lᵀ P2 B_l: contract the image axis a first, then one GEMM over (c, l).
    F = P2.transpose(1, 2) @ Jp.reshape(M, 2, 6 * L)  # (M, 3, 6L)
    F = F.view(M, 3, 6, L).transpose(1, 2).reshape(M * 6, 3 * L)
    H[:, :6, 6:] = (F @ basis.flat[:, :head]).view(M, 6, head)
    G = P2.transpose(1, 2) @ P2  # (M, 3, 3)
    G6 = torch.stack([G[:, c, d] for c, d in PAIRS], 1)  # (M, 6)
    products = basis.pair_products[:, :head, :head].reshape(6, head * head)
    H[:, 6:, 6:] = (G6 @ products).view(M, head, head)
    H[:, 6:, 6:].diagonal(dim1=1, dim2=2).add_(1.0)  # the prior
    tail = torch.addmm(torch.ones_like(state.y[:, head:]), G6, basis.product_diagonals[:, head:])
    g_pose = (Jflat @ r.reshape(M, 2 * L, 1))[..., 0]
    g_coef = torch.addmm(state.y, (P2.transpose(1, 2) @ r).flatten(1), basis.flat)
    return H, torch.cat([g_pose, g_coef], 1), tail


def gn_step(
    basis: LandmarkBasis,
    q: torch.Tensor,
    w: torch.Tensor,
    state: FitState,
    sigma: float,
    energy: torch.Tensor,
    head: int,
) -> tuple[FitState, torch.Tensor, torch.Tensor]:
    """One joint Gauss-Newton step over pose and coefficients, with backtracking.

    The pose and the ``head`` leading coefficients get the exact (6+head)-square Gauss-Newton
    step; the remaining coefficients, which the landmarks hardly inform (their data precision
    is small next to the prior's), get a diagonal Newton step. The gradient is exact, so the
    fixed point is the exact MAP estimate; with ``head = K`` this is plain Gauss-Newton. Far
    from the minimum a full step can overshoot (the rotation is nonlinear), so per image the
    longest of the steps ``δ, δ/4, δ/16, δ/64`` that lowers E is taken (none: no move).

    Args:
        basis, q, w, sigma: as for ``em_step``.
        state: current state.
        energy: (M,) objective of ``state``.
        head: number of leading coefficients solved jointly with the pose (0..K).

    Returns:
        ``(state, energy, decrement)``; ``decrement`` (M,) is the decrease of E that the
        Gauss-Newton model predicted for the full step, ``-2 gᵀδ`` (0 at a minimum).
    """
    H, g, tail = _normal_equations(basis, q, w, state, sigma, head)
    H.diagonal(dim1=1, dim2=2).mul_(1.0 + 1e-9)  # a relative ridge against round-off
    U, info = torch.linalg.cholesky_ex(H, upper=True)  # H = Uᵀ U
    half = torch.linalg.solve_triangular(U.transpose(1, 2), g[:, : 6 + head, None], upper=False)
    step_head = torch.linalg.solve_triangular(U, half, upper=True)[..., 0]
    step = -torch.cat([step_head, g[:, 6 + head :] / tail], 1)  # (M, 6+K)
    step = torch.where((info == 0)[:, None], step, torch.zeros_like(step))
    decrement = -2.0 * (g * step).sum(1)
    done = torch.zeros_like(energy, dtype=torch.bool)
    for length in (1.0, 0.25, 0.0625, 0.015625):
        trial = _moved(state, length * step)
        trial_energy = objective(basis, q, w, trial, sigma)
        better = ~done & torch.isfinite(trial_energy) & (trial_energy < energy)
        state = trial.where(better, state)
        energy = torch.where(better, trial_energy, energy)
        done |= better
        if bool(done.all()):
            break
    return state, energy, decrement


def _moved(state: FitState, step: torch.Tensor) -> FitState:
    """``state`` moved by ``step`` (M, 6+K) = (ω, log s, t, y)."""
    return FitState(
        state.R @ so3_exp(step[:, :3]),
        state.s * torch.exp(step[:, 3]),
        state.t + step[:, 4:6],
        state.y + step[:, 6:],
    )


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
        R (B, 3, 3), s (B,), t (B, 2), y (B, K), the final objective (B,) and the last
        objective change (B,): the Gauss-Newton decrement of the last refinement step, or the
        change over the last alternating iteration when there is no refinement.
    """
    # The alternating iterations run in float32 (twice the speed; they only approach the
    # minimum), the Gauss-Newton refinement in float64.
    single = basis.to(torch.float32)
    q_t = torch.as_tensor(q, dtype=torch.float32, device=device)
    w_t = torch.as_tensor(w, dtype=torch.float32, device=device)
    y = torch.zeros(len(q), basis.basis.shape[-1], dtype=torch.float32, device=device)
    energy = torch.full((len(q),), torch.inf, dtype=torch.float32, device=device)
    change = energy
    for iteration in range(n_iterations):
        state = em_step(single, q_t, w_t, y, _annealed(sigma, iteration, n_iterations))
        y = state.y
        if iteration >= n_iterations - 2:  # only the last two feed the convergence test
            new_energy = objective(single, q_t, w_t, state, sigma)
            change, energy = (energy - new_energy).abs(), new_energy
    state = FitState(*(x.double() for x in (state.R, state.s, state.t, state.y)))
    q_t, w_t, energy, change = q_t.double(), w_t.double(), energy.double(), change.double()
    # κ = (s / σ)² with s ≈ 1 / (face size in mm) in normalised units: a per-model constant,
    # so the split into jointly solved and diagonal directions (and hence an image's fit)
    # does not depend on the batch the image is in.
    kappa = 1.0 / (sigma * basis.size_mm) ** 2
    head = int((kappa * basis.eigenvalues >= HEAD_INFORMATION).sum())
    if n_refine:
        energy = objective(basis, q_t, w_t, state, sigma)
    for _ in range(n_refine):
        state, energy, change = gn_step(basis, q_t, w_t, state, sigma, energy, head)
    return tuple(x.cpu().numpy() for x in (state.R, state.s, state.t, state.y, energy, change))


def _annealed(sigma: float, iteration: int, n_iterations: int) -> float:
    """Landmark noise for alternating iteration ``iteration``, annealed down to ``sigma``.

    Geometric from ``ANNEAL_SIGMA`` (when larger) to ``sigma`` at the last iteration: a strong
    prior first keeps the coefficients from absorbing the error of the initial pose
    (fitted to the mean face); the target prior takes over gradually.
    """
    if n_iterations == 1 or sigma >= ANNEAL_SIGMA:
        return sigma
    return sigma * (ANNEAL_SIGMA / sigma) ** (1.0 - iteration / (n_iterations - 1))
