"""Synthetic face photographs: a posed, lit, coloured face over cluttered backgrounds.

Every image carries the nuisance variation real VGGFace photos do, so that a landmark detector
or an image→3DMM network has to cope with it: head pose (yaw ±40°, pitch ±15°, roll ±10° by
default), expression, light direction/intensity/colour, per-identity skin, lip, brow and hair
colour, a hair mass behind the head, sometimes a fringe over the forehead or an object in front
of the chin, textured and cluttered backgrounds, sensor noise and JPEG compression.

Gender shows the way it does in celebrity photos, not only through face shape: most women have
long hair (80 %) and few men (10 %); baldness is mostly male (18 % vs 2 %); half of the men have
facial hair (a beard or stubble over jaw, chin and upper lip, in their hair colour); women's
lips are more saturated (make-up). Hair length, facial hair and make-up come from a separate
per-identity stream (``look``); baldness keeps its draw but its threshold now depends on gender,
which changes which photos draw a fringe, so some identities' later photo draws (pose,
expression, landmark noise) moved when this was introduced.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from voice2mesh import portable as pm
from voice2mesh.facemodel import MorphableModel
from voice2mesh.render import Light, pose_matrix, project, render, rotation_matrix
from voice2mesh.synth.spec import ImageNuisance

SKIN_TONES = np.array(  # (K, 3) RGB in [0, 1], light to dark
    [
        [0.96, 0.80, 0.69],
        [0.92, 0.72, 0.60],
        [0.84, 0.62, 0.47],
        [0.70, 0.50, 0.36],
        [0.55, 0.38, 0.26],
        [0.40, 0.27, 0.18],
    ]
)
HAIR_COLOURS = np.array(
    [
        [0.08, 0.06, 0.05],
        [0.22, 0.14, 0.08],
        [0.45, 0.30, 0.16],
        [0.75, 0.60, 0.35],
        [0.55, 0.55, 0.55],
        [0.35, 0.12, 0.05],
    ]
)


@functools.lru_cache(maxsize=4)
def feature_weights(model: MorphableModel) -> dict[str, np.ndarray]:
    """(N,) weights in [0, 1] of lips, brows and eyes on the mean face (for albedo)."""
    mean = np.asarray(model.mean, np.float64)
    lm = mean[np.where(model.landmarks >= 0, model.landmarks, 0)]  # (68, 3)

    def near(points: np.ndarray, radius: float) -> np.ndarray:
        d = np.linalg.norm(mean[:, None, :] - points[None], axis=-1).min(axis=1)
        return pm.exp(-0.5 * (d / radius) ** 2)

    def densify(ids: list[int], steps: int = 6) -> np.ndarray:
        a, b = lm[ids[:-1]], lm[ids[1:]]
        t = np.linspace(0.0, 1.0, steps)[None, :, None]
        return (a[:, None] + t * (b - a)[:, None]).reshape(-1, 3)

    jaw = densify(list(range(3, 14)))
    lips = densify([*range(48, 60), 48])
    inner = densify([*range(60, 68), 60])
    brows = np.concatenate([densify(list(range(17, 22))), densify(list(range(22, 27)))])
    eyes = np.concatenate([densify([*range(36, 42), 36]), densify([*range(42, 48), 42])])
    return {
        "lips": np.clip(near(lips, 2.5) + near(inner, 2.5), 0, 1),
        "brows": near(brows, 3.0),
        "eyes": near(eyes, 2.5),
        "beard": np.clip(near(jaw, 14.0) + near(lips, 10.0), 0, 1),
    }


LONG_HAIR = {"female": 0.8, "male": 0.1}  # P(long hair | gender)
BALD = {"female": 0.02, "male": 0.18}  # P(bald | gender)
FACIAL_HAIR = {"female": 0.0, "male": 0.5}  # P(beard or stubble | gender)


def identity_colours(
    rng: np.random.Generator, gender: str, look: np.random.Generator
) -> dict[str, np.ndarray]:
    """Per-identity RGB colours (skin, lips, brows, hair, facial hair), baldness, hair length.

    ``rng`` draws what every identity always drew (skin, hair colour, baldness); ``look`` the
    gendered style (long hair, facial hair and its strength, lip saturation).
    """
    if gender not in LONG_HAIR:
        raise ValueError(f"gender must be 'female' or 'male', got {gender!r}")
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.93, 1.05, 3)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
    bald = rng.random() < BALD[gender]
    long_hair = look.random() < LONG_HAIR[gender]
    beard = look.uniform(0.5, 0.95) if look.random() < FACIAL_HAIR[gender] else 0.0
    lips = [0.9, 0.5, 0.55] if gender == "female" else [0.95, 0.62, 0.62]
    return {
        "skin": np.clip(skin, 0, 1),
        "lips": np.clip(skin * np.array(lips), 0, 1),
        "brows": np.clip(0.5 * hair + 0.5 * skin * 0.35, 0, 1),
        "hair": np.clip(hair, 0, 1),
        "bald": np.array(bald),
        "hair_length": np.array((0.15, 0.45) if long_hair else (-0.1, 0.1)),
        "beard": np.array(beard),
    }


def vertex_colours(model: MorphableModel, colours: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 3) albedo: skin blended with lips, brows and dark eye lines."""
    w = feature_weights(model)
    albedo = np.broadcast_to(colours["skin"], (model.n_vertices, 3)).copy()
    beard = float(colours.get("beard", 0.0)) * w["beard"][:, None]
    albedo += beard * (0.6 * colours["hair"] - albedo)  # facial hair, under the lips
    for key, target in (("lips", colours["lips"]), ("brows", colours["brows"])):
        albedo += w[key][:, None] * (target - albedo)
    albedo *= 1.0 - 0.6 * w["eyes"][:, None]
    return np.clip(albedo, 0, 1)


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    top, bottom = rng.uniform(0.1, 0.95, 3), rng.uniform(0.1, 0.95, 3)
    t = np.linspace(0.0, 1.0, size)[:, None, None]
    grad = (top * (1 - t) + bottom * t) * 255  # (size, 1, 3)
    canvas = Image.fromarray(np.broadcast_to(grad, (size, size, 3)).astype(np.uint8))
    pen = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(2, 9)):  # clutter: shelves, posters, lamps, people behind
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * size
        w, h = rng.uniform(0.1, 0.6, 2) * size
        fill = tuple(int(c) for c in rng.uniform(0, 255, 3))
        shape = pen.ellipse if rng.random() < 0.4 else pen.rectangle
        shape([x0, y0, x0 + w, y0 + h], fill=fill)
    return canvas.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 3.0))))


def _head_points(model: MorphableModel, pose: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Image positions (x, row) of the head-frame reference points under ``pose``."""
    lm = np.asarray(model.mean, np.float64)[model.landmarks[[8, 27, 0, 16]]]  # chin, nasion, ears
    p = project(lm, pose)
    return {"chin": p[0], "nasion": p[1], "left": p[2], "right": p[3], "size": np.array(size)}


def _hair_box(pts: dict, colours: dict, rng: np.random.Generator) -> list[float]:
    """Bounding box (x0, row0, x1, row1) of the hair mass around the head."""
    size = int(pts["size"])
    width = abs(pts["right"][0] - pts["left"][0]) * rng.uniform(1.2, 1.45)
    cx = 0.5 * (pts["left"][0] + pts["right"][0])
    crown = size - pts["nasion"][1] - rng.uniform(0.7, 0.85) * width  # row of the crown
    bottom = size - pts["chin"][1] - rng.uniform(*colours["hair_length"]) * width  # long or short
    return [cx - width / 2, crown, cx + width / 2, bottom]


def _draw_hair(canvas: Image.Image, box: list[float], colours: dict) -> None:
    colour = colours["skin"] * 0.9 if colours["bald"] else colours["hair"]
    ImageDraw.Draw(canvas).ellipse(box, fill=tuple(int(c * 255) for c in colour))


def _draw_occluders(
    canvas: Image.Image, pts: dict, box: list[float], colours: dict, rng: np.random.Generator
) -> None:
    size = int(pts["size"])
    hair = tuple(int(c * 255) for c in colours["hair"])
    if not colours["bald"] and rng.random() < 0.3:  # a fringe: the hair mass above a wavy edge
        brow_row = size - pts["nasion"][1]
        x = np.linspace(box[0], box[2], 11)
        y = brow_row - rng.uniform(0.02, 0.15, 11) * size
        mask = Image.new("L", canvas.size, 0)
        ImageDraw.Draw(mask).ellipse(box, fill=255)
        edge = Image.new("L", canvas.size, 0)
        ImageDraw.Draw(edge).polygon(
            [(box[0], -1.0), *zip(x, y, strict=True), (box[2], -1.0)], fill=255
        )
        canvas.paste(hair, mask=Image.fromarray(np.minimum(np.asarray(mask), np.asarray(edge))))
    if rng.random() < 0.12:  # a microphone, hand or glass in front of the chin
        pen = ImageDraw.Draw(canvas)
        cx = pts["chin"][0] + rng.uniform(-0.2, 0.2) * size
        row = size - pts["chin"][1] + rng.uniform(-0.12, 0.05) * size
        w, h = rng.uniform(0.08, 0.2) * size, rng.uniform(0.2, 0.5) * size
        fill = tuple(int(c) for c in rng.uniform(0, 255, 3))
        pen.rounded_rectangle([cx - w / 2, row, cx + w / 2, row + h], radius=w / 3, fill=fill)


def sample_pose(
    model: MorphableModel, rng: np.random.Generator, size: int, nuisance: ImageNuisance
) -> np.ndarray:
    """(3, 4) pose: random rotation, scale and position of the face in the image."""
    R = rotation_matrix(*(rng.uniform(-1, 1, 3) * [nuisance.yaw, nuisance.pitch, nuisance.roll]))
    lm = np.asarray(model.mean, np.float64)[model.landmarks[model.landmark_valid]]
    width_mm = float(np.ptp(lm[:, 0]))  # landmark width: jaw contour ear to ear
    scale = nuisance.face_fraction * size / width_mm * rng.uniform(0.9, 1.1)
    centre = 0.5 * (lm.min(axis=0) + lm.max(axis=0))
    shift = rng.uniform(-1, 1, 2) * nuisance.shift * size
    c = scale * (R * centre).sum(axis=1)  # R · centre without BLAS (CPU-dependent rounding)
    return pose_matrix(scale, R, size / 2 + shift[0] - c[0], size / 2 + shift[1] - c[1])


def sample_light(rng: np.random.Generator) -> Light:
    azimuth, elevation = np.deg2rad(rng.uniform(-60, 60)), np.deg2rad(rng.uniform(-10, 50))
    direction = (
        pm.sin(azimuth) * pm.cos(elevation),
        pm.sin(elevation),
        pm.cos(azimuth) * pm.cos(elevation),
    )
    return Light(
        direction, ambient=float(rng.uniform(0.25, 0.5)), diffuse=float(rng.uniform(0.5, 0.8))
    )


def face_image(
    model: MorphableModel,
    vertices: np.ndarray,
    colours: dict[str, np.ndarray],
    pose: np.ndarray,
    rng: np.random.Generator,
    size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one photograph of a face.

    Args:
        model: the face model (triangles, landmarks).
        vertices: (N, 3) the face with its expression, canonical frame.
        colours: per-identity colours from ``identity_colours``.
        pose: (3, 4) pose from ``sample_pose``.
        rng: randomness for background, light, occluders and noise.
        size: image side in pixels.

    Returns:
        ``(image (size, size, 3) uint8, landmarks (68, 2) (x, row), visible (68,) bool)``.
    """
    canvas = _background(rng, size)
    pts = _head_points(model, pose, size)
    box = _hair_box(pts, colours, rng)
    _draw_hair(canvas, box, colours)
    tint = rng.uniform(0.88, 1.08, 3)
    result = render(
        vertices,
        model.triangles,
        pose,
        (size, size),
        colors=np.clip(vertex_colours(model, colours) * tint, 0, 1),
        light=sample_light(rng),
        background=np.asarray(canvas),
        landmarks=model.landmarks,
    )
    canvas = Image.fromarray(result.image)
    _draw_occluders(canvas, pts, box, colours, rng)
    noise = rng.uniform(1.0, 4.0) * pm.standard_normal(rng, (size, size, 3))  # sensor noise
    image = np.asarray(canvas, np.float64) + noise
    return (
        np.clip(np.round(image), 0, 255).astype(np.uint8),
        result.landmarks_2d,
        result.landmarks_visible,
    )
