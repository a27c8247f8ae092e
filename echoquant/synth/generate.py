"""Synthetic echo loops with exact ground truth.

``sample_params(preset, seed)`` draws a case (anatomy, function, timing, probe,
image quality) from a preset's ranges; ``generate_case(params)`` renders it and
computes the truth from geometry, never from the images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from echoquant.geometry import method_of_disks, polyline_length
from echoquant.synth.wallmotion import loop_wall_motion_truth
from echoquant.synth.heart import SEGMENT_NAMES, HeartMotion, Kinesis, LVShape, solve_motion
from echoquant.synth.imaging import Imager, ImagingParams, Probe
from echoquant.synth.overlays import draw_overlays
from echoquant.synth.rodent import STATIC_TISSUE, plax_tissue, rodent_amplitude, sample_look
from echoquant.synth.sax import SaxMotion, sax_specular, sax_tissue, sax_truth
from echoquant.synth.scene import Placement, Tissue, chambers_for, classify, echogenicity
from echoquant.synth.timing import beat_starts, systolic_fraction

__all__ = ["CaseParams", "SynthCase", "PRESETS", "sample_params", "generate_case", "frame_schedule", "LABELS",
           "GENERATOR_VERSION"]

LABELS = {"background": 0, "lv_cavity": 1, "lv_myocardium": 2, "la": 3}

# Bumped whenever the same seed renders a different picture, so that caches of
# generated training frames are not reused across generator changes.
# 2: rodent radial decay length scales with heart size (thicker-walled, realistic
# rodent thickening). 3: rodent parasternal views (PLAX, SAX) as Vevo-class linear
# arrays image them (echoquant.synth.rodent, echoquant.synth.sax). 4: chordae and
# trabecular specks in the rodent PLAX cavity, optional aortic root, wider echo ranges,
# parasternal speckle as elongated across the beam as real 40 MHz frames' (lateral PSF).
# 5: EKV-style parasternal loops (one cycle at 1,000 frames/s) in 15 % of cases.
# 6: SAX sections turned by a third of the sampled tilt (anterior up, as displayed);
#    truth of PLAX dimensions, SAX LVID along the beam, SAX wall motion, epicardial area.
# 7: a moving scatterer's amplitude is scaled by sqrt(J), J the local area change of the
#    map, so that the mean echo per area stays constant: blood flows out of the section
#    in systole instead of being squeezed into a denser, brighter cavity (real CAMUS ES/ED
#    cavity-to-myocardium grey ratio 0.98; versions <= 6: 1.08 human, 1.14-1.17 rodent).
GENERATOR_VERSION = 7


def echo_density_gain(jacobian: np.ndarray) -> np.ndarray:
    """Amplitude factor of scatterers whose surroundings changed area by ``jacobian``
    (area now / area at ED): speckle power adds over scatterers, so ``sqrt(J)`` keeps
    the mean echo per area of every tissue (and of blood) what it was at ED. Clipped to
    J in [0.2, 5]: the map never squeezes real tissue more."""
    return np.sqrt(np.clip(jacobian, 0.2, 5.0))


def _linear_map_gradient(motion: HeartMotion, u: np.ndarray, v: np.ndarray, d: tuple[np.ndarray, np.ndarray],
                         eps_mm: float = 0.01) -> np.ndarray:
    """``(N, 4)`` gradient ``(du/du, du/dv, dv/du, dv/dv)`` of the unit displacement at ED
    points (forward differences; the map is ``x + f d(x)``, so J(f) = det(I + f G))."""
    du_u, dv_u = motion.unit_displacement(u + eps_mm, v)
    du_v, dv_v = motion.unit_displacement(u, v + eps_mm)
    return np.stack([(du_u - d[0]) / eps_mm, (du_v - d[0]) / eps_mm, (dv_u - d[1]) / eps_mm,
                     (dv_v - d[1]) / eps_mm], axis=1)


def _jacobian_at(grad: np.ndarray, f: float) -> np.ndarray:
    """Area change ``det(I + f G)`` of the linear map at systolic fraction ``f``."""
    return (1.0 + f * grad[:, 0]) * (1.0 + f * grad[:, 3]) - f * f * grad[:, 1] * grad[:, 2]


@dataclass
class CaseParams:
    """Everything that defines one synthetic loop (JSON-serialisable)."""

    seed: int
    species: str
    view: str
    lvef_pct: float
    gls_pct: float
    heart_rate_bpm: float
    fps: float
    n_beats: float
    start_phase: float
    es_phase: float
    rr_jitter: float
    shape: dict[str, Any]
    kinesis: tuple[float, ...]
    placement: dict[str, Any]
    probe: dict[str, Any]
    imaging: dict[str, Any]
    canvas: tuple[int, int]
    spacing_mm: float
    overlays: bool
    color_overlays: bool
    probe_motion_mm: float
    scatterers_per_cell: float = 5.0
    pathology: str = "normal"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CaseParams":
        d = dict(d)
        d["kinesis"] = tuple(d["kinesis"])
        d["canvas"] = tuple(d["canvas"])
        d["shape"] = {**d["shape"], "thin_segments": tuple(d["shape"].get("thin_segments", ()))}
        return cls(**d)


@dataclass
class SynthCase:
    """A rendered loop and its truth.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 RGB screen frames (grey inside the sector).
        labels: ``(T, H, W)`` uint8 label maps (see :data:`LABELS`).
        sector: ``(H, W)`` bool imaging sector.
        truth: scalar truth (LVEF, GLS, volumes, ED/ES frames, regional strain, ...).
        curves: per-frame truth curves (volume, strain) and contours.
        params: what generated it.
    """

    frames: np.ndarray
    labels: np.ndarray
    sector: np.ndarray
    truth: dict[str, Any]
    curves: dict[str, np.ndarray]
    params: CaseParams
    motion: HeartMotion = field(repr=False)
    placement: Placement = field(repr=False)
    imager: Imager = field(repr=False)

    @property
    def grey(self) -> np.ndarray:
        """``(T, H, W)`` grey frames (luma of the RGB screen)."""
        f = self.frames.astype(np.float32)
        return np.clip(0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2] + 0.5, 0, 255).astype(np.uint8)

    @property
    def fps(self) -> float:
        return self.params.fps

    def material_position_px(self, points_px: np.ndarray, frame: int) -> np.ndarray:
        """True ``(x, y)`` pixel position at ``frame`` of material points given in screen
        pixels in the undeformed (f = 0) geometry without probe motion."""
        im, pl = self.imager, self.placement
        x = (points_px[:, 0] - im.origin_px[1]) * im.spacing_mm
        z = (points_px[:, 1] - im.origin_px[0]) * im.spacing_mm
        u, v = pl.to_local(x, z)
        u2, v2 = self.motion.displace(u, v, float(self.curves["systolic_fraction"][frame]))
        x2, z2 = _probe_motion(*pl.to_world(u2, v2), self.curves["probe_motion"][frame])
        c, r = im.world_to_px(x2, z2)
        return np.stack([c, r], axis=1)


# ------------------------------------------------------------------------------------
# presets


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


PRESETS = ("human", "human_a4c", "human_a2c", "rodent", "mouse", "rat")

# Rodent views imaged from the parasternal window (rectangular linear-array images).
PARASTERNAL_VIEWS = ("PLAX", "SAX")
RODENT_VIEWS = PARASTERNAL_VIEWS + ("A4C",)
HUMAN_VIEWS = ("A4C", "A2C")


def views_of(preset: str) -> tuple[str, ...]:
    """The views the generator renders for a preset."""
    return RODENT_VIEWS if preset in ("rodent", "mouse", "rat") else HUMAN_VIEWS

_PATHOLOGIES = ("normal", "dcm", "infarct", "aneurysm", "hypokinetic")


def _gls_for(lvef: float, rng: np.random.Generator) -> float:
    # GLS tracks LVEF (about -20 % at 60 %, -8 % at 25 %) with scatter.
    return float(np.clip(-(0.32 * lvef + 1.0) + rng.normal(0, 1.5), -27.0, -3.0))


def _kinesis_for(pathology: str, rng: np.random.Generator) -> tuple[tuple[float, ...], tuple[int, ...], float]:
    """Regional kinesis, thinned segments and apical bulge of a pathology."""
    k = np.ones(6)
    thin: tuple[int, ...] = ()
    bulge = 0.0
    if pathology == "infarct":
        side = int(rng.integers(0, 2))
        segs = (2, 3) if rng.uniform() < 0.5 else ((1, 2) if side == 0 else (3, 4))
        k[list(segs)] = rng.uniform(-0.1, 0.25, size=len(segs))
        thin = tuple(int(s) for s in segs)
    elif pathology == "aneurysm":
        k[[2, 3]] = rng.uniform(-0.3, 0.0, size=2)
        k[[1, 4]] = rng.uniform(0.3, 0.7, size=2)
        thin = (2, 3)
        bulge = _u(rng, 0.15, 0.35)
    elif pathology == "hypokinetic":
        k[int(rng.integers(0, 6))] = _u(rng, 0.3, 0.6)
    k = k * rng.uniform(0.9, 1.1, size=6) if pathology == "normal" else k
    return tuple(float(x) for x in k), thin, bulge


def sample_params(preset: str, seed: int, **overrides: Any) -> CaseParams:
    """Draw a case from a preset.

    Args:
        preset: one of :data:`PRESETS`.
        seed: the case's seed; the same seed gives the same case.
        **overrides: fixed values for any :class:`CaseParams` field (e.g.
            ``lvef_pct=35``) and the special keys ``pathology`` and ``gls_pct``.

    Returns:
        The parameters.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    rng = np.random.default_rng(seed)
    rodent = preset in ("rodent", "mouse", "rat")
    ekv_beats = None
    if rodent:
        species = preset if preset != "rodent" else str(rng.choice(["mouse", "rat"]))
        view = str(overrides.get("view") or rng.choice(list(RODENT_VIEWS), p=[0.45, 0.35, 0.2]))
    else:
        species = "human"
        view = {"human_a4c": "A4C", "human_a2c": "A2C"}.get(preset) or str(overrides.get("view") or rng.choice(list(HUMAN_VIEWS)))
    pathology = str(overrides.pop("pathology", None) or rng.choice(_PATHOLOGIES, p=[0.4, 0.15, 0.25, 0.1, 0.1]))

    lvef = {"normal": (52, 72), "dcm": (15, 40), "infarct": (25, 50), "aneurysm": (20, 42), "hypokinetic": (40, 58)}[pathology]
    lvef_pct = float(overrides.pop("lvef_pct", _u(rng, *lvef)))
    gls_pct = float(overrides.pop("gls_pct", _gls_for(lvef_pct, rng)))
    kinesis, thin, bulge = _kinesis_for(pathology, rng)
    if view == "SAX" and pathology in ("infarct", "aneurysm"):
        # Coronary ligation (LAD): the anterior and anterolateral wall, sometimes the
        # anteroseptal too, thin and akinetic or dyskinetic (SAX segment order).
        segs = (0, 1) if rng.uniform() < 0.6 else (5, 0, 1)
        k = np.ones(6)
        k[list(segs)] = rng.uniform(-0.3 if pathology == "aneurysm" else -0.1, 0.2, size=len(segs))
        kinesis, thin, bulge = tuple(float(x) for x in k), tuple(int(x) for x in segs), 0.0

    if species == "human":
        length = _u(rng, 70, 92) * (1.15 if pathology == "dcm" else 1.0)
        b = length * _u(rng, 0.24, 0.31) * (1.3 if pathology == "dcm" else 1.0)
        walls = (_u(rng, 7, 11), _u(rng, 7, 11), _u(rng, 5, 8))
        if pathology == "dcm":
            walls = tuple(w * 0.8 for w in walls)
        hr = _u(rng, 50, 110)
        fps = _u(rng, 28, 80)
        depth = _u(rng, 140, 180)
        probe = dict(kind="phased", depth_mm=depth, half_angle_deg=_u(rng, 35, 45), frequency_mhz=_u(rng, 2.0, 3.5),
                     axial_res_mm=_u(rng, 0.45, 0.9), lateral_res=_u(rng, 0.018, 0.034))
        placement = dict(apex_x_mm=_u(rng, -5, 8), apex_z_mm=_u(rng, 24, 40), tilt_deg=_u(rng, -14, 10),
                         mirror=bool(rng.uniform() < 0.15))
        canvas = [(240, 320), (300, 400), (360, 480), (480, 640)][int(rng.integers(0, 4))]
        es_phase = _u(rng, 0.33, 0.42) + 0.0015 * (hr - 70)
        n_beats = _u(rng, 1.6, 2.6)
    else:
        mouse = species == "mouse"
        length = _u(rng, 6.0, 8.0) if mouse else _u(rng, 11.0, 15.0)
        length *= 1.15 if pathology == "dcm" else 1.0
        b = length * _u(rng, 0.24, 0.31) * (1.3 if pathology == "dcm" else 1.0)
        walls = tuple(length * _u(rng, 0.10, 0.14) for _ in range(2)) + (length * _u(rng, 0.08, 0.11),)
        hr = _u(rng, 380, 650) if mouse else _u(rng, 280, 450)
        fps = _u(rng, 150, 400)
        depth = length * _u(rng, 1.7, 2.1)
        probe = dict(kind="linear", depth_mm=depth, width_mm=depth * _u(rng, 1.0, 1.3),
                     frequency_mhz=_u(rng, 30, 40) if mouse else _u(rng, 15, 21),
                     axial_res_mm=length * _u(rng, 0.006, 0.011), lateral_res=length * _u(rng, 0.013, 0.022))
        if view in PARASTERNAL_VIEWS:
            # Vevo-class parasternal window: 1-2 mm down to 10-15 mm (mouse) or
            # 15-25 mm (rat), 9-14 mm (mouse) wide; the LV lies across the image.
            top = _u(rng, 1.0, 2.0) * (1.0 if mouse else 1.6)
            depth = length * _u(rng, 1.3, 1.65) + top
            width = (depth - top) * _u(rng, 0.9, 1.2)
            probe = dict(kind="linear", depth_mm=depth, width_mm=width, window_top_mm=top,
                         frequency_mhz=_u(rng, 30, 50) if mouse else _u(rng, 15, 24),
                         axial_res_mm=_u(rng, 0.025, 0.04) * (1.0 if mouse else 1.8),
                         # Speckle about four times longer across the beam than along it,
                         # as the autocorrelation of real 40 MHz frames shows.
                         lateral_res=_u(rng, 0.1, 0.17) * (1.0 if mouse else 1.8))
        if view == "PLAX":
            # Apex left (and a little deeper), base and aortic root up to the right.
            elevation = _u(rng, -5.0, 28.0)
            placement = dict(apex_x_mm=-length * _u(rng, 0.4, 0.55),
                             apex_z_mm=top + (depth - top) * _u(rng, 0.5, 0.62) + 0.45 * length * np.sin(np.radians(elevation)),
                             tilt_deg=-(90.0 + elevation), mirror=True)
        elif view == "SAX":
            placement = dict(apex_x_mm=_u(rng, -0.1, 0.1) * width, apex_z_mm=top + (depth - top) * _u(rng, 0.45, 0.58),
                             tilt_deg=_u(rng, -25.0, 25.0), mirror=False)
        else:
            placement = dict(apex_x_mm=length * _u(rng, -0.1, 0.1), apex_z_mm=depth * _u(rng, 0.08, 0.16),
                             tilt_deg=_u(rng, -12, 12), mirror=bool(rng.uniform() < 0.2))
        canvas = [(256, 320), (300, 400), (400, 512)][int(rng.integers(0, 3))]
        if view in PARASTERNAL_VIEWS and rng.uniform() < 0.15:
            # An ECG-gated high-frame-rate reconstruction (EKV-style): one cycle at 1,000 frames/s.
            fps, ekv_beats = 1000.0, _u(rng, 1.05, 1.3)
        if view in PARASTERNAL_VIEWS:
            # Exports cropped to the scan area (or nearly): the canvas has the window's shape.
            canvas = (canvas[0], int(canvas[0] * probe["width_mm"] / (depth - top) * _u(rng, 1.0, 1.15)))
        es_phase = _u(rng, 0.38, 0.48)
        n_beats = _u(rng, 2.2, 3.5) if ekv_beats is None else ekv_beats
    truncation = _u(rng, 0.35, 0.55)
    shape = dict(a_mm=length / (1 + truncation), b_mm=b, truncation=truncation, wall_septal_mm=walls[0],
                 wall_lateral_mm=walls[1], wall_apex_mm=walls[2], asymmetry=_u(rng, -0.06, 0.08), bulge=bulge,
                 thin_segments=thin)
    dr_range, gamma_range = ((48, 62), (1.3, 2.0)) if view in PARASTERNAL_VIEWS and rodent else ((40, 60), (1.0, 1.8))
    imaging = dict(gain_db=_u(rng, -10, 0), dynamic_range_db=_u(rng, *dr_range), attenuation_db_per_mm=(
        _u(rng, 0.03, 0.08) if species == "human" else _u(rng, 0.15, 0.6) * 10 / depth),
        tgc_compensation=_u(rng, 0.6, 1.0), noise_db=_u(rng, -62, -42), gamma=_u(rng, *gamma_range),
        clutter=_u(rng, 0.0, 0.6) if species == "human" else _u(rng, 0.0, 0.2),
        clutter_depth_mm=depth * _u(rng, 0.08, 0.2), reverberation=_u(rng, 0.0, 0.25) if rng.uniform() < 0.4 else 0.0,
        shadow_beam=None, shadow_width=0.0, shadow_depth_mm=0.0, lateral_dropout=_u(rng, 0.2, 0.9),
        brightness=_u(rng, 0.5, 0.95))
    if rng.uniform() < 0.3:
        b0 = np.radians(probe.get("half_angle_deg", 0)) if probe["kind"] == "phased" else probe["width_mm"] / 2
        imaging.update(shadow_beam=float(rng.choice([-1, 1]) * b0 * _u(rng, 0.6, 0.95)),
                       shadow_width=float(b0 * _u(rng, 0.04, 0.12)), shadow_depth_mm=depth * _u(rng, 0.05, 0.2))
    canvas = tuple(overrides.pop("canvas", canvas))
    spacing = depth / (canvas[0] * _u(rng, 0.78, 0.9))
    if probe.get("window_top_mm"):
        spacing = (depth - probe["window_top_mm"]) / (canvas[0] * _u(rng, 0.88, 1.0))
    params = CaseParams(
        seed=seed, species=species, view=view, lvef_pct=lvef_pct, gls_pct=gls_pct, heart_rate_bpm=hr,
        fps=fps, n_beats=n_beats, start_phase=_u(rng, 0.0, 0.95), es_phase=float(np.clip(es_phase, 0.3, 0.5)),
        rr_jitter=_u(rng, 0.0, 0.04), shape=shape, kinesis=kinesis, placement=placement, probe=probe,
        imaging=imaging, canvas=canvas, spacing_mm=spacing, overlays=bool(rng.uniform() < 0.7),
        color_overlays=bool(rng.uniform() < 0.6), probe_motion_mm=length * _u(rng, 0.0, 0.012),
        pathology=pathology,
    )
    if ekv_beats is not None:
        # The reconstruction starts at the R wave: the loop opens at end-diastole.
        params = replace(params, start_phase=0.0)
    return replace(params, **overrides) if overrides else params


# ------------------------------------------------------------------------------------
# rendering


def _probe_motion(x: np.ndarray, z: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigid in-plane motion of the probe (dx mm, dz mm, rotation rad about the origin)."""
    dx, dz, rot = motion
    c, s = np.cos(rot), np.sin(rot)
    return c * x - s * z + dx, s * x + c * z + dz


def _fits(probe: Probe, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Which candidate placements keep all points inside the sector (with margins).

    ``x`` and ``z`` are ``(candidates, points)`` world coordinates.
    """
    r, b = probe.to_beam(x, z)
    b0, b1 = probe.beam_extent
    margin = 0.06 * (b1 - b0)
    top = probe.window_top_mm + 0.03 * (probe.depth_mm - probe.window_top_mm)
    ok = (b > b0 + margin) & (b < b1 - margin) & (r < 0.97 * probe.depth_mm) & (z > top)
    return ok.all(axis=1)


def _fit_placement(params: CaseParams, motion: HeartMotion, probe: Probe) -> tuple[Placement, Probe]:
    """Place the heart so that the LV (with its wall) and the LA centre lie inside the
    sector: the feasible apex position nearest to the sampled one; if none, the tilt is
    reduced, then the depth (and sector angle) increased.

    Returns:
        The placement and the (possibly deepened) probe.
    """
    want = Placement(**params.placement)
    u, v = motion.shape.endocardium(30)
    ue, ve = motion.shape.epicardium(u, v)
    check_u = np.concatenate([ue, [motion.shape.length_mm * 1.3]])
    check_v = np.concatenate([ve, [0.0]])
    for attempt in range(8):
        # Apical views may straighten (tilt halved, then zero); a parasternal view keeps
        # its near-horizontal long axis.
        if abs(want.tilt_deg) >= 45 or attempt == 0:
            tilt = want.tilt_deg
        else:
            tilt = want.tilt_deg * (0.5 if attempt < 4 else 0.0)
        pl = Placement(0.0, 0.0, float(tilt), want.mirror)
        dx, dz = pl.to_world(check_u, check_v)
        depth = probe.depth_mm
        xs = np.linspace(-0.6 * depth, 0.6 * depth, 61)
        zs = np.linspace(0.02 * depth, 0.7 * depth, 69)
        gx, gz = (a.ravel() for a in np.meshgrid(xs, zs))
        ok = _fits(probe, gx[:, None] + dx[None, :], gz[:, None] + dz[None, :])
        if ok.any():
            cost = (gx - want.apex_x_mm) ** 2 + (gz - want.apex_z_mm) ** 2
            best = int(np.argmin(np.where(ok, cost, np.inf)))
            return Placement(float(gx[best]), float(gz[best]), float(tilt), want.mirror), probe
        if attempt >= 3:
            probe = replace(probe, depth_mm=probe.depth_mm * 1.1, half_angle_deg=min(probe.half_angle_deg + 2.0, 45.0),
                            width_mm=probe.width_mm * 1.1)
    raise ValueError(f"case {params.seed}: the heart does not fit the sector even at depth {probe.depth_mm:.0f} mm")


def _sample_scatterers(imager: Imager, density: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scatterers uniform in the beam grid (equal count per resolution cell), in world mm,
    with the sqrt(range) weight that makes brightness independent of depth."""
    g, probe = imager.grid, imager.probe
    n = int(density * (g.n_range / 1.5) * (g.n_beams / 1.5))
    r = rng.uniform(0.0, probe.depth_mm, n)
    b = rng.uniform(*probe.beam_extent, n)
    if probe.kind == "phased":
        x, z = r * np.sin(b), r * np.cos(b)
        weight = np.sqrt(np.maximum(r, 1e-3) / probe.depth_mm)
    else:
        x, z = b, r
        weight = np.ones(n)
    return x, z, weight


def _dropout(labels: np.ndarray, x: np.ndarray, z: np.ndarray, placement: Placement, strength: float) -> np.ndarray:
    """Walls parallel to the beam echo weakly (specular reflection): scale the wall
    scatterers by how much the beam meets the wall face-on."""
    _, e = placement.axes()
    r = np.hypot(x, z) + 1e-9
    facing = np.abs((x / r) * e[0] + (z / r) * e[1])  # cos of beam to wall-normal angle
    walls = np.isin(labels, [Tissue.LV_MYO, Tissue.RV_WALL, Tissue.ATRIAL_WALL])
    factor = np.ones_like(x)
    factor[walls] = (1.0 - strength) + strength * np.sqrt(facing[walls])
    return factor


def _leaflets(motion: HeartMotion, f: float, opening: float, rng_state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mitral leaflet scatterers (local u, v) for one frame."""
    s = motion.shape
    length = s.length_mm
    hinge_v = s.half_width(np.array([length, length]), np.array([-1.0, 1.0])) * np.array([-1.0, 1.0])
    hu, hv = motion.displace(np.array([length, length]), hinge_v, f)
    annulus = abs(hv[1] - hv[0])
    us, vs = [], []
    n = len(rng_state) // 2
    for k, (lead_len, sign) in enumerate(((0.58, -1.0), (0.42, 1.0))):
        along = rng_state[k * n : (k + 1) * n, 0]
        across = rng_state[k * n : (k + 1) * n, 1]
        closed = np.radians(18.0)
        open_ = np.radians(80.0)
        ang = closed + (open_ - closed) * opening
        # direction: towards the midline (closed) turning towards the apex (open)
        du, dv = -np.sin(ang), -sign * np.cos(ang)
        ell = lead_len * annulus * along
        thick = 0.012 * length * (1.0 - 0.5 * along) * across
        us.append(hu[k] + du * ell - dv * thick)
        vs.append(hv[k] + dv * ell + du * thick)
    return np.concatenate(us), np.concatenate(vs)


def _opening(phase: np.ndarray, es_phase: float) -> np.ndarray:
    ivr = es_phase + 0.06
    p = np.mod(phase, 1.0)
    op = np.zeros_like(p)
    rise = (p >= ivr) & (p < ivr + 0.04)
    op[rise] = (p[rise] - ivr) / 0.04
    op[(p >= ivr + 0.04) & (p < ivr + 0.2)] = 1.0
    dias = (p >= ivr + 0.2) & (p < 0.85)
    op[dias] = 0.55
    op[(p >= 0.85) & (p < 0.97)] = 1.0
    return op


def _solve_softening(shape: LVShape, kinesis: Kinesis, params: CaseParams, f_es: float) -> tuple[HeartMotion, float]:
    """Solve the motion for the requested LVEF and GLS. The requested global values
    win over the regional pattern: if they cannot be reached with it, the abnormal
    segments are moved half-way towards normal (up to three times), and the factor
    kept is returned (1 = pattern as drawn) and recorded in the truth."""
    factor = 1.0
    for _ in range(4):
        k = Kinesis(tuple(1.0 + factor * (np.asarray(kinesis.factors) - 1.0)))
        try:
            return solve_motion(shape, k, params.lvef_pct, params.gls_pct, f_es=f_es), factor
        except ValueError:
            factor *= 0.5
    return solve_motion(shape, Kinesis(tuple(1.0 + factor * (np.asarray(kinesis.factors) - 1.0))),
                        params.lvef_pct, params.gls_pct, f_es=f_es), factor


def _frame_times(params: CaseParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frame times, phases, ED and ES frame indices."""
    rng = np.random.default_rng(params.seed + 7)
    rr0 = 60.0 / params.heart_rate_bpm
    rr = rr0 * (1.0 + params.rr_jitter * rng.uniform(-1, 1, size=16))
    duration = params.n_beats * rr0
    n_frames = max(8, int(round(duration * params.fps)))
    times = np.arange(n_frames) / params.fps
    starts = beat_starts(times[-1], rr, params.start_phase)
    ends = np.append(starts[1:], starts[-1] + rr[len(starts) % len(rr)])
    idx = np.clip(np.searchsorted(ends, times, side="right"), 0, len(starts) - 1)
    phase = (times - starts[idx]) / (ends[idx] - starts[idx])
    ed = np.round(starts * params.fps).astype(int)
    # f holds at 1 through isovolumic relaxation: the first frame at or after ES lies
    # on that plateau and has the smallest volume.
    es = np.ceil((starts + params.es_phase * (ends - starts)) * params.fps - 1e-9).astype(int)
    return times, phase, ed, es


def _centres_inside(pts: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    """Which pixel centres of a box lie inside a polygon (``(x, y)`` vertices, closed
    implicitly), by the even-odd rule of a point-in-polygon test, one scanline per
    pixel row: a centre ``(c, r)`` is inside when an odd number of the polygon's edges
    cross row ``r`` left of ``c``."""
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    r = np.arange(rows.start, rows.stop, dtype=np.float64)[:, None]
    crosses = (y0 >= r) != (y1 >= r)
    ri, ei = np.nonzero(crosses)
    # x of each crossing; the first column whose centre lies right of it
    x = x0[ei] + (r[ri, 0] - y0[ei]) * (x1[ei] - x0[ei]) / (y1[ei] - y0[ei])
    n_cols = cols.stop - cols.start
    first = np.clip(np.floor(x).astype(np.int64) + 1 - cols.start, 0, n_cols)
    toggles = np.bincount(ri * (n_cols + 1) + first, minlength=len(r) * (n_cols + 1)).reshape(len(r), n_cols + 1)
    return (np.cumsum(toggles[:, :n_cols], axis=1) & 1).astype(bool)


def _rasterise(polys: list[tuple[np.ndarray, int]], shape: tuple[int, int]) -> np.ndarray:
    """Label map from polygons (``(x, y)`` pixels), later ones on top. A pixel belongs
    to a polygon when its centre lies inside it, so mask areas equal polygon areas
    without the half-pixel bias of edge-inclusive filling."""
    out = np.zeros(shape, dtype=np.uint8)
    for pts, label in polys:
        c0, r0 = np.floor(pts.min(axis=0)).astype(int)
        c1, r1 = np.ceil(pts.max(axis=0)).astype(int) + 1
        c0, r0 = max(c0, 0), max(r0, 0)
        c1, r1 = min(c1, shape[1]), min(r1, shape[0])
        if c1 <= c0 or r1 <= r0:
            continue
        out[r0:r1, c0:c1][_centres_inside(pts, slice(r0, r1), slice(c0, c1))] = label
    return out


def frame_schedule(params: CaseParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame times (s), and the ED and ES frame indices inside the loop, of a case,
    without rendering it (e.g. to choose which frames to render)."""
    times, _, ed_all, es_all = _frame_times(params)
    n = len(times)
    return times, ed_all[(ed_all >= 0) & (ed_all < n)], es_all[(es_all >= 0) & (es_all < n)]


def generate_case(params: CaseParams, only_frames: Sequence[int] | None = None) -> SynthCase:
    """Render a case and compute its truth.

    Args:
        params: the case.
        only_frames: render only these frame indices (rendering dominates the cost
            when only a few frames are needed); the other frames and their label maps
            are left empty (zeros). The truth (curves, volumes, ED/ES) is computed for
            every frame either way. The rendered frames' speckle noise differs from a
            full render's (the noise generator is drawn only for rendered frames).

    Raises:
        ValueError: unreachable LVEF/GLS for the shape, a heart that does not fit, or
            ``only_frames`` outside the loop.
    """
    ss = np.random.SeedSequence(params.seed)
    rng_scene, rng_noise, rng_misc = (np.random.default_rng(s) for s in ss.spawn(3))
    shape = LVShape(**params.shape)
    kinesis = Kinesis(tuple(params.kinesis))
    times, phase, ed_all, es_all = _frame_times(params)
    n = len(times)
    f_t = systolic_fraction(phase, params.es_phase)
    in_loop = (es_all >= 0) & (es_all < n) & (ed_all >= 0)
    if not in_loop.any():
        raise ValueError(f"case {params.seed}: no ED->ES pair inside the loop; increase n_beats (>= 1.6)")
    f_es = float(np.mean(f_t[es_all[in_loop]])) if in_loop.any() else 1.0
    if params.view == "SAX":
        return _generate_sax(params, only_frames, f_t, phase, times, ed_all, es_all, f_es)
    motion, kinesis_factor = _solve_softening(shape, kinesis, params, f_es)

    h, w = params.canvas
    placement, probe = _fit_placement(params, motion, Probe(**params.probe))
    spacing = params.spacing_mm * probe.depth_mm / params.probe["depth_mm"]
    if probe.depth_mm != params.probe["depth_mm"]:
        # The fit deepened the image: record what was really rendered.
        params = replace(params, probe=asdict(probe), spacing_mm=spacing)
    origin = (h * 0.04 if probe.kind == "phased" else h * 0.06, w / 2.0)
    if probe.window_top_mm > 0:
        origin = (h * 0.03 - probe.window_top_mm / params.spacing_mm, w / 2.0)
    imager = Imager(probe, ImagingParams(**params.imaging), (h, w), params.spacing_mm, origin, rng_noise)

    # Tissue scatterers, classified and weighted once at ED.
    x0, z0, weight = _sample_scatterers(imager, params.scatterers_per_cell, rng_scene)
    u0, v0 = placement.to_local(x0, z0)
    chambers = chambers_for(motion, params.view, rng_scene)
    follows = np.ones(len(x0))
    if params.species != "human" and params.view == "PLAX":
        look = sample_look(rng_scene, motion.shape.length_mm)
        labels0, gain, la = plax_tissue(u0, v0, x0, z0, motion, placement, look, rng_scene)
        chambers = replace(chambers, la=tuple(float(a) for a in la["la"]))
        amp = rodent_amplitude(labels0, x0, z0, look, rng_scene, scale_mm=motion.shape.length_mm * 0.2) * gain
        # The chest wall stays put while the heart beats under it.
        follows[np.isin(labels0, STATIC_TISSUE)] = 0.0
    else:
        labels0 = classify(u0, v0, motion, chambers)
        near = z0 < imager.settings.clutter_depth_mm * 0.6
        labels0[near & (labels0 == Tissue.BACKGROUND)] = Tissue.CHEST_WALL
        amp = echogenicity(labels0, x0, z0, rng_scene, scale_mm=motion.shape.length_mm * 0.25)
    amp *= weight * rng_scene.normal(size=len(x0)) * _dropout(labels0, x0, z0, placement, imager.settings.lateral_dropout)
    # Static near-field clutter (haze over the apex) that does not move with the heart.
    n_clutter = int(0.15 * len(x0))
    cx, cz, cw = _sample_scatterers(imager, params.scatterers_per_cell * 0.15, rng_scene)
    keep = cz < imager.settings.clutter_depth_mm
    cx, cz = cx[keep][:n_clutter], cz[keep][:n_clutter]
    camp = imager.settings.clutter * cw[keep][:n_clutter] * rng_scene.normal(size=len(cx)) * np.exp(-cz / max(imager.settings.clutter_depth_mm, 1e-3))
    leaflet_state = np.stack([rng_scene.uniform(0, 1, 1600), rng_scene.uniform(-1, 1, 1600)], axis=1)
    leaflet_amp = 1.6 * np.sqrt(motion.shape.length_mm / 80.0 + 0.2) * rng_scene.normal(size=1600)
    opening = _opening(phase, params.es_phase)

    pm = params.probe_motion_mm
    probe_track = np.stack([
        pm * np.sin(2 * np.pi * times / (0.9 * n / params.fps + 1e-9) + rng_misc.uniform(0, 6)),
        0.5 * pm * np.sin(2 * np.pi * times / (1.3 * n / params.fps + 1e-9) + rng_misc.uniform(0, 6)),
        np.radians(0.6) * (pm / max(motion.shape.length_mm * 0.012, 1e-9)) * np.sin(2 * np.pi * times / (1.1 * n / params.fps + 1e-9)),
    ], axis=1)

    u_endo, v_endo = shape.endocardium(60)
    u_epi, v_epi = shape.epicardium(u_endo, v_endo)
    u_mid, v_mid = 0.5 * (u_endo + u_epi), 0.5 * (v_endo + v_epi)
    la_t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    la_cu, la_cv, la_au, la_av = chambers.la
    u_la, v_la = la_cu + la_au * np.cos(la_t + np.pi), la_cv + la_av * np.sin(la_t + np.pi)

    render = set(range(n)) if only_frames is None else {int(i) for i in only_frames}
    if not render <= set(range(n)):
        raise ValueError(f"only_frames must be frame indices in 0..{n - 1}, got {sorted(render - set(range(n)))}")
    frames = np.zeros((n, h, w), dtype=np.uint8)
    label_maps = np.zeros((n, h, w), dtype=np.uint8)
    endo_px = np.zeros((n, len(u_endo), 2))
    epi_px = np.zeros((n, len(u_epi), 2))
    volumes = np.zeros(n)
    endo_len = np.zeros(n)
    mid_len = np.zeros(n)
    seg_len = np.zeros((n, 6))
    seg_index = _segments_of_contour(u_endo, v_endo)

    def to_px(u: np.ndarray, v: np.ndarray, i: int) -> np.ndarray:
        x, z = placement.to_world(u, v)
        x, z = _probe_motion(x, z, probe_track[i])
        c, r = imager.world_to_px(x, z)
        return np.stack([c, r], axis=1)

    # The map is linear in f: each point set's displacement is computed once.
    d_unit = motion.unit_displacement(u0, v0)
    d_tissue = tuple(d * follows for d in d_unit)
    grad_tissue = _linear_map_gradient(motion, u0, v0, d_unit) * follows[:, None]
    # Only scatterers the map squeezes or stretches get a per-frame gain (far tissue: J = 1).
    moving = np.flatnonzero(np.abs(grad_tissue).max(axis=1) > 1e-3)
    grad_moving, amp_frame = grad_tissue[moving], amp.copy()
    d_endo, d_epi = motion.unit_displacement(u_endo, v_endo), motion.unit_displacement(u_epi, v_epi)
    d_mid, d_la = motion.unit_displacement(u_mid, v_mid), motion.unit_displacement(u_la, v_la)
    for i in range(n):
        f = float(f_t[i])
        if i in render:
            u1, v1 = u0 + f * d_tissue[0], v0 + f * d_tissue[1]
            x1, z1 = _probe_motion(*placement.to_world(u1, v1), probe_track[i])
            lu, lv = _leaflets(motion, f, float(opening[i]), leaflet_state)
            lx, lz = _probe_motion(*placement.to_world(lu, lv), probe_track[i])
            xs = np.concatenate([x1, lx, cx])
            zs = np.concatenate([z1, lz, cz])
            amp_frame[moving] = amp[moving] * echo_density_gain(_jacobian_at(grad_moving, f))
            amps = np.concatenate([amp_frame, leaflet_amp, camp])
            frames[i] = imager.to_screen(imager.beam_data(xs, zs, amps))
        # Truth from the same map.
        ue, ve = u_endo + f * d_endo[0], v_endo + f * d_endo[1]
        up, vp = u_epi + f * d_epi[0], v_epi + f * d_epi[1]
        um, vm = u_mid + f * d_mid[0], v_mid + f * d_mid[1]
        ul, vl = u_la + f * d_la[0], v_la + f * d_la[1]
        endo_px[i] = to_px(ue, ve, i)
        epi_px[i] = to_px(up, vp, i)
        contour_mm = np.stack([ve, ue], axis=1)
        volumes[i] = method_of_disks(contour_mm, apex=contour_mm[len(ue) // 2]).volume_ml
        endo_len[i] = polyline_length(contour_mm)
        mid_len[i] = polyline_length(np.stack([vm, um], axis=1))
        for s in range(6):
            sel = seg_index == s
            seg_len[i, s] = polyline_length(contour_mm[sel])
        if i not in render:
            continue
        ring = np.concatenate([epi_px[i], endo_px[i][::-1]])
        label_maps[i] = _rasterise([(to_px(ul, vl, i), LABELS["la"]), (ring, LABELS["lv_myocardium"]),
                                     (endo_px[i], LABELS["lv_cavity"])], (h, w))

    rgb = _screen(frames, label_maps, imager, params, rng_misc, phase, origin)
    sector = imager.sector
    truth, curves = _truth(params, volumes, endo_len, mid_len, seg_len, ed_all, es_all, n)
    pairs = (ed_all >= 0) & (es_all < n) & (ed_all < es_all)
    truth["wall_motion"] = loop_wall_motion_truth(endo_px, epi_px, ed_all[pairs].tolist(), es_all[pairs].tolist(),
                                                  SEGMENT_NAMES[params.view], params.spacing_mm).to_dict()
    truth["kinesis_applied"] = list(motion.kinesis.factors)
    truth["kinesis_softening"] = kinesis_factor
    if params.view == "PLAX":
        truth.update(plax_truth(endo_px, epi_px, ed_all[pairs], es_all[pairs], params.spacing_mm))
    curves.update(systolic_fraction=f_t, probe_motion=probe_track, endo_contour_px=endo_px, epi_contour_px=epi_px,
                  times_ms=times * 1000.0)
    return SynthCase(rgb, label_maps, sector, truth, curves, params, motion, placement, imager)


def plax_truth(endo_px: np.ndarray, epi_px: np.ndarray, ed: np.ndarray, es: np.ndarray, spacing_mm: float
               ) -> dict[str, float]:
    """PLAX dimensions of the exact contours (:mod:`echoquant.quant.plax` definitions),
    means over the loop's beats: LVIDd/s, FS, septal and posterior wall at ED/ES, long-axis
    length at ED/ES (mm)."""
    from echoquant.quant.plax import plax_dimensions

    def dims(i: int):  # noqa: ANN202
        return plax_dimensions(endo_px[i] * spacing_mm, epi_px[i] * spacing_mm)

    rows = []
    for a, b in zip(ed, es):
        d, s = dims(int(a)), dims(int(b))
        if d is None or s is None:
            continue
        rows.append({"lvidd_mm": d.lvid, "lvids_mm": s.lvid, "fs_pct": 100.0 * (d.lvid - s.lvid) / d.lvid,
                     "ivsd_mm": d.ivs, "ivss_mm": s.ivs, "lvpwd_mm": d.lvpw, "lvpws_mm": s.lvpw,
                     "lv_length_mm": d.length, "lv_length_es_mm": s.length})
    if not rows:
        return {}
    return {k: float(np.mean([r[k] for r in rows if r[k] is not None])) for k in rows[0]}


def _screen(frames: np.ndarray, label_maps: np.ndarray, imager: Imager, params: CaseParams,
            rng: np.random.Generator, phase: np.ndarray, origin: tuple[float, float]) -> np.ndarray:
    """RGB screen frames (burned-in text, scale and ECG when the case has overlays); the
    label maps are cut to the scan sector in place."""
    label_maps[:, ~imager.sector] = 0
    if params.overlays:
        return draw_overlays(frames, imager.sector, rng, phase, params.spacing_mm, origin, params.color_overlays)
    return np.repeat(frames[..., None], 3, axis=-1)


def _segments_of_contour(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Segment index (0-5) of each point of an ED contour: each side split into
    thirds of its arc length (septal base->apex = 0, 1, 2; lateral apex->base = 3, 4, 5)."""
    n = len(u)
    apex = n // 2
    seg = np.zeros(n, dtype=int)
    for lo, hi, labels in ((0, apex + 1, (0, 1, 2)), (apex, n, (3, 4, 5))):
        pts = np.stack([u[lo:hi], v[lo:hi]], axis=1)
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        third = np.clip((s / s[-1] * 3).astype(int), 0, 2)
        seg[lo:hi] = np.asarray(labels)[third]
    return seg


def _truth(params: CaseParams, volumes: np.ndarray, endo_len: np.ndarray, mid_len: np.ndarray, seg_len: np.ndarray,
           ed_all: np.ndarray, es_all: np.ndarray, n: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    ok = (ed_all >= 0) & (es_all < n) & (ed_all < es_all)
    ed, es = ed_all[ok], es_all[ok]
    if len(ed) == 0:
        raise ValueError(f"case {params.seed}: no ED->ES pair inside the loop; increase n_beats")
    ef = 100.0 * (volumes[ed] - volumes[es]) / volumes[ed]
    gls = 100.0 * (endo_len[es] - endo_len[ed]) / endo_len[ed]
    gls_mid = 100.0 * (mid_len[es] - mid_len[ed]) / mid_len[ed]
    regional = 100.0 * (seg_len[es] - seg_len[ed]) / seg_len[ed]
    ref_len = endo_len[ed[0]]
    names = SEGMENT_NAMES[params.view]
    truth = {
        "lvef_pct": float(np.mean(ef)),
        "lvef_per_beat_pct": ef.tolist(),
        "gls_pct": float(np.mean(gls)),
        "gls_midwall_pct": float(np.mean(gls_mid)),
        "gls_per_beat_pct": gls.tolist(),
        "edv_ml": float(np.mean(volumes[ed])),
        "esv_ml": float(np.mean(volumes[es])),
        "ed_frames": [int(i) for i in ed_all if 0 <= i < n],
        "es_frames": [int(i) for i in es_all if 0 <= i < n],
        "ed_frame": int(ed[0]),
        "es_frame": int(es[0]),
        "regional_strain_pct": {names[s]: float(np.mean(regional[:, s])) for s in range(6)},
        "segment_names": list(names),
        "requested_lvef_pct": params.lvef_pct,
        "requested_gls_pct": params.gls_pct,
    }
    curves = {
        "volume_ml": volumes,
        "gls_curve_pct": 100.0 * (endo_len - ref_len) / ref_len,
        "regional_curves_pct": 100.0 * (seg_len - seg_len[ed[0]]) / seg_len[ed[0]],
    }
    return truth, curves


def _generate_sax(params: CaseParams, only_frames: Sequence[int] | None, f_t: np.ndarray, phase: np.ndarray,
                  times: np.ndarray, ed_all: np.ndarray, es_all: np.ndarray, f_es: float) -> SynthCase:
    """Render a rodent mid-papillary short-axis loop (see :mod:`echoquant.synth.sax`).

    The long-axis heart is solved for the requested LVEF and GLS with normal kinesis;
    its radial contraction drives the section, whose own kinesis is the case's
    (SAX segment order)."""
    ss = np.random.SeedSequence(params.seed)
    rng_scene, rng_noise, rng_misc = (np.random.default_rng(s) for s in ss.spawn(3))
    shape = LVShape(**{**params.shape, "thin_segments": ()})
    motion, _ = _solve_softening(shape, Kinesis(), params, f_es)
    sax = SaxMotion.from_heart(motion, tuple(params.kinesis), tuple(params.shape.get("thin_segments", ())), rng_scene)
    n = len(times)
    h, w = params.canvas
    probe = Probe(**params.probe)
    origin = (h * 0.03 - probe.window_top_mm / params.spacing_mm, w / 2.0)
    imager = Imager(probe, ImagingParams(**params.imaging), (h, w), params.spacing_mm, origin, rng_noise)
    placement = _fit_sax(params, sax, probe)
    x0, z0, weight = _sample_scatterers(imager, params.scatterers_per_cell, rng_scene)
    q0, p0 = placement.to_local(x0, z0)
    look = sample_look(rng_scene, shape.length_mm)
    labels0 = sax_tissue(p0, q0, x0, z0, sax, look, rng_scene)
    amp = rodent_amplitude(labels0, x0, z0, look, rng_scene, scale_mm=sax.radius_mm * 0.6)
    amp *= sax_specular(p0, q0, labels0, sax, look, placement) * weight * rng_scene.normal(size=len(x0))
    static = np.isin(labels0, STATIC_TISSUE)
    prepared = sax.prepare(p0, q0)  # per-scatterer ray geometry, the same in every frame
    pm = params.probe_motion_mm
    probe_track = np.stack([
        pm * np.sin(2 * np.pi * times / (0.9 * n / params.fps + 1e-9) + rng_misc.uniform(0, 6)),
        0.5 * pm * np.sin(2 * np.pi * times / (1.3 * n / params.fps + 1e-9) + rng_misc.uniform(0, 6)),
        np.zeros(n)], axis=1)
    render = set(range(n)) if only_frames is None else {int(i) for i in only_frames}
    if not render <= set(range(n)):
        raise ValueError(f"only_frames must be frame indices in 0..{n - 1}, got {sorted(render - set(range(n)))}")
    frames = np.zeros((n, h, w), dtype=np.uint8)
    label_maps = np.zeros((n, h, w), dtype=np.uint8)
    endo_px = np.zeros((n, 180, 2))
    epi_px = np.zeros((n, 180, 2))

    def to_px(p: np.ndarray, q: np.ndarray, i: int) -> np.ndarray:
        x, z = _probe_motion(*placement.to_world(q, p), probe_track[i])
        c, r = imager.world_to_px(x, z)
        return np.stack([c, r], axis=1)

    for i in range(n):
        f = float(f_t[i])
        endo, epi = sax.contours(f, 180)
        endo_px[i], epi_px[i] = to_px(endo[:, 0], endo[:, 1], i), to_px(epi[:, 0], epi[:, 1], i)
        if i not in render:
            continue
        p1, q1, jac = sax.displace_with_area(p0, q0, f, prepared)
        jac = np.where(static, 1.0, jac)
        p1, q1 = np.where(static, p0, p1), np.where(static, q0, q1)
        x1, z1 = _probe_motion(*placement.to_world(q1, p1), probe_track[i])
        frames[i] = imager.to_screen(imager.beam_data(x1, z1, amp * echo_density_gain(jac)))
        ring = np.concatenate([epi_px[i], epi_px[i][:1], endo_px[i][:1], endo_px[i][::-1]])
        label_maps[i] = _rasterise([(ring, LABELS["lv_myocardium"]), (endo_px[i], LABELS["lv_cavity"])], (h, w))
    rgb = _screen(frames, label_maps, imager, params, rng_misc, phase, origin)
    sector = imager.sector
    ok = (ed_all >= 0) & (es_all < n) & (ed_all < es_all)
    if not ok.any():
        raise ValueError(f"case {params.seed}: no ED->ES pair inside the loop; increase n_beats")
    truth, sax_curves = sax_truth(sax, f_t, ed_all[ok], es_all[ok])
    truth.update(_beam_lvid(endo_px * params.spacing_mm, ed_all[ok], es_all[ok]))
    nan = float("nan")
    truth.update({
        "lvef_pct": nan, "gls_pct": nan, "gls_midwall_pct": nan, "edv_ml": nan, "esv_ml": nan,
        "ed_frames": [int(i) for i in ed_all if 0 <= i < n], "es_frames": [int(i) for i in es_all if 0 <= i < n],
        "ed_frame": int(ed_all[ok][0]), "es_frame": int(es_all[ok][0]), "wall_motion": None,
        "requested_lvef_pct": params.lvef_pct, "requested_gls_pct": params.gls_pct,
        "kinesis_applied": list(sax.kinesis), "kinesis_softening": 1.0, "view": "SAX",
        "long_axis_lvef_pct": motion.ef_gls(f_es)[0],
    })
    curves = {"volume_ml": np.full(n, nan), "gls_curve_pct": sax_curves["gcs_curve_pct"],
              "regional_curves_pct": np.full((n, 6), nan), "systolic_fraction": f_t, "probe_motion": probe_track,
              "endo_contour_px": endo_px, "epi_contour_px": epi_px, "times_ms": times * 1000.0, **sax_curves}
    return SynthCase(rgb, label_maps, sector, truth, curves, params, sax, placement, imager)


def _beam_lvid(endo_mm: np.ndarray, ed: np.ndarray, es: np.ndarray) -> dict[str, float]:
    """SAX LVIDd/s and FS as :mod:`echoquant.quant.saxmotion` defines them: the cavity's
    chord along the beam (screen vertical) through the ED centroid, on the exact border."""
    from echoquant.geometry import chord_across, polygon_centroid

    down = np.array([0.0, 1.0])
    d, s = [], []
    for a, b in zip(ed, es):
        centre = polygon_centroid(endo_mm[int(a)])
        ca, cb = chord_across(centre, down, endo_mm[int(a)]), chord_across(centre, down, endo_mm[int(b)])
        if ca is not None and cb is not None:
            d.append(ca[1] - ca[0])
            s.append(cb[1] - cb[0])
    if not d:
        return {}
    d, s = np.array(d), np.array(s)
    return {"lvidd_mm": float(d.mean()), "lvids_mm": float(s.mean()), "fs_pct": float(np.mean(100 * (d - s) / d))}


def _fit_sax(params: CaseParams, sax: SaxMotion, probe: Probe) -> Placement:
    """Place the section centre where the sampled placement asks, moved inward just
    enough that the epicardium stays inside the image (with a margin)."""
    want = Placement(**params.placement)
    r = sax.radius_mm + max(sax.wall_mm) + 0.3
    half = probe.width_mm / 2
    x = float(np.clip(want.apex_x_mm, -half + 1.15 * r, half - 1.15 * r)) if half > 1.15 * r else 0.0
    top = probe.window_top_mm + 1.1 * r + 0.5
    z = float(np.clip(want.apex_z_mm, top, max(top, 0.97 * probe.depth_mm - 1.1 * r)))
    # Short axes are displayed anterior up, septum left; the probe's rotation about the
    # beam turns the section a little (a third of the sampled long-axis tilt, <= ~8 deg).
    return Placement(x, z, want.tilt_deg / 3.0, False)
