"""Generated M-mode screens with exact truth: a parasternal M-line through the LV at
the tips of the mitral leaflets (chest wall, RV, septum, LV cavity, posterior wall,
pericardium), swept over several beats, under the 2-D image and above an ECG trace, as
a scanner's M-mode screen shows them.

The LV internal diameter follows the cardiac cycle, ``LVID(t) = LVIDd (1 - FS f(t))``
with ``f`` the systolic fraction (0 at ED, 1 at ES, one smooth minimum per beat).
The septum takes ``septal_share`` of the diameter change, the posterior wall the rest.
Each wall keeps its cross-sectional area in the short-axis ring it belongs to
(myocardium is incompressible), so it thickens as the cavity shrinks:
``h(t) = sqrt(r(t)^2 + (r_d + h_d)^2 - r_d^2) - r(t)`` with ``r = LVID / 2``. Speckle is
a function of each tissue point's depth at ED, so it draws the streaks tissue draws.
Truth per beat: LVIDd/s, IVSd/s, LVPWd/s, ED and ES times, FS, Teichholz volumes and
EF and LV mass by the same formulas as the measurement (:mod:`echoquant.quant.mmode`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from echoquant._files import write_csv_rows
from echoquant.io.writer import DicomIdentity, RegionSpec, write_us_dicom
from echoquant.quant.mmode import lv_mass, teichholz_ml
from echoquant.synth.overlays import ecg_waveform
from echoquant.synth.timing import beat_starts, systolic_fraction

__all__ = ["MMODE_PRESETS", "MModeParams", "MModeCase", "sample_mmode_params", "generate_mmode",
           "mmode_fraction", "write_mmode_case", "write_mmode_suite", "MMODE_TRUTH_COLUMNS", "fs_for_teichholz_ef",
           "write_mmode_jobs", "write_mmode_truth"]

MMODE_PRESETS = ("human", "mouse", "rat", "rodent")
_ECG_ROWS, _GAP = 48, 6


def mmode_fraction(phase: np.ndarray, es_phase: float) -> np.ndarray:
    """Systolic fraction for M-mode: the loops' curve without the isovolumic plateau, so
    that ES is one instant (the smallest diameter), and a longer relaxation."""
    return systolic_fraction(phase, es_phase, hold=0.0, rapid=0.2, gap=0.05)


@dataclass(frozen=True)
class MModeParams:
    """One generated M-mode screen. Lengths in mm, times in s."""

    seed: int
    species: str
    heart_rate_bpm: float
    lvidd_mm: float
    fs_pct: float
    ivsd_mm: float
    lvpwd_mm: float
    septal_share: float
    es_phase: float
    start_phase: float
    rr_jitter: float
    seconds_per_px: float
    n_columns: int
    mm_per_px: float
    chest_mm: float
    rv_mm: float
    pericardium_mm: float
    axial_res_mm: float
    gain_db: float
    dynamic_range_db: float
    noise_db: float
    blood_level: float
    with_2d: bool = True
    ecg: bool = True
    texture: str = "heart"  # "heart", or "tissue": a non-cardiac strip (no LV, no motion)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def sample_mmode_params(preset: str, seed: int, **overrides: Any) -> MModeParams:
    """Draw an M-mode screen from a preset (:data:`MMODE_PRESETS`); ``overrides`` fix fields."""
    if preset not in MMODE_PRESETS:
        raise ValueError(f"preset must be one of {MMODE_PRESETS}, got {preset!r}")
    rng = np.random.default_rng([seed, 1818])
    species = preset if preset != "rodent" else str(rng.choice(["mouse", "rat"]))
    if species == "human":
        lvidd = _u(rng, 40, 62)
        walls = (_u(rng, 7, 12), _u(rng, 7, 11))
        hr = _u(rng, 50, 100)
        sweep = _u(rng, 2.8, 4.5)  # s shown
        mm_px = _u(rng, 0.25, 0.4)
        geo = dict(chest_mm=_u(rng, 12, 25), rv_mm=_u(rng, 12, 25), pericardium_mm=_u(rng, 1.5, 3.0),
                   axial_res_mm=_u(rng, 0.4, 0.8))
    else:
        mouse = species == "mouse"
        lvidd = _u(rng, 3.3, 4.8) if mouse else _u(rng, 6.0, 8.5)
        walls = tuple(_u(rng, 0.7, 1.1) * (1.0 if mouse else 1.7) for _ in range(2))
        hr = _u(rng, 380, 620) if mouse else _u(rng, 280, 420)
        sweep = _u(rng, 0.6, 1.0) if mouse else _u(rng, 0.8, 1.3)
        mm_px = (_u(rng, 0.018, 0.03) if mouse else _u(rng, 0.03, 0.05))
        scale = lvidd / 4.0
        geo = dict(chest_mm=_u(rng, 1.0, 2.0) * scale, rv_mm=_u(rng, 0.6, 1.2) * scale,
                   pericardium_mm=_u(rng, 0.12, 0.25) * scale, axial_res_mm=_u(rng, 0.04, 0.07) * scale)
    n_cols = int(rng.integers(520, 760))
    params = MModeParams(
        seed=seed, species=species, heart_rate_bpm=hr, lvidd_mm=lvidd, fs_pct=_u(rng, 15, 48), ivsd_mm=walls[0],
        lvpwd_mm=walls[1], septal_share=_u(rng, 0.3, 0.45), es_phase=_u(rng, 0.33, 0.42),
        start_phase=_u(rng, 0.0, 0.95), rr_jitter=_u(rng, 0.0, 0.04), seconds_per_px=sweep / n_cols,
        n_columns=n_cols, mm_per_px=mm_px, gain_db=_u(rng, -8, 0), dynamic_range_db=_u(rng, 40, 55),
        noise_db=_u(rng, -55, -42), blood_level=_u(rng, 0.02, 0.08), with_2d=bool(rng.uniform() < 0.8),
        ecg=bool(rng.uniform() < 0.8), **geo)
    return replace(params, **overrides) if overrides else params


@dataclass
class MModeCase:
    """A generated M-mode screen: ``screen`` (H, W, 3) uint8 with the strip at
    ``strip_box`` (row0, col0, row1, col1, exclusive), regions to write, and truth."""

    screen: np.ndarray
    strip: np.ndarray
    strip_box: tuple[int, int, int, int]
    regions: list[RegionSpec]
    truth: dict[str, Any]
    boundaries_mm: np.ndarray  # (4, T): IVS top, IVS/LV, LV/LVPW, LVPW bottom

    @property
    def grey(self) -> np.ndarray:
        f = self.screen.astype(np.float32)
        return np.clip(0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2] + 0.5, 0, 255).astype(np.uint8)


def _timing(p: MModeParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Column times, phase, and ED and ES times (s) of the beats."""
    t = np.arange(p.n_columns) * p.seconds_per_px
    rng = np.random.default_rng([p.seed, 7])
    rr0 = 60.0 / p.heart_rate_bpm
    rr = rr0 * (1.0 + p.rr_jitter * rng.uniform(-1, 1, size=64))
    starts = beat_starts(t[-1], rr, p.start_phase)
    ends = np.append(starts[1:], starts[-1] + rr[len(starts) % len(rr)])
    idx = np.clip(np.searchsorted(ends, t, side="right"), 0, len(starts) - 1)
    phase = (t - starts[idx]) / (ends[idx] - starts[idx])
    es = starts + p.es_phase * (ends - starts)
    return t, phase, starts, es


def _walls(p: MModeParams, f: np.ndarray) -> np.ndarray:
    """Depths (mm) of the four boundaries at systolic fraction ``f``."""
    lvid = p.lvidd_mm * (1.0 - p.fs_pct / 100.0 * f)
    change = p.lvidd_mm - lvid
    r_d, r = p.lvidd_mm / 2.0, lvid / 2.0

    def thick(h_d: float) -> np.ndarray:
        return np.sqrt(r**2 + (r_d + h_d) ** 2 - r_d**2) - r

    ivs_lv = p.chest_mm + p.rv_mm + p.ivsd_mm + p.septal_share * change
    lv_pw = ivs_lv + lvid
    return np.stack([ivs_lv - thick(p.ivsd_mm), ivs_lv, lv_pw, lv_pw + thick(p.lvpwd_mm)])


def _texture(rng: np.random.Generator, length_mm: float, res_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Speckle amplitude as a function of material depth: random scatterers under a
    Gaussian pulse of the axial resolution, sampled every tenth of it."""
    step = res_mm / 10.0
    grid = np.arange(-2 * res_mm, length_mm + 2 * res_mm, step)
    raw = rng.normal(size=len(grid)) + 1j * rng.normal(size=len(grid))
    env = np.abs(gaussian_filter1d(raw.real, 3.0) + 1j * gaussian_filter1d(raw.imag, 3.0))
    return grid, env / (env.mean() + 1e-9)


def _echogenicity(p: MModeParams, depth: np.ndarray, walls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Echo level and material depth (mm at ED) of every pixel (depth rows x columns)."""
    top, ivs_lv, lv_pw, bottom = walls[:, None, :]
    d = depth[:, None]
    level = np.full((len(depth), walls.shape[1]), 0.25)
    level = np.where(d < p.chest_mm, 0.7, level)
    rv_top = p.chest_mm
    level = np.where((d >= rv_top) & (d < top), p.blood_level, level)
    level = np.where((d >= top) & (d < ivs_lv), 0.45, level)
    level = np.where((d >= ivs_lv) & (d < lv_pw), p.blood_level, level)
    level = np.where((d >= lv_pw) & (d < bottom), 0.5, level)
    # the pericardium is the strongest echo of a parasternal view (+10 to +15 dB over myocardium)
    level = np.where((d >= bottom) & (d < bottom + p.pericardium_mm), 5.0, level)
    # Material depth: linear within each moving layer, the ED depth of the same tissue.
    ed = walls[:, :1]

    def within(lo: np.ndarray, hi: np.ndarray, lo0: float, hi0: float) -> np.ndarray:
        frac = (d - lo) / np.maximum(hi - lo, 1e-6)
        return lo0 + frac * (hi0 - lo0)

    mat = d + np.zeros_like(level)
    mat = np.where((d >= top) & (d < ivs_lv), within(top, ivs_lv, ed[0, 0], ed[1, 0]), mat)
    mat = np.where((d >= lv_pw) & (d < bottom), within(lv_pw, bottom, ed[2, 0], ed[3, 0]), mat)
    shift = bottom - ed[3, 0]  # tissue behind the heart follows the posterior wall
    mat = np.where(d >= bottom, d - shift, mat)
    return level, mat


def _strip(p: MModeParams, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
    t, phase, starts, es = _timing(p)
    f = mmode_fraction(phase, p.es_phase)
    walls = _walls(p, f)
    depth_mm = walls[3].max() + p.pericardium_mm + (12.0 if p.species == "human" else 1.5 * p.lvidd_mm / 4.0)
    rows = int(np.ceil(depth_mm / p.mm_per_px))
    depth = (np.arange(rows) + 0.5) * p.mm_per_px
    if p.texture == "tissue":
        # Layered non-cardiac tissue (liver, muscle) moving with breathing, no cavity.
        breath = 0.03 * depth_mm * np.sin(2 * np.pi * t / 1.7 * (1.0 if p.species == "human" else 4.0))
        mat = depth[:, None] + breath[None, :]
        level = 0.5 * (1.0 + 0.5 * np.sin(mat / (0.07 * depth_mm)))
    else:
        level, mat = _echogenicity(p, depth, walls)
    grid, tex = _texture(rng, depth_mm + 5.0, p.axial_res_mm)
    speckle = np.interp(mat, grid, tex)
    blood = level < 0.1
    # Blood decorrelates from one line to the next; tissue speckle does not.
    speckle = np.where(blood, rng.rayleigh(0.8, size=speckle.shape), speckle)
    amp = gaussian_filter1d(level * speckle, p.axial_res_mm / p.mm_per_px * 0.5, axis=0)
    amp = amp * np.exp(-0.9 * depth[:, None] / depth_mm)  # attenuation after TGC
    noise = 10 ** (p.noise_db / 20.0) * rng.rayleigh(1.0, size=amp.shape)
    db = 20 * np.log10(amp + noise + 1e-6) + p.gain_db
    img = np.clip((db + p.dynamic_range_db) / p.dynamic_range_db, 0, 1) ** 1.3
    strip = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    truth = _truth(p, starts, es, t)
    return strip, truth, walls


def _truth(p: MModeParams, starts: np.ndarray, es: np.ndarray, t: np.ndarray) -> dict[str, Any]:
    ok = (starts >= 0) & (es <= t[-1])
    lvids = p.lvidd_mm * (1 - p.fs_pct / 100.0)
    w_es = _walls(p, np.array([1.0]))[:, 0]
    w_ed = _walls(p, np.array([0.0]))[:, 0]
    rodent = p.species != "human"
    edv, esv = teichholz_ml(p.lvidd_mm, rodent), teichholz_ml(lvids, rodent)
    mass = lv_mass(p.ivsd_mm, p.lvidd_mm, p.lvpwd_mm, rodent)
    return {
        "mode": "mmode", "species": p.species, "lvidd_mm": p.lvidd_mm, "lvids_mm": lvids,
        "ivsd_mm": float(w_ed[1] - w_ed[0]), "ivss_mm": float(w_es[1] - w_es[0]),
        "lvpwd_mm": float(w_ed[3] - w_ed[2]), "lvpws_mm": float(w_es[3] - w_es[2]),
        "fs_pct": p.fs_pct, "edv_teichholz_ml": edv, "esv_teichholz_ml": esv,
        "lvef_teichholz_pct": 100.0 * (edv - esv) / edv,
        "lv_mass_g": None if rodent else mass, "lv_mass_mg": mass if rodent else None,
        "ed_times_s": [float(x) for x in starts[(starts >= 0) & (starts <= t[-1])]],
        "es_times_s": [float(x) for x in es[(es >= 0) & (es <= t[-1])]],
        "n_complete_beats": int(ok.sum()), "heart_rate_bpm": p.heart_rate_bpm,
        "texture": p.texture,
    }


def _ecg_strip(p: MModeParams, width: int) -> np.ndarray:
    """A green ECG line on black (``_ECG_ROWS`` x width x 3), R waves at the EDs."""
    t, phase, _, _ = _timing(p)
    wave = ecg_waveform(phase[:width])
    rows = (_ECG_ROWS * 0.75 - wave * _ECG_ROWS * 0.5).astype(np.int32)
    img = np.zeros((_ECG_ROWS, width, 3), np.uint8)
    pts = np.stack([np.arange(width), np.clip(rows, 0, _ECG_ROWS - 1)], axis=1).astype(np.int32)
    cv2.polylines(img, [pts], False, (40, 230, 80), 2)  # 2 px: a 1 px spike loses its colour in JPEG 4:2:2
    return img


def _two_d_image(p: MModeParams, width: int, height: int) -> tuple[np.ndarray, float]:
    """A parasternal 2-D frame for the top of the screen, with the M-line drawn, and its
    mm per pixel."""
    from echoquant.synth.generate import frame_schedule, generate_case, sample_params

    preset = "human" if p.species == "human" else p.species
    case_params = sample_params(preset, p.seed + 31, pathology="normal",
                                **({} if p.species == "human" else {"view": "PLAX"}))
    _, ed, _ = frame_schedule(case_params)
    case = generate_case(case_params, only_frames=[int(ed[0])])
    frame = case.grey[int(ed[0])]
    scale = min(width / frame.shape[1], height / frame.shape[0])
    img = cv2.resize(frame, (int(frame.shape[1] * scale), int(frame.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    rgb = np.repeat(img[..., None], 3, axis=-1)
    x = img.shape[1] // 2
    cv2.line(rgb, (x, 0), (x, img.shape[0] - 1), (230, 230, 230), 1)
    return rgb, case.params.spacing_mm / scale


def generate_mmode(params: MModeParams) -> MModeCase:
    """Render an M-mode screen and its truth."""
    rng = np.random.default_rng([params.seed, 99])
    strip, truth, walls = _strip(params, rng)
    h, w = strip.shape
    margin = 24
    top_h = 200 if params.with_2d else 0
    screen_h = margin + top_h + (_GAP if top_h else 0) + h + (_GAP + _ECG_ROWS if params.ecg else 0) + margin
    screen_w = w + 2 * margin
    screen = np.zeros((screen_h, screen_w, 3), np.uint8)
    regions = []
    row = margin
    if params.with_2d:
        img, mm_px = _two_d_image(params, min(320, w), top_h)
        c0 = (screen_w - img.shape[1]) // 2
        screen[row:row + img.shape[0], c0:c0 + img.shape[1]] = img
        regions.append(RegionSpec(c0, row, c0 + img.shape[1] - 1, row + img.shape[0] - 1, mm_px / 10.0, mm_px / 10.0))
        row += top_h + _GAP
    strip_box = (row, margin, row + h, margin + w)
    screen[row:row + h, margin:margin + w] = strip[..., None]
    regions.append(RegionSpec(margin, row, margin + w - 1, row + h - 1, params.seconds_per_px,
                              params.mm_per_px / 10.0, spatial_format=2, data_type=1, units_x=4, units_y=3))
    row += h
    if params.ecg:
        row += _GAP
        screen[row:row + _ECG_ROWS, margin:margin + w] = _ecg_strip(params, w)
        regions.append(RegionSpec(margin, row, margin + w - 1, row + _ECG_ROWS - 1, params.seconds_per_px, 1.0,
                                  spatial_format=4, data_type=0x0A, units_x=4, units_y=0))
    # Burned-in text beside the strip, as scanners write it.
    cv2.putText(screen, f"M-mode {params.species}", (margin, margin - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                (200, 200, 200), 1, cv2.LINE_AA)
    return MModeCase(screen, strip, strip_box, regions, truth, walls)


MMODE_TRUTH_COLUMNS = ["file", "species", "texture", "lvidd_mm", "lvids_mm", "ivsd_mm", "ivss_mm", "lvpwd_mm",
                       "lvpws_mm", "fs_pct", "lvef_teichholz_pct", "lv_mass_g", "lv_mass_mg", "heart_rate_bpm",
                       "n_complete_beats", "ed_times_s", "es_times_s", "seconds_per_px", "mm_per_px", "compression",
                       "colour", "with_2d", "ecg", "seed", "subject_id", "group", "timepoint"]


def write_mmode_case(case: MModeCase, params: MModeParams, out_dir: str | Path, name: str, *,
                     compression: str = "none", colour: bool = True,
                     identity: DicomIdentity | None = None) -> dict[str, Any]:
    """Write ``name.dcm`` (single-frame Ultrasound Image Storage with the 2-D, M-mode and
    ECG regions) and ``name.json`` (truth, parameters, the true boundaries); returns a
    truth row (:data:`MMODE_TRUTH_COLUMNS`)."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    identity = identity or DicomIdentity(patient_id=f"SYM{params.seed:06d}", seed_text=f"mmode-{params.seed}")
    identity.view_meaning = identity.view_meaning or "PLAX"
    identity.manufacturer, identity.model = "echoquant-synth", f"{params.species}-mmode"
    pixels = case.screen if (colour or compression == "jpeg") else case.grey
    path = write_us_dicom(out / f"{name}.dcm", pixels[None], frame_time_ms=None, regions=case.regions,
                          heart_rate_bpm=params.heart_rate_bpm, identity=identity, compression=compression,
                          multiframe=False)
    meta = {"truth": case.truth, "params": params.to_dict(), "dicom": path.name, "strip_box": case.strip_box,
            "boundaries_mm": case.boundaries_mm.astype(np.float32).tolist(), "generator": "echoquant.synth.mmode"}
    tmp = out / f".{name}.json.partial"
    tmp.write_text(json.dumps(meta))
    tmp.replace(out / f"{name}.json")
    t = case.truth
    row = {k: t.get(k) for k in MMODE_TRUTH_COLUMNS if k in t}
    row.update(file=path.name, seconds_per_px=params.seconds_per_px, mm_per_px=params.mm_per_px,
               compression=compression, colour=bool(colour or compression == "jpeg"), with_2d=params.with_2d,
               ecg=params.ecg, seed=params.seed, subject_id=identity.patient_id,
               ed_times_s=";".join(f"{x:.5f}" for x in t["ed_times_s"]),
               es_times_s=";".join(f"{x:.5f}" for x in t["es_times_s"]))
    return row


def fs_for_teichholz_ef(lvidd_mm: float, lvef_pct: float, rodent: bool) -> float:
    """The fractional shortening (%) whose Teichholz LVEF is ``lvef_pct`` at ``lvidd_mm``."""
    from scipy.optimize import brentq

    edv = teichholz_ml(lvidd_mm, rodent)
    target = edv * (1.0 - lvef_pct / 100.0)
    ds = brentq(lambda d: teichholz_ml(d, rodent) - target, 1e-3 * lvidd_mm, lvidd_mm)
    return 100.0 * (1.0 - ds / lvidd_mm)


def _write_one(job: tuple) -> dict[str, Any]:
    params, out_dir, name, compression, colour, *rest = job
    identity, extra = (rest + [None, {}])[:2]
    row = write_mmode_case(generate_mmode(params), params, out_dir, name, compression=compression, colour=colour,
                           identity=identity)
    row.update(extra or {})
    return row


def write_mmode_jobs(jobs: list[tuple], workers: int = 1) -> list[dict[str, Any]]:
    """Write M-mode screens ``(params, out_dir, name, compression, colour[, identity, extra])``;
    returns their truth rows (``extra`` merged in)."""
    from concurrent.futures import ProcessPoolExecutor

    from echoquant._memory import keep_freed_memory

    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers, initializer=keep_freed_memory) as pool:
            return list(pool.map(_write_one, jobs))
    return [_write_one(j) for j in jobs]


def write_mmode_suite(out_dir: str | Path, n: int, *, seed: int = 0, preset: str = "rodent",
                      workers: int = 1, **overrides: Any) -> Path:
    """``n`` M-mode screens (``mmode_00000.dcm``...) with ``truth.csv``; compression and
    colour alternate (uncompressed grey, JPEG, uncompressed RGB)."""
    out = Path(out_dir)
    jobs = []
    for i in range(n):
        params = sample_mmode_params(preset, seed * 100003 + i, **overrides)
        compression, colour = (("none", False), ("jpeg", True), ("none", True))[i % 3]
        jobs.append((params, str(out), f"mmode_{i:05d}", compression, colour))
    rows = write_mmode_jobs(jobs, workers)
    out.mkdir(parents=True, exist_ok=True)
    return write_mmode_truth(out / "truth.csv", rows)


def write_mmode_truth(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write M-mode truth rows (:data:`MMODE_TRUTH_COLUMNS`) atomically."""
    write_csv_rows(path, rows, MMODE_TRUTH_COLUMNS)
    return path
