"""Anatomical relief of the procedural synthetic face: smooth localised height fields.

Every feature is a function of the base surface's frontal coordinates ``(x, y)`` in mm (eye
line at y = 0, see ``grid``) and is symmetric in x. Skeletal features (brow ridge,
cheekbones, chin, jaw angles, eye sockets) displace along the base normal; the nose, eyeballs
and lips displace along +z so that they project straight forward.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

from voice2mesh import portable as pm
from voice2mesh.facemodel.synthetic.grid import STOMION_Y, smoothstep

EYE_INNER = (16.0, -1.5)  # endocanthion (|x|, y) mm
EYE_OUTER = (45.0, 0.0)  # exocanthion
MOUTH_HALF_WIDTH = 25.0  # cheilion |x| (mm)
# Midline protrusion of the nose above the base face (mm) at height y, and its half-width.
_NOSE_Y = np.array(
    [9.0, 4.0, -4.0, -14.0, -24.0, -30.0, -33.5, -36.5, -40.0, -43.5, -47.0, -50.0, -54.0]
)
_NOSE_P = np.array([0.0, 1.6, 4.6, 9.4, 14.2, 18.0, 20.5, 20.8, 18.0, 12.5, 5.8, 1.6, 0.0])
_NOSE_W = np.array([12.0, 11.5, 10.5, 10.5, 11.0, 11.5, 11.5, 11.5, 11.0, 10.5, 10.0, 10.0, 10.0])
_NOSE_K = np.array([2.0, 2.0, 1.9, 1.8, 1.6, 1.4, 1.25, 1.2, 1.2, 1.25, 1.35, 1.5, 1.5])
# Recess (mm) of the five mouth-seam rows into the mouth at neutral.
SEAM_RECESS = np.array([0.0, 1.6, 2.4, 1.6, 0.0])


def gauss(ax, y, cx: float, cy: float, sx: float, sy: float):
    """Anisotropic Gaussian bump of height 1 centred at (cx, cy)."""
    return pm.exp(-0.5 * (((ax - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def eye_fissure(ax, y):
    """Lid margins of the palpebral fissure (the open eye's almond outline).

    Args:
        ax, y: (...) |x| and y in mm.

    Returns:
        (u, upper, lower, inside): position along the eye (0 inner corner, 1 outer corner,
        unclipped), upper and lower lid margin heights at that position, and a signed
        distance-like depth inside the fissure (mm, > 0 inside).
    """
    (x0, y0), (x1, y1) = EYE_INNER, EYE_OUTER
    u = (ax - x0) / (x1 - x0)
    uc = np.clip(u, 0.0, 1.0)
    chord = y0 + (y1 - y0) * uc
    arch = pm.sin(np.pi * uc)
    upper = chord + 5.8 * pm.power(arch, 0.7) * (1.0 + 0.2 * pm.cos(np.pi * uc))  # medial peak
    lower = chord - 4.0 * pm.power(arch, 0.85) * (1.0 - 0.2 * pm.cos(np.pi * uc))
    ends = np.minimum(u, 1.0 - u) * (x1 - x0) * 0.6
    inside = np.minimum(np.minimum(upper - y, y - lower), ends)
    return u, upper, lower, inside


def brow_line(ax):
    """Height (mm) of the brow ridge's crest at ``ax`` = |x|: arched, highest laterally."""
    return 12.0 + 3.0 * pm.sin(np.pi * np.clip((ax - 8.0) / 42.0, 0.0, 1.0))


def skeleton_relief(ax, y):
    """Bone-driven relief along the base normal (mm): brows, sockets, cheekbones, chin, jaw."""
    brow = 3.2 * pm.exp(-0.5 * ((y - brow_line(ax)) / 5.0) ** 2) * smoothstep(58.0, 40.0, ax)
    glabella = 1.6 * gauss(ax, y, 0.0, 12.0, 9.0, 6.0)
    forehead = 1.8 * gauss(ax, y, 24.0, 45.0, 16.0, 14.0)
    temple = -2.5 * gauss(ax, y, 58.0, 22.0, 7.0, 13.0)
    socket = -7.5 * pm.exp(-0.5 * pm.power(((ax - 30.5) / 13.0) ** 2 + ((y - 1.0) / 9.0) ** 2, 1.3))
    cheekbone = 4.5 * gauss(ax, y, 49.0, -17.0, 12.0, 9.0)
    cheek = 3.2 * gauss(ax, y, 37.0, -42.0, 13.0, 13.0) - 1.0 * gauss(ax, y, 54.0, -50.0, 8.0, 10.0)
    jaw = 2.5 * gauss(ax, y, 52.0, -80.0, 8.0, 7.0)
    chin = 5.0 * gauss(ax, y, 0.0, -101.0, 13.0, 7.5) - 2.0 * gauss(ax, y, 0.0, -87.0, 14.0, 2.8)
    # Nasolabial fold: a shallow groove from the nose wing to beside the mouth corner.
    t = np.clip(((ax - 18.0) * 13.0 + (y + 44.0) * -30.0) / (13.0**2 + 30.0**2), 0.0, 1.0)
    dist = np.hypot(ax - (18.0 + 13.0 * t), y - (-44.0 - 30.0 * t))
    fold = (
        -0.9
        * pm.exp(-0.5 * (dist / 2.6) ** 2)
        * pm.power(pm.sin(np.pi * np.clip(t * 1.1, 0, 1)), 0.7)
    )
    return brow + glabella + forehead + temple + socket + cheekbone + cheek + jaw + chin + fold


def eye_relief(ax, y):
    """Eyeballs and eyelids, along +z (mm)."""
    u, upper, lower, inside = eye_fissure(ax, y)
    r = np.hypot((ax - 30.5) / 12.5, (y - 0.5) / 11.0)
    globe = 6.5 * np.clip(1.0 - r**2, 0.0, None)
    opening = 1.0 / (1.0 + pm.exp(-inside / 0.8))  # 1 inside the fissure, 0 on the lids
    lids = -2.0 * opening  # the visible eyeball sits 2 mm behind the lid margins
    cornea = 1.4 * pm.power(
        np.clip(1.0 - ((ax - 30.0) ** 2 + (y - 1.0) ** 2) / 30.25, 0.0, None), 1.5
    )
    taper = pm.power(pm.sin(np.pi * np.clip(u, 0.0, 1.0)), 0.6)
    margin = 0.7 * pm.exp(-0.5 * ((y - upper - 1.0) / 1.4) ** 2) * taper
    crease = -1.0 * pm.exp(-0.5 * ((y - upper - 4.2) / 1.4) ** 2) * taper
    lower_lid = 0.5 * pm.exp(-0.5 * ((y - lower + 1.6) / 1.0) ** 2) * taper
    return globe + lids + cornea * opening + margin + crease + lower_lid


def nose_relief(ax, y):
    """Nose bridge, tip, wings (alae) and nostrils, along +z (mm)."""
    p = PchipInterpolator(_NOSE_Y[::-1], _NOSE_P[::-1], extrapolate=False)(y)
    w = np.interp(y, _NOSE_Y[::-1], _NOSE_W[::-1])
    k = np.interp(y, _NOSE_Y[::-1], _NOSE_K[::-1])
    p = np.nan_to_num(p)
    bridge = p * pm.power(np.clip(1.0 - (ax / w) ** 2, 0.0, None), k)
    rho = np.hypot((ax - 12.0) / 6.5, (y + 41.5) / 5.5)
    ala = 5.5 * pm.power(np.clip(1.0 - rho**2, 0.0, None), 1.3)
    crease = -0.8 * pm.exp(-0.5 * ((rho - 1.05) / 0.15) ** 2) * smoothstep(-47.0, -38.0, y)
    nostril = -2.0 * gauss(ax, y, 5.5, -46.0, 2.2, 1.3)
    return _soft_max(bridge, ala, 2.5) + crease + nostril


def _soft_max(a, b, k: float):
    """Smooth maximum of two height fields (log-sum-exp with softness ``k`` mm)."""
    m = np.maximum(a, b)
    return m + k * pm.log(pm.exp((a - m) / k) + pm.exp((b - m) / k)) - k * pm.log(2.0)


def lip_borders(ax):
    """Heights (mm) of the upper and lower vermilion borders at ``ax`` = |x| (cupid's bow)."""
    width = np.clip(1.0 - (ax / MOUTH_HALF_WIDTH) ** 2, 0.0, None)
    y_up = STOMION_Y + 8.5 * pm.power(width, 0.6) - 1.0 * pm.exp(-0.5 * (ax / 2.5) ** 2) + 0.05
    y_lo = STOMION_Y - 9.5 * pm.power(width, 0.6) - 0.05
    return y_up, y_lo


def mouth_relief(ax, y, seam):
    """Lips (upper and lower vermilion, philtrum) and the recessed mouth seam, along +z (mm).

    Args:
        ax, y: (...) |x| and y in mm.
        seam: (...) int seam-row index (into ``SEAM_OFFSETS``), -1 off the seam.
    """
    q = ax / MOUTH_HALF_WIDTH
    y_up, y_lo = lip_borders(ax)
    a = (y - STOMION_Y) / (y_up - STOMION_Y)  # 0 at the seam, 1 at the upper border
    b = (STOMION_Y - y) / (STOMION_Y - y_lo)  # 0 at the seam, 1 at the lower border
    fade = smoothstep(1.0, 0.8, q)
    upper = 3.6 * _lip_profile(a) * fade
    lower = 3.2 * _lip_profile(b, 0.32) * fade
    skin = (
        2.4 * smoothstep(-48.0, -60.0, y) * smoothstep(-86.0, -74.0, y) * smoothstep(50.0, 8.0, ax)
    )
    philtrum = 0.45 * gauss(ax, y, 4.5, -55.0, 1.8, 5.0) - 0.3 * gauss(ax, y, 0.0, -55.0, 2.0, 5.0)
    corner = -1.5 * gauss(ax, y, 26.5, STOMION_Y - 0.5, 3.0, 3.0)
    recess = np.where(seam >= 0, SEAM_RECESS[np.clip(seam, 0, None)], 0.0) * fade
    return upper + lower + skin + philtrum + corner - recess


def _lip_profile(t, roll: float = 0.22):
    """Vermilion bulge across one lip: 0 at the seam (t=0), full inside, fading past t=1."""
    rise = pm.power(pm.sin(0.5 * np.pi * np.clip(t / 0.55, 0.0, 1.0)), 0.7)
    fall = pm.exp(-0.5 * (np.clip(t - 1.0, 0.0, None) / roll) ** 2)
    return np.where(t >= 0.0, rise * fall, 0.0)
