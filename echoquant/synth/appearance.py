"""Appearance statistics of an echo frame, computed the same way on real and generated
frames, to say how close the generator's rodent images are to real ones
(``scripts/rodent_appearance.py``, ``docs/rodent_appearance.md``).

All statistics need the frame, its pixel spacing (mm) and an LV cavity mask; on real
frames the mask is the model's trace, on generated ones the same model's trace (not
the truth), so both sides are measured by one method.

* ``cavity_wall_ratio``: median grey of the cavity over the median grey of the band
  0.15-0.45 mm outside it (blood against myocardium; 1 = no contrast);
* ``speckle_axial_mm`` / ``speckle_lateral_mm``: full width at half maximum of the
  autocorrelation of the frame's local grey fluctuations (a 0.5 mm high-pass), along
  and across the beam, over the middle half of the image;
* ``edge_rise_mm``: how far across the cavity border the grey level climbs from 20 %
  to 80 % of the way from the cavity's median to the wall band's (mean over border
  normals; smaller = sharper walls);
* ``bright_fraction``: share of pixels above the frame's 50th percentile plus three
  times its interquartile range (specular lines, fascia, pericardium);
* ``grey_p50`` / ``grey_iqr``: the grey-level median and spread.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import binary_dilation, gaussian_filter, map_coordinates

__all__ = ["APPEARANCE_KEYS", "appearance_stats", "autocorrelation_fwhm_mm"]

APPEARANCE_KEYS = ("cavity_wall_ratio", "speckle_axial_mm", "speckle_lateral_mm", "edge_rise_mm", "bright_fraction",
                   "grey_p50", "grey_iqr")


def _fwhm(profile: np.ndarray) -> float:
    """Width (samples) at half maximum of a centred, peak-normalised profile."""
    c = len(profile) // 2
    p = profile / profile[c]
    right = np.flatnonzero(p[c:] < 0.5)
    left = np.flatnonzero(p[: c + 1][::-1] < 0.5)
    if not len(right) or not len(left):
        return float("nan")

    def cross(side: np.ndarray, k: int) -> float:
        # Linear interpolation between the last sample above and the first below 0.5.
        a, b = side[k - 1], side[k]
        return k - 1 + (a - 0.5) / max(a - b, 1e-9)

    return cross(p[c:], int(right[0])) + cross(p[: c + 1][::-1], int(left[0]))


def autocorrelation_fwhm_mm(image: np.ndarray, spacing_mm: float) -> tuple[float, float]:
    """``(axial, lateral)`` speckle size: FWHM of the autocorrelation of the grey
    fluctuations (0.5 mm Gaussian high-pass) over the middle half of the frame."""
    img = image.astype(np.float64)
    h, w = img.shape
    patch = img[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
    fluct = patch - gaussian_filter(patch, 0.5 / spacing_mm)
    f = np.fft.fft2(fluct - fluct.mean())
    ac = np.fft.fftshift(np.real(np.fft.ifft2(f * np.conj(f))))
    cy, cx = np.array(ac.shape) // 2
    return _fwhm(ac[:, cx]) * spacing_mm, _fwhm(ac[cy, :]) * spacing_mm


def _edge_rise_mm(image: np.ndarray, cavity: np.ndarray, spacing_mm: float, inside: float, outside: float) -> float:
    """Mean 20-80 % rise distance of the grey level along outward border normals."""
    found, _ = cv2.findContours(cavity.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not found or outside <= inside:
        return float("nan")
    pts = max(found, key=cv2.contourArea)[:, 0, :].astype(np.float64)
    if len(pts) < 20:
        return float("nan")
    step = max(1, len(pts) // 120)
    tangent = np.roll(pts, -3, axis=0) - np.roll(pts, 3, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-9
    centre = np.array(np.nonzero(cavity)[::-1], dtype=np.float64).mean(axis=1)
    flip = np.sum((pts - centre) * normal, axis=1) < 0
    normal[flip] *= -1
    half = 0.4 / spacing_mm
    s = np.linspace(-half, half, 41)
    smooth = gaussian_filter(image.astype(np.float64), 0.02 / spacing_mm)
    rises = []
    for p, n in zip(pts[::step], normal[::step]):
        xy = p[None, :] + s[:, None] * n[None, :]
        prof = map_coordinates(smooth, [xy[:, 1], xy[:, 0]], order=1, mode="nearest")
        frac = (prof - inside) / (outside - inside)
        lo, hi = np.flatnonzero(frac >= 0.2), np.flatnonzero(frac >= 0.8)
        if len(lo) and len(hi) and hi[0] >= lo[0]:
            rises.append((s[hi[0]] - s[lo[0]]) * spacing_mm)
    return float(np.median(rises)) if rises else float("nan")


def appearance_stats(image: np.ndarray, cavity: np.ndarray, spacing_mm: float,
                     imaged: np.ndarray | None = None) -> dict[str, float]:
    """The statistics of :data:`APPEARANCE_KEYS` of one grey frame (see the module docstring).

    Args:
        image: ``(H, W)`` uint8 grey frame.
        cavity: ``(H, W)`` bool LV cavity mask.
        spacing_mm: pixel size.
        imaged: the scan area (default: the whole frame).
    """
    imaged = np.ones(image.shape, bool) if imaged is None else imaged
    grey = image[imaged].astype(np.float64)
    p50, q1, q3 = np.percentile(grey, [50, 25, 75])
    out = {"grey_p50": float(p50), "grey_iqr": float(q3 - q1),
           "bright_fraction": float(np.mean(grey > p50 + 3 * (q3 - q1)))}
    out["speckle_axial_mm"], out["speckle_lateral_mm"] = autocorrelation_fwhm_mm(image, spacing_mm)
    if cavity.any():
        lo, hi = max(1, int(round(0.15 / spacing_mm))), int(round(0.45 / spacing_mm))
        band = binary_dilation(cavity, iterations=hi) & ~binary_dilation(cavity, iterations=lo) & imaged
        inside, outside = float(np.median(image[cavity])), float(np.median(image[band]))
        out["cavity_wall_ratio"] = inside / max(outside, 1.0)
        out["edge_rise_mm"] = _edge_rise_mm(image, cavity, spacing_mm, inside, outside)
    else:
        out["cavity_wall_ratio"] = out["edge_rise_mm"] = float("nan")
    return out
