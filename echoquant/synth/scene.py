"""The tissue scene: where the heart sits in front of the probe, what each
scatterer is, and how bright it echoes.

World coordinates are ``(x, z)`` in mm with the probe at the origin, ``x`` lateral
(screen right positive) and ``z`` depth. The LV local frame ``(u, v)`` (see
:mod:`echoquant.synth.heart`) is placed by its apex position and tilt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from matplotlib.path import Path as MplPath

from echoquant.synth.heart import HeartMotion

__all__ = ["Placement", "Tissue", "classify", "echogenicity", "inside_polygon", "smooth_field"]


class Tissue:
    """Integer labels of scatterer tissue classes."""

    BACKGROUND = 0
    LV_BLOOD = 1
    LV_MYO = 2
    LA_BLOOD = 3
    RV_BLOOD = 4
    RA_BLOOD = 5
    ATRIAL_WALL = 6
    RV_WALL = 7
    PERICARDIUM = 8
    ANNULUS = 9
    CHEST_WALL = 10
    PAPILLARY = 11
    TRABECULAE = 12
    AORTA_WALL = 13
    AORTA_BLOOD = 14
    LUNG = 15
    FASCIA = 16


@dataclass(frozen=True)
class Placement:
    """Where the LV sits: apex position (world mm), tilt of the long axis from the
    beam axis (deg, positive turns the base to screen right), and whether the screen
    is mirrored (vendors show the LV on either side)."""

    apex_x_mm: float
    apex_z_mm: float
    tilt_deg: float
    mirror: bool = False

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors of ``u`` (apex to base) and ``v`` (septal to lateral) in world."""
        a = np.radians(self.tilt_deg)
        d = np.array([np.sin(a), np.cos(a)])
        e = np.array([np.cos(a), -np.sin(a)])
        if self.mirror:
            d, e = d * np.array([-1, 1]), e * np.array([-1, 1])
        return d, e

    def to_world(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d, e = self.axes()
        return self.apex_x_mm + u * d[0] + v * e[0], self.apex_z_mm + u * d[1] + v * e[1]

    def to_local(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d, e = self.axes()
        dx, dz = x - self.apex_x_mm, z - self.apex_z_mm
        return dx * d[0] + dz * d[1], dx * e[0] + dz * e[1]


def smooth_field(x: np.ndarray, z: np.ndarray, rng: np.random.Generator, scale_mm: float, n: int = 6) -> np.ndarray:
    """A smooth random field of unit-ish amplitude (a sum of random plane waves)."""
    out = np.zeros_like(x, dtype=np.float64)
    for _ in range(n):
        k = rng.normal(size=2) / scale_mm
        out += np.cos(k[0] * x + k[1] * z + rng.uniform(0, 2 * np.pi))
    return out / np.sqrt(n / 2)

def inside_polygon(vertices: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Which of the points ``(N, 2)`` lie inside the closed polygon ``(M, 2)``.

    The same answer as ``matplotlib.path.Path(vertices).contains_points(pts)`` (the
    test runs point by point), asked only of the points within the polygon's bounding
    box: a scene holds ten times more scatterers than any one structure covers.
    """
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    box = np.flatnonzero((pts[:, 0] >= lo[0]) & (pts[:, 0] <= hi[0]) & (pts[:, 1] >= lo[1]) & (pts[:, 1] <= hi[1]))
    out = np.zeros(len(pts), dtype=bool)
    out[box] = MplPath(vertices).contains_points(pts[box])
    return out



def _in_ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, au: float, av: float) -> np.ndarray:
    return ((u - cu) / au) ** 2 + ((v - cv) / av) ** 2 <= 1.0


@dataclass(frozen=True)
class Chambers:
    """Ellipses (centre u, centre v, semi-axis u, semi-axis v) of the other chambers,
    in LV local mm; None where the view does not show the chamber."""

    la: tuple[float, float, float, float]
    ra: tuple[float, float, float, float] | None
    rv: tuple[float, float, float, float] | None
    atrial_wall_mm: float
    rv_wall_mm: float


def chambers_for(motion: HeartMotion, view: str, rng: np.random.Generator) -> Chambers:
    """Size and place the LA, RA and RV around the LV for a view."""
    s = motion.shape
    length, b = s.length_mm, s.b_mm
    base_w = float(s.half_width(np.array([length]), 1.0)[0])
    scale = rng.uniform(0.85, 1.2)
    la_au, la_av = 0.27 * length * scale, 1.05 * base_w * rng.uniform(0.95, 1.25)
    # The LA meets the cavity along the whole annulus line, as CAMUS traces it: its
    # ellipse is centred just below the annulus (the part above is hidden by the LV).
    la = (length + 0.3 * la_au, rng.uniform(-0.05, 0.1) * base_w, 1.3 * la_au, max(la_av, 1.1 * base_w))
    wall_atrium = max(0.03 * length, 0.4)
    if view == "A2C":
        return Chambers(la, None, None, wall_atrium, 0.0)
    rv_av = 0.55 * b * rng.uniform(0.8, 1.2)
    sept = s.wall_septal_mm
    rv = (0.6 * length, -(0.9 * b + sept + 0.85 * rv_av), 0.5 * length * rng.uniform(0.9, 1.1), rv_av)
    if view == "PLAX":
        # No RA in the parasternal long axis; the RV lies in the near field.
        return Chambers(la, None, rv, wall_atrium, 0.05 * length)
    ra_av = 0.8 * la_av * rng.uniform(0.85, 1.15)
    ra = (length + 0.26 * length * scale + 0.05 * length, -(base_w + sept + 0.9 * ra_av), 0.26 * length * scale, ra_av)
    return Chambers(la, ra, rv, wall_atrium, 0.05 * length)


def classify(u: np.ndarray, v: np.ndarray, motion: HeartMotion, ch: Chambers) -> np.ndarray:
    """Tissue class of ED points given in LV local coordinates."""
    s = motion.shape
    length = s.length_mm
    labels = np.full(u.shape, Tissue.BACKGROUND, dtype=np.int8)

    # Cavity and epicardium are the same polygons the truth masks are drawn from,
    # so the image and its labels agree to the scatterer.
    u_endo, v_endo = s.endocardium(120)
    u_epi, v_epi = s.epicardium(u_endo, v_endo)
    pts = np.stack([u, v], axis=1)
    in_lv_cavity = inside_polygon(np.stack([u_endo, v_endo], axis=1), pts)
    in_lv_epi = inside_polygon(np.stack([u_epi, v_epi], axis=1), pts) | in_lv_cavity
    labels[in_lv_epi] = Tissue.LV_MYO
    labels[in_lv_cavity] = Tissue.LV_BLOOD
    # Inside the traced cavity, as annotators trace it: trabeculae fringe the
    # endocardium and papillary muscles stand off the lateral (and septal) wall.
    side = np.where(v < 0, -1.0, 1.0)
    half = s.half_width(np.clip(u, 0.0, length), side)
    fringe = in_lv_cavity & (np.abs(v) > half - 0.035 * length) & (u > 0.15 * length)
    labels[fringe] = Tissue.TRABECULAE
    for pu, pv, size in ((0.58, 0.74, 1.0), (0.52, -0.74, 0.7)):
        pap = _in_ellipse(u, v, pu * length, pv * s.b_mm, 0.11 * length * size, 0.06 * length * size)
        labels[pap & in_lv_cavity] = Tissue.PAPILLARY

    def chamber(e: tuple[float, float, float, float] | None, blood: int, wall_label: int, wall_mm: float) -> None:
        if e is None:
            return
        cu, cv, au, av = e
        free = ~in_lv_epi & ~in_lv_cavity
        outer = _in_ellipse(u, v, cu, cv, au + wall_mm, av + wall_mm) & free & (labels == Tissue.BACKGROUND)
        labels[outer] = wall_label
        inner = _in_ellipse(u, v, cu, cv, au, av) & free
        labels[inner] = blood

    chamber(ch.rv, Tissue.RV_BLOOD, Tissue.RV_WALL, ch.rv_wall_mm)
    chamber(ch.ra, Tissue.RA_BLOOD, Tissue.ATRIAL_WALL, ch.atrial_wall_mm)
    chamber(ch.la, Tissue.LA_BLOOD, Tissue.ATRIAL_WALL, ch.atrial_wall_mm)

    # Fibrous annulus and atrioventricular groove fat: bright around the hinge points.
    hinge_w = s.half_width(np.array([length]), np.array([1.0]))[0]
    for sv in (-1.0, 1.0):
        d = np.hypot(u - length, v - sv * hinge_w)
        near = (d < 0.08 * length) & ~in_lv_cavity & (labels != Tissue.LA_BLOOD)
        labels[near] = Tissue.ANNULUS

    # Pericardium: a bright band just outside the epicardium of the lateral wall and apex.
    band = 0.05 * length
    outer = replace(s, wall_septal_mm=s.wall_septal_mm + band, wall_lateral_mm=s.wall_lateral_mm + band,
                    wall_apex_mm=s.wall_apex_mm + band)
    u_out, v_out = outer.epicardium(u_endo, v_endo)
    in_outer = inside_polygon(np.stack([u_out, v_out], axis=1), pts)
    lateral_side = (v > 0) | (u < 0.3 * length)
    peri = in_outer & ~in_lv_epi & lateral_side & (labels == Tissue.BACKGROUND)
    labels[peri] = Tissue.PERICARDIUM
    # Far side of the atria: the posterior pericardium / descending aorta wall.
    la_cu, la_cv, la_au, la_av = ch.la
    far = _in_ellipse(u, v, la_cu + 0.35 * la_au, la_cv, la_au * 1.2, la_av * 1.5) & ~_in_ellipse(u, v, la_cu, la_cv, la_au * 1.15, la_av * 1.15)
    far &= (u > la_cu + 0.5 * la_au) & (labels == Tissue.BACKGROUND)
    labels[far] = Tissue.PERICARDIUM
    return labels


# Mean echo amplitude (linear) of each class, before the random spread of a case.
_BASE_ECHO = {
    Tissue.BACKGROUND: 0.12,
    Tissue.LV_BLOOD: 0.02,
    Tissue.LV_MYO: 1.0,
    Tissue.LA_BLOOD: 0.02,
    Tissue.RV_BLOOD: 0.02,
    Tissue.RA_BLOOD: 0.02,
    Tissue.ATRIAL_WALL: 0.55,
    Tissue.RV_WALL: 0.7,
    Tissue.PERICARDIUM: 4.5,
    Tissue.ANNULUS: 2.5,
    Tissue.CHEST_WALL: 0.8,
    Tissue.PAPILLARY: 0.8,
    Tissue.TRABECULAE: 0.22,
    Tissue.AORTA_WALL: 1.5,
    Tissue.AORTA_BLOOD: 0.02,
    Tissue.LUNG: 1.2,
    Tissue.FASCIA: 2.0,
}


def echogenicity(labels: np.ndarray, x: np.ndarray, z: np.ndarray, rng: np.random.Generator, scale_mm: float) -> np.ndarray:
    """Mean echo amplitude of each scatterer: class brightness with case-level
    random spread and smooth spatial heterogeneity."""
    # The spread is drawn for the 13 classes of the apical scenes only, so that the
    # classes added for rodent parasternal scenes leave apical renders unchanged.
    n_apical = Tissue.TRABECULAE + 1
    table = np.array([_BASE_ECHO[k] for k in range(len(_BASE_ECHO))])
    table[:n_apical] *= np.exp(rng.normal(0.0, 0.18, size=n_apical))
    blood = [Tissue.LV_BLOOD, Tissue.LA_BLOOD, Tissue.RV_BLOOD, Tissue.RA_BLOOD]
    table[blood] = table[Tissue.LV_BLOOD] * rng.uniform(0.3, 3.0)
    table[Tissue.AORTA_BLOOD] = table[Tissue.LV_BLOOD]
    amp = table[labels]
    hetero = smooth_field(x, z, rng, scale_mm)
    return amp * np.exp(0.5 * hetero)
