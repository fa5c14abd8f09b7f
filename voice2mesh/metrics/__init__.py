"""The paper's evaluation metrics: ARE, landmark NME, and point-to-plane RMSE after ICP.

Every metric takes predictions (B, N, 3) and references (N, 3) or (R, N, 3) (with an optional
``ref_index`` (B,) saying which reference each prediction belongs to) in the model's canonical
frame and returns one value per prediction; ``aggregate_by_speaker`` averages them per speaker
as the paper does before averaging over speakers.
"""

from voice2mesh.metrics.are import ARE_KEYS, aggregate_by_speaker, are, oicd_scale
from voice2mesh.metrics.icp import IcpSettings, icp_rmse, registered_rmse, vertex_normals
from voice2mesh.metrics.nme import nme
from voice2mesh.metrics.parts import PART_SETTINGS, part_rmse, registered_part_rmse

__all__ = [
    "ARE_KEYS",
    "PART_SETTINGS",
    "IcpSettings",
    "aggregate_by_speaker",
    "are",
    "icp_rmse",
    "nme",
    "oicd_scale",
    "part_rmse",
    "registered_part_rmse",
    "registered_rmse",
    "vertex_normals",
]
