"""Rendering: scaled-orthographic poses, a z-buffer rasterizer, drawing and mesh files."""

from voice2mesh.render.camera import (
    decompose_pose,
    fit_pose,
    pose_matrix,
    project,
    rotation_angles,
    rotation_matrix,
    to_pixels,
)
from voice2mesh.render.draw import draw_landmarks, image_grid, overlay, save_png
from voice2mesh.render.export import export_mesh, load_mesh
from voice2mesh.render.rasterize import (
    Light,
    RenderResult,
    render,
    render_many,
    vertex_normals,
)

__all__ = [
    "Light",
    "RenderResult",
    "decompose_pose",
    "draw_landmarks",
    "export_mesh",
    "fit_pose",
    "image_grid",
    "load_mesh",
    "overlay",
    "pose_matrix",
    "project",
    "render",
    "render_many",
    "rotation_angles",
    "rotation_matrix",
    "save_png",
    "to_pixels",
    "vertex_normals",
]
