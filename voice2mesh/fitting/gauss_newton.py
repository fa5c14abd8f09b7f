"""Joint Gauss-Newton steps over pose and coefficients for the batched landmark fitter.

The unknowns are ordered (ω, log s, t, y): a rotation increment ``R exp([ω]x)``, the log-scale,
the translation and the whitened coefficients (``voice2mesh.fitting.solver`` has the
objective E). The pose and the coefficient directions that the landmarks inform (the first
``head``) share one batched Cholesky solve; the prior-dominated rest gets a diagonal step.
Invalid landmarks enter the normal matrix with their residual pinned to zero, so every image
shares the model's landmark set and ``Σ_l B_lᵀ G B_l`` is one (M, 6) x (6, K²) product
(``LandmarkBasis.pair_products``). The gradient is exact, so neither shortcut moves the fixed
point (the exact MAP estimate); they only slow the convergence, in the weakly informed
directions where it matters least.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from voice2mesh.fitting.camera_fit import so3_exp
from voice2mesh.fitting.landmark_basis import PAIRS, LandmarkBasis
from voice2mesh.fitting.state import FitState, landmarks_3d, objective, small_bmm


@dataclass(frozen=True)
class Linearisation:
    """E/2 to first order at one state; Jacobians and residuals are divided by σ.

    Attributes:
        P2: (M, 2, 3) ``s R₂ / σ``.
        pose_jacobian: (M, 2, 6, L) d residual / d (ω, log s, t) by coordinate and landmark, or
            None (``linearise(..., with_jacobian=False)``).
        jacobian: (M, 6, 2L) the same, rows (ω, log s, t), columns (coordinate, landmark).
        gradient: (M, 6+K) exact gradient of E/2.
        energy: (M,) the objective E.
    """

    P2: torch.Tensor
    pose_jacobian: torch.Tensor | None
    jacobian: torch.Tensor | None
    gradient: torch.Tensor
    energy: torch.Tensor


@dataclass(frozen=True)
class Factor:
    """The Gauss-Newton normal matrix of one step, factorised: ``H = Uᵀ U`` and a diagonal tail.

    Attributes:
        U: (M, 6+head, 6+head) upper Cholesky factor of the pose and leading coefficients.
        tail: (M, K-head) diagonal of the normal matrix for the remaining coefficients.
        ok: (M,) bool, False where the factorisation failed.
    """

    U: torch.Tensor
    tail: torch.Tensor
    ok: torch.Tensor

    def solve(self, g: torch.Tensor) -> torch.Tensor:
        """(M, 6+K) ``H⁻¹ g`` for gradients g (M, 6+K); zero where the factorisation failed."""
        n = self.U.shape[1]
        half = torch.linalg.solve_triangular(self.U.transpose(1, 2), g[:, :n, None], upper=False)
        head = torch.linalg.solve_triangular(self.U, half, upper=True)[..., 0]
        out = torch.cat([head, g[:, n:] / self.tail], 1)
        return torch.where(self.ok[:, None], out, torch.zeros_like(out))

    def decrement(self, g: torch.Tensor) -> torch.Tensor:
        """(M,) ``gᵀ H⁻¹ g``: the decrease of E a full step from gradient g would bring (inf
        where the factorisation failed)."""
        n = self.U.shape[1]
        half = torch.linalg.solve_triangular(self.U.transpose(1, 2), g[:, :n, None], upper=False)
        value = (half**2).sum((1, 2)) + (g[:, n:] ** 2 / self.tail).sum(1)
        return torch.where(self.ok, value, torch.full_like(value, torch.inf))


def _pose_jacobian(
    X: torch.Tensor, P2: torch.Tensor, pt: torch.Tensor, sigma: float
) -> torch.Tensor:
    """(M, 2, 6, L) d r / d (ω, log s, t) for ``r = (s R exp([ω]x) X + t − q) / σ``.

    With ``P2 = s R₂ / σ`` and ``pt = P2 X``: ``d/dω_j = P2 (e_j × X)``, ``d/dlog s = pt``,
    ``d/dt_a = e_a / σ``. Written into one buffer (no stacking copies).
    """
    M, _, L = X.shape
    x, y, z = X[:, None, 0], X[:, None, 1], X[:, None, 2]  # (M, 1, L)
    a, b, c = P2[:, :, 0:1], P2[:, :, 1:2], P2[:, :, 2:3]  # (M, 2, 1) columns of P2
    J = torch.zeros(M, 2, 6, L, dtype=X.dtype, device=X.device)
    J[:, :, 0] = c * y - b * z
    J[:, :, 1] = a * z - c * x
    J[:, :, 2] = b * x - a * y
    J[:, :, 3] = pt
    J[:, 0, 4] = 1.0 / sigma
    J[:, 1, 5] = 1.0 / sigma
    return J


def linearise(
    basis: LandmarkBasis,
    q: torch.Tensor,
    w: torch.Tensor,
    state: FitState,
    sigma: float,
    with_jacobian: bool = True,
) -> Linearisation:
    """Residual, gradient, objective and (optionally) pose Jacobian at ``state``.

    The gradient needs no Jacobian: with ``u_l = P2ᵀ r_l`` (the residual pulled back into the
    model frame), ``∂/∂ω = Σ_l X_l × u_l``, ``∂/∂log s = Σ_l r_l · (p_l − t)`` and
    ``∂/∂t = Σ_l r_l / σ``.

    Args:
        basis: the model's landmark basis.
        q: (M, 2, L) normalised targets; w: (M, L) weights (1 valid, 0 not).
        state: the state to linearise at.
        sigma: landmark noise (fraction of the face size).
        with_jacobian: also build the pose Jacobian (``factorise`` needs it; a convergence
            test needs only the gradient).
    """
    M, L = w.shape
    X = landmarks_3d(basis, state.y)  # (M, 3, L)
    P2 = state.s[:, None, None] * state.R[:, :2] / sigma  # (M, 2, 3), scaled by 1/σ
    pt = small_bmm(P2, X)  # (M, 2, L)
    r = (pt + (state.t[..., None] - q) / sigma) * w[:, None]  # (M, 2, L) residual / σ
    u = small_bmm(P2.transpose(1, 2), r)  # (M, 3, L)
    # Σ_l X_l × u_l from the antisymmetric part of C = Σ_l X_l u_lᵀ (one small product).
    C = X @ u.transpose(1, 2)  # (M, 3, 3)
    g_rotation = torch.stack(
        [C[:, 1, 2] - C[:, 2, 1], C[:, 2, 0] - C[:, 0, 2], C[:, 0, 1] - C[:, 1, 0]], 1
    )
    g_pose = torch.cat([g_rotation, (r * pt).sum((1, 2))[:, None], r.sum(2) / sigma], 1)
    g_coef = torch.addmm(state.y, u.flatten(1), basis.flat)
    energy = (r**2).sum((1, 2)) + (state.y**2).sum(1)
    Jp = jacobian = None
    if with_jacobian:
        Jp = _pose_jacobian(X, P2, pt, sigma)  # (M, 2, 6, L)
        jacobian = Jp.transpose(1, 2).reshape(M, 6, 2 * L)
    return Linearisation(P2, Jp, jacobian, torch.cat([g_pose, g_coef], 1), energy)


def factorise(basis: LandmarkBasis, lin: Linearisation, head: int) -> Factor:
    """The Gauss-Newton normal matrix at ``lin``, exact for the pose and ``head`` coefficients."""
    M, L = lin.P2.shape[0], basis.mean.shape[1]
    P2, J = lin.P2, lin.jacobian
    # Only the upper triangle is filled (the upper Cholesky factorisation reads no more);
    # zeros() is a plain memset, much cheaper than clearing the strided lower block.
    H = torch.zeros(M, 6 + head, 6 + head, dtype=J.dtype, device=J.device)
    H[:, :6, :6] = J @ J.transpose(1, 2)
    # Σ_l J_p,lᵀ P2 B_l: contract the image axis a first, then one GEMM over (c, l).
    F = small_bmm(P2.transpose(1, 2), lin.pose_jacobian.view(M, 2, 6 * L))  # (M, 3, 6L)
    F = F.view(M, 3, 6, L).transpose(1, 2).reshape(M * 6, 3 * L)
    H[:, :6, 6:] = (F @ basis.flat[:, :head]).view(M, 6, head)
    G = P2.transpose(1, 2) @ P2  # (M, 3, 3)
    G6 = torch.stack([G[:, c, d] for c, d in PAIRS], 1)  # (M, 6)
    products = basis.pair_products[:, :head, :head].reshape(6, head * head)
    H[:, 6:, 6:] = (G6 @ products).view(M, head, head)
    H[:, 6:, 6:].diagonal(dim1=1, dim2=2).add_(1.0)  # the prior
    H.diagonal(dim1=1, dim2=2).mul_(1.0 + 1e-9)  # a relative ridge against round-off
    tail = torch.addmm(torch.ones_like(G6[:, :1]), G6, basis.product_diagonals[:, head:])
    U, info = torch.linalg.cholesky_ex(H, upper=True)  # H = Uᵀ U
    return Factor(U, tail, info == 0)


def gn_step(
    basis: LandmarkBasis,
    q: torch.Tensor,
    w: torch.Tensor,
    state: FitState,
    sigma: float,
    head: int,
) -> tuple[FitState, torch.Tensor, torch.Tensor, Factor, torch.Tensor]:
    """One joint Gauss-Newton step over pose and coefficients, with backtracking.

    Far from the minimum a full step can overshoot (the rotation is nonlinear), so per image
    the longest of the steps ``δ, δ/4, δ/16, δ/64`` that lowers E is taken (none: no move).
    The full step is evaluated with its gradient (nearly free next to the objective), so the
    gradient at the new state, which a convergence test needs, is recomputed only for the
    images that backtracked.

    Args:
        basis: the model's landmark basis.
        q: (M, 2, L) normalised targets; w: (M, L) weights (1 valid, 0 not).
        state: current state.
        sigma: landmark noise (fraction of the face size).
        head: number of leading coefficients solved jointly with the pose (0..K).

    Returns:
        ``(state, energy, decrement, factor, gradient)``: the new state and its objective
        (M,); the decrease of E that the Gauss-Newton model predicted for the full step,
        ``gᵀH⁻¹g`` (M,; 0 at a minimum); the step's factorised normal matrix; the gradient
        of E/2 (M, 6+K) at the new state.
    """
    lin = linearise(basis, q, w, state, sigma)
    factor = factorise(basis, lin, head)
    step = -factor.solve(lin.gradient)  # (M, 6+K)
    decrement = -(lin.gradient * step).sum(1)
    energy = lin.energy
    full = linearise(basis, q, w, _moved(state, step), sigma, with_jacobian=False)
    done = torch.isfinite(full.energy) & (full.energy < energy)
    state = _moved(state, step).where(done, state)
    energy = torch.where(done, full.energy, energy)
    gradient = full.gradient
    for length in (0.25, 0.0625, 0.015625):
        if bool(done.all()):
            break
        trial = _moved(state, length * step)
        trial_energy = objective(basis, q, w, trial, sigma)
        better = ~done & torch.isfinite(trial_energy) & (trial_energy < energy)
        state = trial.where(better, state)
        energy = torch.where(better, trial_energy, energy)
        done |= better
    rest = torch.nonzero(~(torch.isfinite(full.energy) & (full.energy == energy)))[:, 0]
    if len(rest):  # the images that did not take the full step
        part = FitState(state.R[rest], state.s[rest], state.t[rest], state.y[rest])
        gradient = gradient.index_copy(
            0, rest, linearise(basis, q[rest], w[rest], part, sigma, False).gradient
        )
    return state, energy, decrement, factor, gradient


def _moved(state: FitState, step: torch.Tensor) -> FitState:
    """``state`` moved by ``step`` (M, 6+K) = (ω, log s, t, y)."""
    return FitState(
        state.R @ so3_exp(step[:, :3]),
        state.s * torch.exp(step[:, 3]),
        state.t + step[:, 4:6],
        state.y + step[:, 6:],
    )
