"""Each loss equals its published formula, recomputed here independently with plain torch ops.

Student maps are 4×4 and teacher maps 2×2 (or vectors of width 6 vs 3), so where a method
resizes the larger feature the reference can do it with an explicit 2×2 (or pairwise) block
mean. Learnable connectors are read from the module; CRD's negatives are injected.
"""

from __future__ import annotations

import pytest
import torch

from voice2mesh.distill import REGISTRY, DistillLoss

B, CS, CT = 4, 6, 3
INDEX = torch.tensor([3, 7, 1, 9])
NEGATIVES = torch.tensor([[0, 5, 5, 2, 8], [1, 3, 4, 0, 6], [9, 9, 2, 7, 0], [4, 1, 6, 8, 3]])


def features(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed float64 student/teacher features: (4, 6) & (4, 3) or (4, 6, 4, 4) & (4, 3, 2, 2)."""
    g = torch.Generator().manual_seed(1)
    if kind == "vector":
        return torch.randn(B, CS, generator=g, dtype=torch.float64), torch.randn(
            B, CT, generator=g, dtype=torch.float64
        )
    return torch.randn(B, CS, 4, 4, generator=g, dtype=torch.float64), torch.randn(
        B, CT, 2, 2, generator=g, dtype=torch.float64
    )


def block_mean(f: torch.Tensor) -> torch.Tensor:
    """(B, C, 2H, 2W) -> (B, C, H, W) mean over 2×2 blocks."""
    b, c, h, w = f.shape
    return f.reshape(b, c, h // 2, 2, w // 2, 2).mean(dim=(3, 5))


def gap(f: torch.Tensor) -> torch.Tensor:
    """Global average pool for maps; vectors unchanged."""
    return f.mean(dim=(2, 3)) if f.dim() == 4 else f


def rows(f: torch.Tensor) -> list[torch.Tensor]:
    return [f[i].reshape(-1) for i in range(f.shape[0])]


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum() / (a.pow(2).sum().sqrt() * b.pow(2).sum().sqrt())


def huber(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x.abs() < 1, 0.5 * x**2, x.abs() - 0.5)


def ref_kd(loss: DistillLoss, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    T = 4.0
    z_s = gap(f_s) @ loss.connector.weight.t() + loss.connector.bias
    p_s = torch.exp(z_s / T) / torch.exp(z_s / T).sum(1, keepdim=True)
    p_t = torch.exp(gap(f_t) / T) / torch.exp(gap(f_t) / T).sum(1, keepdim=True)
    return T**2 * (p_t * (p_t.log() - p_s.log())).sum() / B


def ref_attention(loss: DistillLoss, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    if f_s.dim() == 4:
        q_s = block_mean(f_s).pow(2).mean(1).reshape(B, -1)
        q_t = f_t.pow(2).mean(1).reshape(B, -1)
    else:  # a vector is a one-channel map over C; width 6 pooled pairwise to 3
        q_s = f_s.pow(2).reshape(B, CT, 2).mean(2)
        q_t = f_t.pow(2)
    q_s = q_s / q_s.pow(2).sum(1, keepdim=True).sqrt()
    q_t = q_t / q_t.pow(2).sum(1, keepdim=True).sqrt()
    return (q_s - q_t).pow(2).mean()


def ref_sp(loss: DistillLoss, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    def gram(f: torch.Tensor) -> torch.Tensor:
        q = rows(f)
        g = torch.stack([torch.stack([(a * b).sum() for b in q]) for a in q])
        return g / g.pow(2).sum(1, keepdim=True).sqrt()

    return (gram(f_t) - gram(f_s)).pow(2).sum() / B**2


def ref_correlation(loss: DistillLoss, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """RepDistiller's Correlation after the student connector: mean_i sum_d d_i d_(i+1)."""
    w = loss.conv.weight[:, :, 0, 0] if f_s.dim() == 4 else loss.linear.weight  # (CT, CS)
    connected = torch.einsum("ts,bs...->bt...", w, f_s)
    if f_s.dim() == 4:
        connected = block_mean(connected)  # the student's 4x4 maps pooled to the teacher's 2x2
    delta = [(a - b).abs() for a, b in zip(rows(connected), rows(f_t), strict=True)]
    return sum((delta[i] * delta[i + 1]).sum() for i in range(B - 1)) / (B - 1)


def ref_rkd(loss: DistillLoss, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    def psi_d(f: torch.Tensor) -> torch.Tensor:
        x = rows(f)
        d = torch.stack([torch.stack([(a - b).pow(2).sum().sqrt() for b in x]) for a in x])
        return d / (d.sum() / (B * (B - 1)))

    def psi_a(f: torch.Tensor) -> torch.Tensor:
        x = rows(f)
        out = torch.zeros(B, B, B, dtype=f.dtype)
        for j in range(B):
            for i in range(B):
                for k in range(B):
                    if i != j and k != j:
                        out[j, i, k] = cosine(x[i] - x[j], x[k] - x[j])
        return out

    loss_d = huber(psi_d(f_s) - psi_d(f_t)).mean()
    loss_a = huber(psi_a(f_s) - psi_a(f_t)).mean()
    return 25 * loss_d + 50 * loss_a


def ref_crd(loss: DistillLoss, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    T, M, N, eps = 0.07, 10, NEGATIVES.shape[1], 1e-7
    mem_s, mem_t = loss.ref_memory  # bank contents before the call

    def embed(f: torch.Tensor, lin: torch.nn.Linear) -> torch.Tensor:
        v = gap(f) @ lin.weight.t() + lin.bias
        return v / v.pow(2).sum(1, keepdim=True).sqrt()

    v_s, v_t = embed(f_s, loss.embed_s), embed(f_t, loss.embed_t)
    idx = torch.cat([INDEX[:, None], NEGATIVES], dim=1)

    def nce(anchor: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        e = torch.stack([torch.exp(memory[idx[b]] @ anchor[b] / T) for b in range(B)])
        p = e / (e.mean() * M)  # Z fixed on the first call
        pos = torch.log(p[:, 0] / (p[:, 0] + N / M + eps)).sum()
        neg = torch.log((N / M) / (p[:, 1:] + N / M + eps)).sum()
        return -(pos + neg) / B

    return nce(v_s, mem_t) + nce(v_t, mem_s)


def ref_vid(loss: DistillLoss, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    if f_s.dim() == 4:
        f_s = block_mean(f_s)
    else:
        f_s, f_t = f_s[:, :, None, None], f_t[:, :, None, None]
    w1, w2, w3 = (loss.regressor[i].weight[:, :, 0, 0] for i in (0, 2, 4))
    h = torch.einsum("oc,bchw->bohw", w1, f_s).clamp(min=0)
    h = torch.einsum("oc,bchw->bohw", w2, h).clamp(min=0)
    mu = torch.einsum("oc,bchw->bohw", w3, h)
    var = (torch.log(1 + torch.exp(loss.log_scale)) + 1e-5).view(1, -1, 1, 1)
    return (0.5 * (f_t - mu).pow(2) / var + 0.5 * var.log()).mean()


def ref_pkt(loss: DistillLoss, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    eps = 1e-7

    def cond(f: torch.Tensor) -> torch.Tensor:
        q = rows(f)
        k = torch.stack([torch.stack([(cosine(a, b) + 1) / 2 for b in q]) for a in q])
        return k / k.sum(1, keepdim=True)

    p, q = cond(f_t), cond(f_s)
    return (p * torch.log((p + eps) / (q + eps))).sum() / B**2


REFERENCES = {
    "kd": ref_kd,
    "attention": ref_attention,
    "sp": ref_sp,
    "correlation": ref_correlation,
    "rkd": ref_rkd,
    "crd": ref_crd,
    "vid": ref_vid,
    "pkt": ref_pkt,
}


def test_every_method_has_a_reference() -> None:
    assert set(REFERENCES) == set(REGISTRY)


@pytest.mark.parametrize("kind", ["vector", "map"])
@pytest.mark.parametrize("name", list(REGISTRY))
def test_loss_matches_published_formula(name: str, kind: str, make_loss, monkeypatch) -> None:
    torch.manual_seed(0)
    loss = make_loss(name, CS, CT).double()
    f_s, f_t = features(kind)
    if name == "crd":
        monkeypatch.setattr(loss, "sample_negatives", lambda index: NEGATIVES)
        loss.ref_memory = (loss.memory_s.clone(), loss.memory_t.clone())
    with torch.no_grad():
        expected = REFERENCES[name](loss, f_s, f_t)
    got = loss(f_s, f_t, index=INDEX)
    assert got.item() > 0
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_crd_memory_is_a_normalised_momentum_average(make_loss, monkeypatch) -> None:
    torch.manual_seed(0)
    loss = make_loss("crd", CS, CT, momentum=0.8).double()
    monkeypatch.setattr(loss, "sample_negatives", lambda index: NEGATIVES)
    f_s, f_t = features("vector")
    before = loss.memory_s.clone()
    loss(f_s, f_t, index=INDEX)
    v_s = f_s @ loss.embed_s.weight.t() + loss.embed_s.bias
    v_s = v_s / v_s.norm(dim=1, keepdim=True)
    new = 0.8 * before[INDEX] + 0.2 * v_s
    expected = before.clone()
    expected[INDEX] = new / new.norm(dim=1, keepdim=True)
    torch.testing.assert_close(loss.memory_s, expected.detach())


def test_correlation_needs_no_connector_for_equal_widths(make_loss) -> None:
    loss = make_loss("correlation", CT, CT).double()
    _, f_t = features("vector")
    f_s = f_t + 0.5
    assert not list(loss.parameters())
    torch.testing.assert_close(loss(f_s, f_t), torch.tensor(0.75, dtype=torch.float64))


def test_vid_starts_at_the_initial_variance(make_loss) -> None:
    loss = make_loss("vid", CS, CT)
    torch.testing.assert_close(loss.variance(), torch.full((CT,), 5.0))
