"""The MobileNetV2 student shares the teacher's input and output contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voice2mesh.models import MobileNetV1, MobileNetV2
from voice2mesh.models.mobilenet import crops_to_input
from voice2mesh.models.student import make_divisible

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("width", [0.25, 0.5])
def test_student_matches_the_teacher_contract(width: float) -> None:
    x = crops_to_input(np.zeros((2, 120, 120, 3), np.uint8))
    student, teacher = MobileNetV2(width), MobileNetV1(0.25)
    (s_mid, s_pooled), (t_mid, _) = student.features(x), teacher.features(x)
    assert s_mid.shape[2:] == t_mid.shape[2:] == (8, 8)  # same resolution for map-based KD
    assert s_mid.shape[1] == student.mid_channels == make_divisible(96 * width)
    assert s_pooled.shape == (2, student.embedding_dim) == (2, 1280)
    assert student(x).shape == teacher(x).shape == (2, 62)
    torch.testing.assert_close(student.head(s_pooled), student(x))


def test_paper_width_has_the_papers_channels() -> None:
    student = MobileNetV2(1.0)
    assert student.mid_channels == 96 and student.embedding_dim == 1280
    assert student.stem[0].out_channels == 32


def test_inverted_residuals_add_their_input_only_when_shapes_match() -> None:
    student = MobileNetV2(0.5)
    blocks = list(student.early) + list(student.late)
    residual = [b.residual for b in blocks]
    assert sum(residual) == 10  # (1+2+3+4+3+3+1) blocks, minus the 7 stage entries
    assert not blocks[0].residual  # 16 -> 8 channels


def test_student_learns_on_a_tiny_batch() -> None:
    torch.manual_seed(0)
    student = MobileNetV2(0.25)
    x, y = torch.randn(4, 3, 120, 120), torch.randn(4, 62)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss = torch.nn.functional.mse_loss(student(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_bad_width_is_refused() -> None:
    with pytest.raises(ValueError, match="width_mult"):
        MobileNetV2(0.0)


def test_a_smaller_input_size_resizes_first_and_halves_the_maps() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 120, 120)
    small, full = MobileNetV2(0.25, input_size=64), MobileNetV2(0.25)
    full.load_state_dict(small.state_dict())  # the size is no weight: the same net
    full.eval(), small.eval()
    mid, _ = small.features(x)
    assert mid.shape[2:] == (4, 4) and full.features(x)[0].shape[2:] == (8, 8)
    resized = torch.nn.functional.interpolate(
        x, size=(64, 64), mode="bilinear", antialias=True, align_corners=False
    )
    torch.testing.assert_close(small(x), full(resized))
    with pytest.raises(ValueError, match="input_size"):
        MobileNetV2(0.25, input_size=16)


def test_the_registry_keeps_the_input_size_and_reads_old_models_at_120() -> None:
    from voice2mesh.models.registry import _build_unsupervised

    arch = {
        "gan": {
            "gan": {
                "embedding_dim": 64,
                "generator_channels": [32, 16, 8],
                "face_channels": [8, 16, 32],
            },
            "encoder": {"channels": [8, 8, 8, 8], "embedding_dim": 64},
            "n_identities": 3,
        },
        "student_width": 0.25,
        "n_shape": 40,
        "n_expression": 10,
    }
    assert _build_unsupervised(arch).image_net.input_size == 120  # saved before the key
    assert _build_unsupervised(arch | {"student_input": 64}).image_net.input_size == 64
