"""Contrastive representation distillation with a memory bank of past embeddings.

Tian, Krishnan, Isola, *Contrastive Representation Distillation*, ICLR 2020, Eqs. (8)–(10):
a critic h(t, s) = exp(g_t(t)ᵀ g_s(s) / τ) / (exp(·) + N/M) separates the matching
(teacher, student) pair of a sample from N mismatched pairs drawn from the M data; NCE:

    L = −E_pos[log h] − N · E_neg[log(1 − h)]

Following the authors' code, both directions are used (teacher anchor vs. student bank and
student anchor vs. teacher bank), g_s and g_t are linear embeddings to ``feat_dim`` followed by
L2 normalisation, the banks hold one momentum-averaged embedding per dataset sample,
exp(·/τ) is divided by a constant Z fixed on the first call (Z = M · mean exp(·/τ)), and

    P = exp(vᵀm/τ) / Z,   L_side = −(1/B) Σ_b [ log(P⁺/(P⁺ + N/M + ε))
                                               + Σ_k log((N/M)/(P⁻_k + N/M + ε)) ].

How it is applied here: maps (B, C, H, W) are global-average-pooled to (B, C) before the
embedding (the authors flatten pooled features too); negatives are N = ``nce_k`` indices drawn
uniformly with replacement (the authors' alias sampler with uniform weights), which is cheap
on a CPU with a small default N = 256. Needs ``n_data`` (the dataset size) and the batch's
dataset ``index``; both embeddings are learnable connectors trained with the student.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.distill.base import DistillLoss, pool


class CRDLoss(DistillLoss):
    """CRD with two memory banks (student and teacher) and the NCE objective.

    Args:
        s_channels: student feature channels Cs.
        t_channels: teacher feature channels Ct.
        n_data: number M of training samples (size of each memory bank); required.
        feat_dim: embedding width of g_s and g_t.
        nce_k: number N of negatives per sample.
        T: temperature τ.
        momentum: memory update momentum.
        eps: ε inside the NCE logarithms.
    """

    def __init__(
        self,
        s_channels: int,
        t_channels: int,
        *,
        n_data: int | None = None,
        feat_dim: int = 128,
        nce_k: int = 256,
        T: float = 0.07,
        momentum: float = 0.5,
        eps: float = 1e-7,
    ) -> None:
        super().__init__(s_channels, t_channels)
        if n_data is None or n_data < 1:
            raise ValueError(
                f"CRDLoss: pass n_data=<number of training samples> (the memory bank size), "
                f"got n_data={n_data}"
            )
        if nce_k < 1 or T <= 0 or not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"CRDLoss: need nce_k >= 1, T > 0, 0 <= momentum < 1; got {nce_k}, {T}, {momentum}"
            )
        self.n_data, self.nce_k, self.T = n_data, nce_k, T
        self.momentum, self.eps = momentum, eps
        self.embed_s = nn.Linear(s_channels, feat_dim)
        self.embed_t = nn.Linear(t_channels, feat_dim)
        stdv = 1.0 / math.sqrt(feat_dim / 3)
        self.register_buffer("memory_s", torch.rand(n_data, feat_dim) * 2 * stdv - stdv)
        self.register_buffer("memory_t", torch.rand(n_data, feat_dim) * 2 * stdv - stdv)
        # Normalising constants Z_s, Z_t; negative = not yet set (fixed on the first call).
        self.register_buffer("z", torch.full((2,), -1.0))

    def sample_negatives(self, index: torch.Tensor) -> torch.Tensor:
        """(B,) -> (B, N) bank indices drawn uniformly with replacement."""
        return torch.randint(self.n_data, (index.shape[0], self.nce_k), device=index.device)

    def nce(self, scores: torch.Tensor) -> torch.Tensor:
        """(B, 1 + N) normalised scores P (positive first) -> scalar NCE loss (Eq. 10)."""
        noise = self.nce_k / self.n_data  # N · P_n with uniform P_n = 1/M
        log_pos = torch.log(scores[:, 0] / (scores[:, 0] + noise + self.eps))
        log_neg = torch.log(noise / (scores[:, 1:] + noise + self.eps))
        return -(log_pos.sum() + log_neg.sum()) / scores.shape[0]

    def compute(
        self, f_s: torch.Tensor, f_t: torch.Tensor, index: torch.Tensor | None
    ) -> torch.Tensor:
        if index is None:
            raise ValueError(
                "CRDLoss needs index=<(B,) int64 dataset indices of the batch> for its memory "
                "bank; pass the sample indices from the data loader"
            )
        index = index.to(device=f_s.device, dtype=torch.long).view(-1)
        if index.shape[0] != f_s.shape[0] or index.min() < 0 or index.max() >= self.n_data:
            raise ValueError(
                f"CRDLoss: index must hold {f_s.shape[0]} values in [0, {self.n_data}), got "
                f"{index.shape[0]} values in [{int(index.min())}, {int(index.max())}]"
            )
        v_s = F.normalize(self.embed_s(pool(f_s)), dim=1)  # (B, D)
        v_t = F.normalize(self.embed_t(pool(f_t)), dim=1)  # (B, D)
        idx = torch.cat([index[:, None], self.sample_negatives(index)], dim=1)  # (B, 1 + N)
        bank_s = self.memory_s[idx].detach()  # (B, 1 + N, D)
        bank_t = self.memory_t[idx].detach()
        exp_t = torch.exp(torch.einsum("bkd,bd->bk", bank_s, v_t) / self.T)  # teacher anchor
        exp_s = torch.exp(torch.einsum("bkd,bd->bk", bank_t, v_s) / self.T)  # student anchor
        if self.z[0] < 0:
            with torch.no_grad():
                self.z.copy_(torch.stack([exp_s.mean(), exp_t.mean()]) * self.n_data)
        loss = self.nce(exp_s / self.z[0]) + self.nce(exp_t / self.z[1])
        if self.training:
            self._update_memory(index, v_s.detach(), v_t.detach())
        return loss

    @torch.no_grad()
    def _update_memory(self, index: torch.Tensor, v_s: torch.Tensor, v_t: torch.Tensor) -> None:
        """Momentum-average the batch's embeddings into both banks and re-normalise."""
        m = self.momentum
        new_s = F.normalize(self.memory_s[index] * m + v_s * (1 - m), dim=1)
        new_t = F.normalize(self.memory_t[index] * m + v_t * (1 - m), dim=1)
        self.memory_s.index_copy_(0, index, new_s)
        self.memory_t.index_copy_(0, index, new_t)
