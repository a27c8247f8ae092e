"""Rodent parasternal scenes as a 20-50 MHz linear array (Vevo class) images them.

A real 40 MHz mouse parasternal frame is not the dark-blood, bright-wall picture of a
human apical view: blood shows faint speckle, the myocardium is only moderately
brighter than it, the septum and posterior wall show bright *specular* lines where
their surfaces face the beam, the chest wall lies across the top in layers of muscle
and bright fascia, the RV lies between it and the septum, the aortic root leaves the
base with the LA behind it, and the rest of the field is tissue (mediastinum, lung),
not black. This module classifies the scatterers of such a scene and gives each its
echo amplitude; :mod:`echoquant.synth.generate` moves and images them as for every
other view.

Local LV coordinates are those of :mod:`echoquant.synth.heart` (``u`` apex -> base,
``v`` negative on the septal/anterior side); world ``(x, z)`` mm has the probe face at
``z = 0``. Appearance numbers (blood-to-myocardium amplitude, specular gain, chest
wall depth) are ranges drawn per case; ``scripts/rodent_appearance.py`` compares the
generated frames with real ones on the same statistics (``docs/rodent_appearance.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echoquant.synth.heart import HeartMotion
from echoquant.synth.scene import Placement, Tissue, inside_polygon, smooth_field

__all__ = ["RodentLook", "sample_look", "plax_tissue", "rodent_amplitude", "STATIC_TISSUE"]

# Tissue that does not move with the heart (chest wall and its fascia).
STATIC_TISSUE = (Tissue.CHEST_WALL, Tissue.FASCIA)


@dataclass(frozen=True)
class RodentLook:
    """Case-level appearance of a rodent parasternal scene (amplitudes relative to the
    myocardium's, linear).

    Attributes:
        blood: blood echo (0.1-0.35: faint speckle at 30-50 MHz).
        tissue: mediastinal tissue around the heart.
        chest: chest-wall muscle.
        fascia: bright fascia lines in the chest wall.
        specular: gain of wall surfaces facing the beam.
        pericardium: posterior pericardium / lung interface.
        chest_gap_mm: tissue between the chest wall and the RV free wall.
        n_fascia: fascia lines in the chest wall.
        lung: whether a bright lung edge runs behind the apex.
    """

    blood: float
    tissue: float
    chest: float
    fascia: float
    specular: float
    pericardium: float
    chest_gap_mm: float
    n_fascia: int
    lung: bool
    specks: float = 0.0
    aorta: bool = True


def sample_look(rng: np.random.Generator, length_mm: float) -> RodentLook:
    """Draw a case's appearance."""
    return RodentLook(
        blood=float(rng.uniform(0.1, 0.45)), tissue=float(rng.uniform(0.6, 1.4)), chest=float(rng.uniform(0.8, 1.6)),
        fascia=float(rng.uniform(2.0, 5.0)), specular=float(rng.uniform(1.5, 6.0)),
        pericardium=float(rng.uniform(1.5, 4.0)), chest_gap_mm=float(length_mm * rng.uniform(0.0, 0.05)),
        n_fascia=int(rng.integers(3, 9)), lung=bool(rng.uniform() < 0.6),
        specks=float(rng.choice([0.0, rng.uniform(0.002, 0.02)])), aorta=bool(rng.uniform() < 0.8),
    )


def _in_ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, au: float, av: float) -> np.ndarray:
    return ((u - cu) / au) ** 2 + ((v - cv) / av) ** 2 <= 1.0


def _lv_polygons(motion: HeartMotion) -> tuple[np.ndarray, np.ndarray]:
    s = motion.shape
    u_endo, v_endo = s.endocardium(120)
    u_epi, v_epi = s.epicardium(u_endo, v_endo)
    return np.stack([u_endo, v_endo], axis=1), np.stack([u_epi, v_epi], axis=1)


def plax_tissue(u: np.ndarray, v: np.ndarray, x: np.ndarray, z: np.ndarray, motion: HeartMotion,
                placement: Placement, look: RodentLook,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Tissue class and specular gain of ED scatterers in a rodent PLAX scene.

    Args:
        u, v: local LV coordinates of the scatterers at ED.
        x, z: their world coordinates.
        motion: the heart.
        placement: where the heart lies.
        look: the case's appearance.
        rng: scene randomness (aortic root size, RV depth).

    Returns:
        ``(labels, specular_gain, la_ellipse)``: the class of each scatterer, a gain
        (>= 1) for those on a wall surface facing the beam, and the LA ellipse
        ``{"la": (cu, cv, au, av)}`` in local mm for the truth mask.
    """
    s = motion.shape
    length, b = s.length_mm, s.b_mm
    labels = np.full(u.shape, Tissue.BACKGROUND, dtype=np.int8)
    endo, epi = _lv_polygons(motion)
    pts = np.stack([u, v], axis=1)
    in_cav = inside_polygon(endo, pts)
    in_epi = inside_polygon(epi, pts) | in_cav
    labels[in_epi] = Tissue.LV_MYO
    labels[in_cav] = Tissue.LV_BLOOD
    side = np.where(v < 0, -1.0, 1.0)
    half = s.half_width(np.clip(u, 0.0, length), side)
    # A papillary muscle stands off the posterior wall, a thin trabecular fringe lines it.
    fringe = in_cav & (np.abs(v) > half - 0.02 * length) & (u > 0.2 * length)
    labels[fringe] = Tissue.TRABECULAE
    size = rng.uniform(0.6, 1.5)
    pap_u, pap_v = 0.55 * length * rng.uniform(0.9, 1.1), 0.7 * b
    pap = _in_ellipse(u, v, pap_u, pap_v, 0.1 * length * size, 0.05 * length * size) & in_cav
    labels[pap] = Tissue.PAPILLARY
    # Chordae: thin bright strands from the papillary muscle toward the mitral leaflets,
    # and bright specks of trabeculae, inside the traced cavity (real PLAX frames show
    # them; a network that has not seen them takes them for a wall).
    for _ in range(int(rng.integers(0, 5))):
        tip_u, tip_v = length * rng.uniform(0.8, 0.98), b * rng.uniform(-0.3, 0.5)
        du, dv = tip_u - pap_u, tip_v - pap_v
        t = np.clip(((u - pap_u) * du + (v - pap_v) * dv) / (du * du + dv * dv), 0.0, 1.0)
        dist = np.hypot(u - (pap_u + t * du), v - (pap_v + t * dv))
        labels[in_cav & (dist < length * rng.uniform(0.004, 0.008))] = Tissue.PAPILLARY
    specks = in_cav & (rng.uniform(size=u.shape) < look.specks)
    labels[specks] = Tissue.PAPILLARY

    # RV: a band in front of the septum, thinning toward the apex and the base.
    sept_out = -(half + s.wall_septal_mm)
    rv_depth = b * rng.uniform(0.35, 0.75) * np.sin(np.pi * np.clip((u - 0.1 * length) / (1.0 * length), 0, 1))
    rv_wall = 0.05 * length
    free = ~in_epi
    in_rv = free & (v < sept_out) & (v > sept_out - rv_depth) & (u > 0.1 * length) & (u < 1.1 * length)
    rv_wall_pts = free & ~in_rv & (v <= sept_out - rv_depth) & (v > sept_out - rv_depth - rv_wall) \
        & (u > 0.1 * length) & (u < 1.1 * length) & (rv_depth > 0.05 * b)
    labels[in_rv] = Tissue.RV_BLOOD
    labels[rv_wall_pts] = Tissue.RV_WALL

    # Aortic root: leaves the base on the septal side, tilted toward the anterior.
    ra = length * rng.uniform(0.09, 0.13)
    tilt = np.radians(rng.uniform(5.0, 25.0))
    a_u0, a_v0 = 0.9 * length, -0.45 * b
    au = (u - a_u0) * np.cos(tilt) - (v - a_v0) * np.sin(tilt)
    av = (u - a_u0) * np.sin(tilt) + (v - a_v0) * np.cos(tilt)
    # The aortic root leaves the imaging plane in some acquisitions.
    along = (au > 0) & (au < length * rng.uniform(0.4, 0.7)) & look.aorta
    aorta_lumen = along & (np.abs(av) < ra) & ~in_epi
    aorta_wall = along & (np.abs(av) >= ra) & (np.abs(av) < ra + 0.035 * length) & ~in_epi
    labels[aorta_wall & (labels == Tissue.BACKGROUND)] = Tissue.AORTA_WALL
    labels[aorta_lumen] = Tissue.AORTA_BLOOD
    # Aortic valve cusps across the root near its origin.
    cusp = aorta_lumen & (np.abs(au - 0.25 * length) < 0.012 * length)
    labels[cusp] = Tissue.ANNULUS

    # LA behind the aortic root, meeting the LV over the posterior part of the base.
    base_post = float(s.half_width(np.array([length]), 1.0)[0])
    la = (length + 0.22 * length, 0.35 * base_post + 0.2 * b, 0.3 * length * rng.uniform(0.85, 1.15),
          max(0.75 * b * rng.uniform(0.9, 1.2), 0.6 * base_post))
    in_la = _in_ellipse(u, v, *la) & ~in_epi & ~aorta_lumen & ~aorta_wall
    la_wall = _in_ellipse(u, v, la[0], la[1], la[2] + 0.04 * length, la[3] + 0.04 * length) & ~in_la \
        & ~in_epi & (labels == Tissue.BACKGROUND)
    labels[la_wall] = Tissue.ATRIAL_WALL
    labels[in_la] = Tissue.LA_BLOOD

    # Posterior pericardium: a bright line behind the posterior wall and the apex.
    outer = np.stack([epi[:, 0], epi[:, 1] + np.where(epi[:, 1] > 0, 0.03 * length, 0.0)], axis=1)
    u_epi_o, v_epi_o = outer[:, 0], outer[:, 1]
    shell = np.stack([u_epi_o - np.where(u_epi_o < 0.3 * length, 0.04 * length, 0.0), v_epi_o], axis=1)
    peri = inside_polygon(shell, pts) & ~in_epi & (labels == Tissue.BACKGROUND) & ((v > 0) | (u < 0.25 * length))
    labels[peri] = Tissue.PERICARDIUM

    # Chest wall: across the top, its inner surface just in front of the RV.
    rv_top_u = np.linspace(0.15 * length, 1.05 * length, 40)
    rv_half = s.half_width(rv_top_u, -1.0)
    rv_top_v = -(rv_half + s.wall_septal_mm) - b * 0.75 - rv_wall
    tx, tz = placement.to_world(rv_top_u, rv_top_v)
    fit = np.polyfit(tx, tz, 1)
    slope = float(np.clip(fit[0], -0.25, 0.25))
    z_inner = float(np.min(tz - slope * tx)) - look.chest_gap_mm
    z_cw = z_inner + slope * x + 0.03 * length * smooth_field(x, np.zeros_like(x), rng, length * 0.6, n=3)
    chest = z < z_cw
    labels[chest & ~in_epi] = Tissue.CHEST_WALL
    depth_frac = z / np.maximum(z_cw, 1e-6)
    for k in range(look.n_fascia):
        level = rng.uniform(0.15, 0.95) if k else 0.985
        width = length * rng.uniform(0.004, 0.009)
        wobble = 0.01 * length * smooth_field(x, np.zeros_like(x), rng, length * 0.5, n=2)
        line = chest & (np.abs((depth_frac - level) * z_cw + wobble) < width)
        labels[line] = Tissue.FASCIA

    # Lung edge behind the apex (the bright oblique line of many real PLAX frames).
    if look.lung:
        apex_x, apex_z = placement.to_world(np.array([-0.05 * length]), np.array([0.3 * b]))
        ang = np.radians(rng.uniform(20, 50))
        dirx, dirz = -np.cos(ang), np.sin(ang)
        # Signed distance to the line through the point behind the apex.
        d = (x - apex_x[0]) * dirz - (z - apex_z[0]) * dirx
        lung = (d < 0) & (labels == Tissue.BACKGROUND) & (z > apex_z[0] - 0.2 * length)
        labels[lung] = Tissue.LUNG

    gain = _specular_gain(u, v, labels, motion, placement, look, in_cav, in_epi)
    gain[aorta_wall] *= 1.0 + look.specular * np.abs(np.cos(tilt + np.radians(placement.tilt_deg)))
    return labels, gain, {"la": np.asarray(la)}


def _specular_gain(u: np.ndarray, v: np.ndarray, labels: np.ndarray, motion: HeartMotion, placement: Placement,
                   look: RodentLook, in_cav: np.ndarray, in_epi: np.ndarray) -> np.ndarray:
    """Gain of scatterers within a thin shell of the endo- and epicardium, by how
    squarely the surface faces the (vertical) beams of a linear array."""
    s = motion.shape
    length = s.length_mm
    side = np.where(v < 0, -1.0, 1.0)
    uc = np.clip(u, 1e-3, length)
    half = s.half_width(uc, side)
    dh = (s.half_width(uc + 0.01, side) - s.half_width(uc - 0.01, side)) / 0.02
    # Outward normal of the side wall in local (u, v): (-dh, 1) on its side.
    nu, nv = -dh, side
    norm = np.hypot(nu, nv)
    d, e = placement.axes()
    nz = np.abs((nu * d[1] + nv * e[1]) / norm)
    shell_w = 0.008 * length
    wall = s.wall_thickness(uc, side)
    r = np.abs(v)
    endo_shell = np.abs(r - half) < shell_w
    epi_shell = np.abs(r - half - wall) < shell_w
    on = (endo_shell | epi_shell) & (in_epi | in_cav | (labels == Tissue.PERICARDIUM)) & (u > 0.05 * length)
    # Patchy: a surface is bright where it is smooth and square to the beam, not all along.
    # The patch field has its own generator, seeded from the case's look, so that adding it
    # did not shift the draws of the scene generator (and every scene after it).
    patch = np.clip(smooth_field(u, v, np.random.default_rng(int(1e6 * look.specular)), 0.15 * length, n=4), 0.0, None)
    gain = np.ones(u.shape)
    gain[on] = 1.0 + look.specular * nz[on] ** 8 * patch[on]
    return gain


# Echo amplitude of each class relative to the myocardium (before the case's look).
_RODENT_ECHO = {
    Tissue.BACKGROUND: None,  # look.tissue
    Tissue.LV_BLOOD: None,  # look.blood
    Tissue.LV_MYO: 1.0,
    Tissue.LA_BLOOD: None,
    Tissue.RV_BLOOD: None,
    Tissue.RA_BLOOD: None,
    Tissue.ATRIAL_WALL: 0.9,
    Tissue.RV_WALL: 0.9,
    Tissue.PERICARDIUM: None,  # look.pericardium
    Tissue.ANNULUS: 2.5,
    Tissue.CHEST_WALL: None,  # look.chest
    Tissue.PAPILLARY: 0.9,
    Tissue.TRABECULAE: 0.5,
    Tissue.AORTA_WALL: 1.4,
    Tissue.AORTA_BLOOD: None,
    Tissue.LUNG: 1.6,
    Tissue.FASCIA: None,  # look.fascia
}


def rodent_amplitude(labels: np.ndarray, x: np.ndarray, z: np.ndarray, look: RodentLook, rng: np.random.Generator,
                     scale_mm: float) -> np.ndarray:
    """Mean echo amplitude of each scatterer: class level from the look, case spread
    and smooth heterogeneity (stronger in the lung and chest wall)."""
    fill = {Tissue.BACKGROUND: look.tissue, Tissue.LV_BLOOD: look.blood, Tissue.LA_BLOOD: look.blood,
            Tissue.RV_BLOOD: look.blood, Tissue.RA_BLOOD: look.blood, Tissue.AORTA_BLOOD: look.blood,
            Tissue.PERICARDIUM: look.pericardium, Tissue.CHEST_WALL: look.chest, Tissue.FASCIA: look.fascia}
    table = np.array([fill.get(k, _RODENT_ECHO[k]) for k in range(len(_RODENT_ECHO))], dtype=np.float64)
    table = table * np.exp(rng.normal(0.0, 0.12, size=table.shape))
    amp = table[labels]
    hetero = smooth_field(x, z, rng, scale_mm)
    strong = np.isin(labels, [Tissue.LUNG, Tissue.CHEST_WALL, Tissue.BACKGROUND])
    return amp * np.exp(np.where(strong, 1.0, 0.5) * hetero)
