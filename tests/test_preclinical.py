"""Preclinical endpoints (issue 33): analytic truth for the bullet volume and the
area-length mass, PLAX and SAX dimensions on known shapes, FS and FAC on a known
deformation, and the parasternal study rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from echoquant.quant.bullet import area_length_mass_mg, bullet_volume_ml
from echoquant.quant.cycle import Beat
from echoquant.quant.plax import PLAX_LVID_LEVEL, plax_dimensions
from echoquant.quant.sax import cavity_areas
from echoquant.quant.saxmotion import sax_beat_motion
from echoquant.quant.study import StudyClip, parasternal_study


def _bullet_solid_mm3(r: float, length: float) -> float:
    """Volume of a cylinder (height L/2) capped by a half ellipsoid (height L/2), by
    integrating disk areas along the axis (independent of the 5/6 formula)."""
    half = length / 2

    def radius(z: float) -> float:
        return r if z <= half else r * math.sqrt(max(0.0, 1 - ((z - half) / half) ** 2))

    return quad(lambda z: math.pi * radius(z) ** 2, 0, length, points=[half], limit=200)[0]


@pytest.mark.parametrize("r, length", [(2.0, 7.0), (3.1, 12.0), (25.0, 85.0)])
def test_bullet_volume_is_exact_for_its_solid(r: float, length: float) -> None:
    assert bullet_volume_ml(math.pi * r * r, length) * 1000 == pytest.approx(_bullet_solid_mm3(r, length), rel=1e-6)


def test_bullet_overestimates_a_half_ellipsoid_by_a_quarter() -> None:
    r, length = 2.0, 7.0
    half_ellipsoid = 2 / 3 * math.pi * r * r * length
    assert bullet_volume_ml(math.pi * r * r, length) * 1000 == pytest.approx(1.25 * half_ellipsoid, rel=1e-9)


@pytest.mark.parametrize("r, t, length", [(2.0, 0.8, 7.0), (1.6, 1.1, 6.0), (25.0, 9.0, 85.0)])
def test_area_length_mass_is_the_myocardium_between_nested_bullets(r: float, t: float, length: float) -> None:
    """Endocardium: a bullet of radius r, length L; epicardium: radius r + t, length L + t
    (the wall wraps the apex). Myocardial volume x 1.05 mg/mm^3 is the formula's mass."""
    myocardium = _bullet_solid_mm3(r + t, length + t) - _bullet_solid_mm3(r, length)
    mass = area_length_mass_mg(math.pi * (r + t) ** 2, math.pi * r * r, length)
    assert mass == pytest.approx(1.05 * myocardium, rel=1e-6)


def test_bullet_and_mass_reject_impossible_inputs() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        bullet_volume_ml(-1.0, 5.0)
    with pytest.raises(ValueError, match="endocardial area <= epicardial"):
        area_length_mass_mg(5.0, 9.0, 7.0)


def _half_ellipse(b: float, length: float, n: int = 400) -> np.ndarray:
    """Contour hinge -> apex -> hinge of a half ellipse (semi-axes b across, L along),
    base at y = L (image down), apex at y = 0."""
    phi = np.linspace(0, np.pi, n)
    return np.stack([b * np.cos(phi), length - length * np.sin(phi)], axis=1)


def test_plax_dimensions_of_nested_half_ellipses() -> None:
    b, length, w = 2.0, 7.0, 0.8
    endo = _half_ellipse(b, length)
    t = np.linspace(0, 2 * np.pi, 800, endpoint=False)
    outer = np.stack([(b + w) * np.cos(t), length - (length + w) * np.sin(t)], axis=1)
    d = plax_dimensions(endo, outer)
    # the line lies 0.3 L from the base (the ellipses' centre line) towards the apex
    s = PLAX_LVID_LEVEL * length
    half_in = b * math.sqrt(1 - (s / length) ** 2)
    half_out = (b + w) * math.sqrt(1 - (s / (length + w)) ** 2)
    assert d.length == pytest.approx(length, rel=1e-3)
    assert d.lvid == pytest.approx(2 * half_in, rel=2e-3)
    assert d.ivs == pytest.approx(half_out - half_in, rel=1e-2)
    assert d.lvpw == pytest.approx(half_out - half_in, rel=1e-2)


def _sax_loop(r_ed: float, r_es: float, wall_ed: float, shape: tuple[int, int] = (320, 320)):
    """Two frames of a round section: cavity radius r_ed then r_es (px), the wall keeping
    its area (incompressible ring) so its thickness at ES is known."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    rho = np.hypot(xx - shape[1] / 2, yy - shape[0] / 2)
    outer_ed = r_ed + wall_ed
    outer_es = math.sqrt(r_es ** 2 + outer_ed ** 2 - r_ed ** 2)
    cavity = np.stack([rho <= r_ed, rho <= r_es])
    myo = np.stack([(rho > r_ed) & (rho <= outer_ed), (rho > r_es) & (rho <= outer_es)])
    frames = np.full((2, *shape), 60, np.uint8)
    return frames, cavity, myo, outer_es - r_es


def test_fs_fac_and_thickening_on_a_known_deformation() -> None:
    r_ed, r_es, wall = 100.0, 70.0, 25.0
    frames, cavity, myo, wall_es = _sax_loop(r_ed, r_es, wall)
    m = sax_beat_motion(frames, cavity, myo, Beat(0, 1, None), (0.02, 0.02), track=False)
    # the pixelised discs' own radii (their borders lie on pixel edges)
    r_ed, r_es = (math.sqrt(c.sum() / math.pi) for c in cavity)
    assert m.lvidd == pytest.approx(2 * r_ed * 0.02, abs=0.025)  # about a pixel (a disc of pixels is not round)
    assert m.fs_pct == pytest.approx(100 * (r_ed - r_es) / r_ed, abs=1.0)
    grs_true = 100 * (wall_es - wall) / wall
    assert m.grs_pct == pytest.approx(grs_true, abs=2.0)  # a 25-px wall: a pixel is 4 % of it
    assert all(e == pytest.approx(100 * (r_ed - r_es) / r_ed, abs=1.5) for e in m.segment_excursion_pct)
    area = cavity_areas(cavity, (0.02, 0.02))
    fac = 100 * (area[0] - area[1]) / area[0]
    assert fac == pytest.approx(100 * (1 - (r_es / r_ed) ** 2), abs=1.0)


def _clip(view: str | None, qc: bool = True, mode: str = "2d", **extra) -> StudyClip:
    values = {"lvef_pct": extra.pop("lvef_pct", None), "edv_ml": extra.pop("edv_ml", None),
              "esv_ml": extra.pop("esv_ml", None), "gls_pct": extra.pop("gls_pct", None)}
    return StudyClip(path=f"{view}-{mode}.dcm", view=view, qc_pass=qc, values=values,
                     intervals={"lvef_pct": (None, None)}, spacing_mm=(0.03, 0.03), n_beats=3,
                     ids={"patient_id": "M1", "timepoint": "baseline"}, extra={"mode": mode, "species": "mouse", **extra})


def test_parasternal_study_bullet_mass_and_mmode_side_by_side() -> None:
    plax = _clip("PLAX", lvef_pct=50.0, edv_ml=0.06, esv_ml=0.03, gls_pct=-15.0, lv_length_mm=7.0,
                 lv_length_es_mm=6.0, fs_pct=25.0)
    sax = _clip("SAX", eda_mm2=12.0, esa_mm2=6.0, epi_eda_mm2=20.0, fac_pct=50.0, fac_ci_low=45.0, fac_ci_high=55.0,
                gcs_pct=-20.0, fs_pct=30.0, akinetic_extent_pct=33.3)
    mm = _clip("PLAX", mode="mmode", fs_pct=32.0, lvef_teichholz_pct=60.0, lv_mass_mg=90.0)
    s = parasternal_study("k", [plax, sax, mm])
    assert s.method == "bullet" and s.qc_pass
    edv, esv = 5 / 6 * 12.0 * 7.0 / 1000, 5 / 6 * 6.0 * 6.0 / 1000
    assert s.values["edv_ml"] == pytest.approx(edv) and s.values["esv_ml"] == pytest.approx(esv)
    assert s.values["lvef_pct"] == pytest.approx(100 * (edv - esv) / edv)
    assert s.values["lv_mass_mg"] == pytest.approx(area_length_mass_mg(20.0, 12.0, 7.0))
    assert s.values["edv_ul"] == pytest.approx(1000 * edv)
    assert (s.values["fs_pct"], s.values["fs_source"]) == (32.0, "mmode")
    assert s.values["fac_pct"] == 50.0 and s.values["lvef_teichholz_pct"] == 60.0
    assert s.values["lv_mass_mmode_mg"] == 90.0 and s.values["akinetic_extent_pct"] == 33.3
    lo, hi = s.intervals["lvef_pct"]
    assert hi - lo == pytest.approx(10.0 * 6.0 / 7.0)
    row = s.row()
    assert row["method"] == "bullet" and row["sax_path"] == "SAX-2d.dcm" and row["mmode_path"] == "PLAX-mmode.dcm"


def test_parasternal_study_falls_back_with_a_flag() -> None:
    plax = _clip("PLAX", lvef_pct=50.0, edv_ml=0.06, esv_ml=0.03, lv_length_mm=7.0, lv_length_es_mm=6.0)
    alone = parasternal_study("k", [plax])
    assert alone.method == "single_plane_plax" and alone.values["lvef_pct"] == 50.0
    assert any(f.startswith("bullet_view_missing") for f in alone.flags)
    bad_sax = _clip("SAX", qc=False, eda_mm2=12.0, esa_mm2=6.0, fac_pct=50.0)
    failed = parasternal_study("k", [plax, bad_sax])
    assert failed.method == "single_plane_plax" and any(f.startswith("bullet_qc") for f in failed.flags)
    # a clip that fails QC gives no value to the study
    assert failed.values["fac_pct"] is None and any(f.startswith("clip_fails_qc: the study's SAX")
                                                    for f in failed.flags)
    assert failed.qc_pass
    sax_only = parasternal_study("k", [_clip("SAX", eda_mm2=12.0, esa_mm2=6.0, fac_pct=50.0)])
    assert sax_only.method == "none" and sax_only.values["fac_pct"] == 50.0 and sax_only.values["lvef_pct"] is None


def _contracting_speckle(n_frames: int = 9, r_ed: float = 60.0, scale_es: float = 0.75, size: int = 240):
    """A speckle texture contracting homogeneously about the centre: scale 1 at frame 0
    and the last frame, ``scale_es`` at the middle one (ES); the cavity is the disc of
    radius ``r_ed`` times the frame's scale, so the true ES/ED area ratio is scale_es**2."""
    import cv2
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(3)
    tex = gaussian_filter(rng.normal(size=(size, size)), 1.2)
    tex = np.clip(128 + 40 * tex / tex.std(), 0, 255).astype(np.float32)
    es = n_frames // 2
    scales = 1 - (1 - scale_es) * np.sin(np.pi * np.arange(n_frames) / (n_frames - 1)) ** 1
    c = size / 2
    frames = np.stack([cv2.warpAffine(tex, np.float32([[s, 0, c * (1 - s)], [0, s, c * (1 - s)]]), (size, size),
                                      flags=cv2.INTER_LINEAR) for s in scales]).astype(np.uint8)
    yy, xx = np.mgrid[:size, :size]
    rho = np.hypot(xx - c + 0.5, yy - c + 0.5)
    return frames, scales, rho, es


def test_tracked_ring_follows_a_known_contraction() -> None:
    frames, scales, rho, es = _contracting_speckle()
    r_ed = 60.0
    cavity = np.stack([rho <= r_ed * s for s in scales])
    myo = np.stack([(rho > r_ed * s) & (rho <= r_ed * s + 20) for s in scales])
    m = sax_beat_motion(frames, cavity, myo, Beat(0, es, len(frames) - 1), (0.02, 0.02), track=True)
    assert m.tracked_es_area_ratio == pytest.approx(scales[es] ** 2, abs=0.02)
    assert m.tracked_lvids == pytest.approx(m.lvidd * scales[es], rel=0.03)


def test_fac_takes_the_tracked_border_only_where_it_moved_further_in() -> None:
    from echoquant.quant.sax import _areas_from_tracking, _beat

    frames, scales, rho, es = _contracting_speckle()
    r_ed, beat = 60.0, Beat(0, es, len(frames) - 1)
    truth_fac = 100 * (1 - scales[es] ** 2)
    for lag_px in (6.0, 0.0):  # a network that draws the ES cavity too large, or an exact one
        cavity = np.stack([rho <= r_ed * s for s in scales])
        cavity[es] = rho <= r_ed * scales[es] + lag_px
        myo = np.stack([(rho > r_ed * s) & (rho <= r_ed * s + 20) for s in scales])
        result = _beat(beat, cavity_areas(cavity, (0.02, 0.02)), None, True)
        seg_fac = result.fac_pct
        m = sax_beat_motion(frames, cavity, myo, beat, (0.02, 0.02), track=True)
        tracked_fac = 100 * (1 - m.tracked_es_area_ratio)
        source = _areas_from_tracking([result], [m], True)
        assert result.fac_seg_pct == seg_fac
        assert result.fac_pct == max(seg_fac, tracked_fac)
        assert source == ("tracking" if tracked_fac > seg_fac else "segmentation")
        assert result.fac_pct == pytest.approx(truth_fac, abs=1.5)
        if lag_px:
            assert seg_fac < truth_fac - 8 and source == "tracking"
            assert result.esa_mm2 == pytest.approx(result.eda_mm2 * (1 - result.fac_pct / 100))


def test_grs_takes_the_tracked_endocardium_only_where_the_wall_thickened_more() -> None:
    frames, scales, rho, es = _contracting_speckle()
    r_ed, wall_ed, beat = 60.0, 20.0, Beat(0, es, len(frames) - 1)
    # the wall thickens as the ring contracts: its outer border at r s + 20 / s
    outer = [r_ed * s + wall_ed / s for s in scales]
    truth = 100 * (outer[es] - r_ed * scales[es] - wall_ed) / wall_ed
    grs = {}
    for lag_px in (6.0, 0.0):  # a network that draws the ES cavity too large, or an exact one
        cavity = np.stack([rho <= r_ed * s for s in scales])
        cavity[es] = rho <= r_ed * scales[es] + lag_px
        myo = np.stack([~cavity[i] & (rho <= outer[i]) for i in range(len(scales))])
        untracked = sax_beat_motion(frames, cavity, myo, beat, (0.02, 0.02), track=False).grs_pct
        grs[lag_px] = sax_beat_motion(frames, cavity, myo, beat, (0.02, 0.02), track=True).grs_pct
        assert grs[lag_px] >= untracked
        if lag_px:
            assert untracked < truth - 15  # 6 px of a 29-px wall
    assert grs[0.0] == pytest.approx(truth, abs=3.0)
    assert grs[6.0] == pytest.approx(truth, abs=3.0)


def test_plax_takes_the_tracked_contour_only_where_it_contracts_further() -> None:
    from echoquant.quant.pipeline import _plax_tracked
    from echoquant.quant.result import BeatResult

    # A half ellipse (hinge -> apex -> hinge) shrinking about its base midpoint by s:
    # disk volumes scale by s**3, the LVID at the leaflet-tip level by s.
    t = np.linspace(0.0, np.pi, 81)
    contour = np.stack([100 + 40 * np.cos(t), 50 + 120 * np.sin(t)], axis=1)
    base = 0.5 * (contour[0] + contour[-1])
    scales = [1.0, 0.9, 0.8, 0.85, 1.0]
    tracked = {"fb_failure": 0.0, "positions": np.stack([base + s * (contour - base) for s in scales])}
    true_lvef, true_fs = 100 * (1 - 0.8 ** 3), 100 * (1 - 0.8)

    def beat(lvef: float, fs: float) -> BeatResult:
        return BeatResult(0, 2, 4, lvef, 0.05, 0.05 * (1 - lvef / 100), None, None, None, None,
                          fs_pct=fs, lvidd_mm=4.0, lvids_mm=4.0 * (1 - fs / 100))

    lagging = beat(true_lvef - 10, true_fs - 5)
    assert _plax_tracked(lagging, tracked, (0.05, 0.05))
    assert lagging.lvef_pct == pytest.approx(true_lvef, abs=0.5) and lagging.fs_pct == pytest.approx(true_fs, abs=0.5)
    assert lagging.esv_ml == pytest.approx(0.05 * 0.8 ** 3, rel=0.02)
    assert lagging.lvids_mm == pytest.approx(4.0 * 0.8, rel=0.01)
    ahead = beat(true_lvef + 3, true_fs + 3)  # segmentation contracting further: kept
    assert not _plax_tracked(ahead, tracked, (0.05, 0.05))
    assert ahead.lvef_pct == true_lvef + 3 and ahead.fs_pct == true_fs + 3
    assert not _plax_tracked(beat(10.0, 5.0), {**tracked, "fb_failure": 0.5}, (0.05, 0.05))  # failed tracking
