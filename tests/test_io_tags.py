"""Timing, calibration, sector and round trips through our own writer."""

from __future__ import annotations

import numpy as np
import pytest

from echoquant.flags import has_flag
from echoquant.io import read_cine
from echoquant.io.writer import DicomIdentity, RegionSpec, write_us_dicom

from .conftest import moving_loop

TISSUE = RegionSpec(0, 0, 127, 95, delta_x=0.03, delta_y=0.02)


@pytest.mark.parametrize("compression", ["none", "jpeg"])
def test_roundtrip(tmp_path, compression):
    frames = moving_loop(n=10)
    p = write_us_dicom(
        tmp_path / "a.dcm",
        frames,
        frame_time_ms=25.0,
        regions=[TISSUE],
        heart_rate_bpm=72,
        compression=compression,
        identity=DicomIdentity(patient_id="P1", seed_text="case-1", view_meaning="A2C"),
    )
    cine = read_cine(p)
    assert cine.frames.shape == frames.shape
    tol = 0 if compression == "none" else 12
    assert np.abs(cine.frames.astype(int) - frames).mean() <= max(tol / 4, 0)
    assert cine.fps == pytest.approx(40.0)
    assert cine.spacing_mm == pytest.approx((0.2, 0.3))
    assert has_flag(cine.flags, "anisotropic_pixels")
    assert cine.heart_rate_bpm == 72
    assert cine.meta.patient_id == "P1" and cine.meta.view == "A2C"
    assert not cine.has_color_doppler
    # the static text in the corner is outside the fan, the sector inside
    assert not cine.fan_mask[3, 10] and cine.fan_mask[50, 64]


def test_uids_deterministic(tmp_path):
    ids = [
        read_cine(write_us_dicom(tmp_path / f"{i}.dcm", moving_loop(), frame_time_ms=20,
                                 identity=DicomIdentity(seed_text="same"))).meta.sop_uid
        for i in range(2)
    ]
    assert ids[0] == ids[1]


def test_frame_time_vector_first(tmp_path):
    inc = [0.0] + [20.0, 22.0] * 5 + [20.0]
    p = write_us_dicom(tmp_path / "v.dcm", moving_loop(n=12), frame_time_ms=50.0, frame_time_vector_ms=inc)
    cine = read_cine(p)
    assert cine.timing_source == "FrameTimeVector"
    assert np.allclose(cine.frame_times_ms, np.cumsum(inc))
    assert cine.fps == pytest.approx(11 / (sum(inc) / 1000))


def test_frame_time_vector_wrong_length_falls_back(tmp_path):
    p = write_us_dicom(tmp_path / "v.dcm", moving_loop(n=12), frame_time_ms=50.0, frame_time_vector_ms=[0, 20, 20])
    cine = read_cine(p)
    assert cine.timing_source == "FrameTime" and cine.fps == pytest.approx(20.0)
    assert has_flag(cine.flags, "timing_inconsistent")


def test_cine_rate_then_display_rate(tmp_path):
    p = write_us_dicom(tmp_path / "c.dcm", moving_loop(), frame_time_ms=None, cine_rate=50)
    cine = read_cine(p)
    assert cine.timing_source == "CineRate" and cine.fps == 50

    import pydicom

    ds = pydicom.dcmread(p)
    del ds.CineRate
    ds.RecommendedDisplayFrameRate = 25
    ds.save_as(p)
    cine = read_cine(p)
    assert cine.timing_source == "RecommendedDisplayFrameRate" and cine.fps == 25
    assert has_flag(cine.flags, "timing_from_display_rate")


def test_no_timing_is_none_with_flag_never_30(tmp_path):
    cine = read_cine(write_us_dicom(tmp_path / "n.dcm", moving_loop(), frame_time_ms=None))
    assert cine.fps is None and cine.frame_times_ms is None and cine.timing_source is None
    assert has_flag(cine.flags, "timing_missing")


@pytest.mark.parametrize("hr", [0, -1])
def test_heart_rate_not_recorded(tmp_path, hr):
    cine = read_cine(write_us_dicom(tmp_path / "h.dcm", moving_loop(), frame_time_ms=20, heart_rate_bpm=hr))
    assert cine.heart_rate_bpm is None and has_flag(cine.flags, "heart_rate_missing")


def test_no_calibration_flagged(tmp_path):
    cine = read_cine(write_us_dicom(tmp_path / "n.dcm", moving_loop(), frame_time_ms=20))
    assert cine.spacing_mm is None and has_flag(cine.flags, "calibration_missing")


def test_region_outside_frame_untrusted(tmp_path):
    big = RegionSpec(10, 10, 400, 300, 0.05, 0.05)
    cine = read_cine(write_us_dicom(tmp_path / "o.dcm", moving_loop(), frame_time_ms=20, regions=[big]))
    assert cine.spacing_mm is None and has_flag(cine.flags, "calibration_untrusted")


def test_region_units_not_cm_falls_back_to_pixel_spacing(tmp_path):
    import pydicom

    reg = RegionSpec(0, 0, 127, 95, 0.03, 0.03, units_x=0, units_y=0)
    p = write_us_dicom(tmp_path / "u.dcm", moving_loop(), frame_time_ms=20, regions=[reg])
    ds = pydicom.dcmread(p)
    ds.PixelSpacing = [0.25, 0.25]
    ds.save_as(p)
    cine = read_cine(p)
    assert cine.calibration_source == "PixelSpacing" and cine.spacing_mm == (0.25, 0.25)
    assert has_flag(cine.flags, "region_units_not_cm")


def test_tissue_region_chosen_among_several(tmp_path):
    dummy = RegionSpec(0, 0, 127, 95, 1.0, 1.0, spatial_format=0, data_type=0, units_x=0, units_y=0)
    ecg = RegionSpec(0, 80, 127, 95, 0.01, 0.1, spatial_format=4, data_type=10, units_x=4, units_y=0)
    tissue = RegionSpec(20, 0, 110, 79, 0.04, 0.04)
    p = write_us_dicom(tmp_path / "m.dcm", moving_loop(), frame_time_ms=20, regions=[dummy, ecg, tissue])
    cine = read_cine(p)
    assert cine.spacing_mm == pytest.approx((0.4, 0.4))
    assert (cine.sector_box.col_start, cine.sector_box.col_stop) == (20, 111)
    assert not cine.fan_mask[:, :20].any() and not cine.fan_mask[80:].any()


def test_colour_doppler_flagged(tmp_path):
    frames = np.repeat(moving_loop()[..., None], 3, axis=-1)
    frames[:, 30:60, 50:80] = [200, 30, 30]  # a red flow jet inside the sector
    frames[:, 35:55, 55:75] = [30, 40, 220]
    cine = read_cine(write_us_dicom(tmp_path / "d.dcm", frames, frame_time_ms=20, compression="jpeg"))
    assert cine.has_color_doppler and cine.color_doppler_fraction > 0.05


def test_r_waves_are_placed_between_samples() -> None:
    """R waves of an ECG sampled coarsely (a drawn trace: one sample per screen column)
    land within a tenth of a sample of the true peak, not on the nearest sample."""
    from echoquant.io.ecg import detect_r_waves

    dt = 0.007  # s per column of a human M-mode sweep
    t = np.arange(400) * dt
    true = np.array([0.3131, 1.1047, 1.9012])
    amp = sum(np.exp(-0.5 * ((t - r) / 0.012) ** 2) for r in true)
    found = detect_r_waves(t, amp)
    assert len(found) == 3
    assert np.max(np.abs(found - true)) < 0.1 * dt


def test_tall_t_waves_are_not_taken_for_r_waves() -> None:
    """A T wave reaching 60 % of the R wave (above the half-height threshold) but five
    times wider is not an R wave; an ECG whose peaks are all alike keeps them all."""
    from echoquant.io.ecg import detect_r_waves

    dt = 0.007
    t = np.arange(600) * dt
    r_true = np.arange(0.3, 4.0, 0.8)
    qrs = sum(np.exp(-0.5 * ((t - r) / 0.012) ** 2) for r in r_true)
    t_wave = sum(0.6 * np.exp(-0.5 * ((t - r - 0.3) / 0.06) ** 2) for r in r_true)
    found = detect_r_waves(t, qrs + t_wave)
    assert len(found) == len(r_true) and np.max(np.abs(found - r_true)) < 0.5 * dt
    assert len(detect_r_waves(t, qrs)) == len(r_true)
