"""Contact sheet of the synthetic world: photos with landmarks, a spectrogram, the true mesh.

One row per identity: up to three of its face photos with their ``.pts`` landmarks drawn,
the spectrogram of its first utterance, and a render of its true neutral face.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from matplotlib import colormaps
from PIL import Image

from voice2mesh.data.pts import read_pts
from voice2mesh.facemodel import MorphableModel
from voice2mesh.render import draw_landmarks, fit_pose, image_grid, render
from voice2mesh.synth.truth import Truth


def spectrogram_image(samples: np.ndarray, sample_rate: int, height: int, width: int) -> np.ndarray:
    """(height, width, 3) uint8 log-power spectrogram (0–8 kHz, 25 ms Hann, 10 ms hop)."""
    x = samples.astype(np.float64)
    n, hop = int(0.025 * sample_rate), int(0.010 * sample_rate)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop] * np.hanning(n)  # (T, n)
    power = np.abs(np.fft.rfft(frames, 512, axis=1)) ** 2  # (T, 257)
    db = 10.0 * np.log10(power + 1e-3)
    db = np.clip((db - (db.max() - 70.0)) / 70.0, 0.0, 1.0).T[::-1]  # (F, T), low freq bottom
    rgb = (colormaps["magma"](db)[..., :3] * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))


def world_sheet(
    root: Path,
    model: MorphableModel,
    rows: list[dict],
    size: int = 128,
) -> np.ndarray:
    """Compose the contact sheet.

    Args:
        root: the synthetic world folder (``vggface/``, ``voxceleb1/``).
        model: the world's face model.
        rows: per identity ``{"name", "images": [rel paths], "wav": rel path, "shape": (Ks,)}``.
        size: tile side in pixels.

    Returns:
        (H, W, 3) uint8 image.
    """
    tiles, labels = [], []
    pose = fit_pose(np.asarray(model.mean), (size, size), yaw=25.0, margin=0.1)
    for row in rows:
        cells: list[np.ndarray | None] = []
        for rel in row["images"][:3]:
            photo = np.asarray(Image.open(root / rel).convert("RGB"))
            points = read_pts((root / rel).with_suffix(".pts"))
            scale = size / photo.shape[0]
            photo = np.asarray(Image.fromarray(photo).resize((size, size)))
            cells.append(draw_landmarks(photo, points * scale, radius=1.2))
        cells += [None] * (3 - len(cells))
        samples, rate = sf.read(root / row["wav"], dtype="int16")
        cells.append(spectrogram_image(samples, rate, size, 2 * size))
        vertices = model.reconstruct(np.asarray(row["shape"], np.float32)[None])[0]
        cells.append(render(vertices, model.triangles, pose, (size, size)).image)
        tiles.append(cells)
        labels.append(row["name"])
    columns = [
        "photo + .pts",
        "photo + .pts",
        "photo + .pts",
        "first utterance (0-8 kHz)",
        "true face",
    ]
    return image_grid(tiles, row_labels=labels, col_labels=columns)


def preview_rows(truth: Truth, n: int) -> list[dict]:
    """Rows for ``world_sheet``: ``n`` identities with faces and voices, alternating genders."""
    both = truth.identities.query("has_face and has_voice").sort_values("name")
    picks = [
        *both.query("gender == 'male'").name[: (n + 1) // 2],
        *both.query("gender == 'female'").name[: n // 2],
    ]
    return [
        {
            "name": name,
            "images": truth.images.path[truth.images.name == name].tolist(),
            "wav": truth.utterances.path[truth.utterances.name == name].iloc[0],
            "shape": truth.shape_of(name),
        }
        for name in sorted(picks)
    ]
