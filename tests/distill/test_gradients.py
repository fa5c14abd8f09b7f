"""Every loss: finite on vectors and maps with mismatched widths; trains the student only."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from voice2mesh.distill import REGISTRY

SHAPES = {
    "vector": ((6, 5), (6, 7)),
    "map": ((6, 5, 4, 4), (6, 7, 3, 3)),
    "map_small_student": ((6, 5, 2, 2), (6, 7, 4, 4)),
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("name", list(REGISTRY))
def test_gradient_reaches_student_not_teacher(name: str, shape: str, make_loss) -> None:
    torch.manual_seed(0)
    s_shape, t_shape = SHAPES[shape]
    loss = make_loss(name, s_shape[1], t_shape[1])
    f_s = torch.randn(s_shape, requires_grad=True)
    f_t = torch.randn(t_shape, requires_grad=True)
    value = loss(f_s, f_t, index=torch.tensor([0, 2, 3, 5, 8, 9]))
    assert value.dim() == 0
    assert torch.isfinite(value)
    value.backward()
    assert f_s.grad is not None and torch.isfinite(f_s.grad).all()
    assert f_s.grad.abs().sum() > 0
    assert f_t.grad is None or not f_t.grad.any()


@pytest.mark.parametrize("shape", ["vector", "map"])
@pytest.mark.parametrize("name", list(REGISTRY))
def test_a_few_student_steps_lower_the_loss(name: str, shape: str, make_loss) -> None:
    torch.manual_seed(0)
    cs, ct, b = 5, 7, 8
    if shape == "vector":
        x, student = torch.randn(b, 6), nn.Linear(6, cs)
        f_t = torch.randn(b, ct)
    else:
        x, student = torch.randn(b, 6, 3, 3), nn.Conv2d(6, cs, kernel_size=1)
        f_t = torch.randn(b, ct, 2, 2)
    loss = make_loss(name, cs, ct)
    index = torch.arange(b)
    params = [*student.parameters(), *loss.parameters()]
    opt = torch.optim.Adam(params, lr=0.02)
    values = []
    for _ in range(30):
        value = loss(student(x), f_t, index=index)
        opt.zero_grad()
        value.backward()
        opt.step()
        values.append(value.item())
    assert sum(values[-3:]) / 3 < values[0]
