"""The registry, the builder and the input validation shared by every loss."""

from __future__ import annotations

import pytest
import torch

from voice2mesh.distill import REGISTRY, CRDLoss, DistillLoss, build_loss

KEYS = ["kd", "attention", "sp", "correlation", "rkd", "crd", "vid", "pkt"]


def test_registry_keys_are_the_method_names_in_order() -> None:
    assert list(REGISTRY) == KEYS
    assert all(issubclass(cls, DistillLoss) for cls in REGISTRY.values())


def test_unknown_method_lists_the_valid_keys() -> None:
    with pytest.raises(ValueError, match="unknown distillation method 'fitnet'") as err:
        build_loss("fitnet", 4, 4)
    for key in KEYS:
        assert key in str(err.value)


def test_build_loss_forwards_options() -> None:
    loss = build_loss("kd", 4, 8, T=2.0)
    assert loss.T == 2.0
    with pytest.raises(TypeError):
        build_loss("pkt", 4, 8, T=2.0)


def test_crd_needs_n_data_and_index() -> None:
    with pytest.raises(ValueError, match="n_data"):
        build_loss("crd", 4, 8)
    loss = CRDLoss(4, 8, n_data=6, nce_k=3)
    with pytest.raises(ValueError, match="index"):
        loss(torch.randn(2, 4), torch.randn(2, 8))
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        loss(torch.randn(2, 4), torch.randn(2, 8), index=torch.tensor([0, 6]))


@pytest.mark.parametrize("name", KEYS)
def test_bad_feature_pairs_are_rejected(name: str, make_loss) -> None:
    loss = make_loss(name, 4, 8)
    index = torch.arange(2)
    with pytest.raises(ValueError, match="both"):
        loss(torch.randn(2, 4), torch.randn(2, 8, 3, 3), index=index)
    with pytest.raises(ValueError, match="batch sizes"):
        loss(torch.randn(2, 4), torch.randn(3, 8), index=index)
    with pytest.raises(ValueError, match="s_channels=4"):
        loss(torch.randn(2, 5), torch.randn(2, 8), index=index)
