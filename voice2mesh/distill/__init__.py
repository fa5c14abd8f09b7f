"""Knowledge-distillation losses behind one interface and one registry.

Every loss is built as ``cls(s_channels, t_channels, **hyperparameters)`` and called as
``loss(f_s, f_t, *, index=None) -> scalar`` on student/teacher features that are both pooled
embeddings (B, C) or both feature maps (B, C, H, W); widths and resolutions may differ. The
teacher feature is detached inside. Learnable connectors (KD, CRD, VID) are the loss's own
parameters: add ``loss.parameters()`` to the student optimizer.

The registry keys are the method names used in params, stage names and output paths.
"""

from __future__ import annotations

from typing import Any

from voice2mesh.distill.attention import AttentionLoss
from voice2mesh.distill.base import DistillLoss
from voice2mesh.distill.correlation import CorrelationLoss
from voice2mesh.distill.crd import CRDLoss
from voice2mesh.distill.kd import KDLoss
from voice2mesh.distill.pkt import PKTLoss
from voice2mesh.distill.rkd import RKDLoss
from voice2mesh.distill.sp import SPLoss
from voice2mesh.distill.vid import VIDLoss

REGISTRY: dict[str, type[DistillLoss]] = {
    "kd": KDLoss,
    "attention": AttentionLoss,
    "sp": SPLoss,
    "correlation": CorrelationLoss,
    "rkd": RKDLoss,
    "crd": CRDLoss,
    "vid": VIDLoss,
    "pkt": PKTLoss,
}


def build_loss(name: str, s_channels: int, t_channels: int, **options: Any) -> DistillLoss:
    """Build the distillation loss registered under ``name``.

    Args:
        name: a key of ``REGISTRY``.
        s_channels: student feature channels.
        t_channels: teacher feature channels.
        **options: the loss's hyper-parameters (e.g. ``T=4.0`` for kd, ``n_data=...`` for crd).

    Raises:
        ValueError: ``name`` is not a registered method.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown distillation method {name!r}; valid keys: {', '.join(REGISTRY)}")
    return REGISTRY[name](s_channels, t_channels, **options)


__all__ = [
    "REGISTRY",
    "AttentionLoss",
    "CRDLoss",
    "CorrelationLoss",
    "DistillLoss",
    "KDLoss",
    "PKTLoss",
    "RKDLoss",
    "SPLoss",
    "VIDLoss",
    "build_loss",
]
