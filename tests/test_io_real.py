"""The reader on real scanner loops shipped by pydicom and pydicom-data."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from echoquant.flags import has_flag
from echoquant.io import read_cine


def test_a4c_loop_frames_timing_spacing(a4c_loop_path):
    cine = read_cine(a4c_loop_path)
    assert cine.frames.shape == (120, 480, 640)
    assert cine.frames.dtype == np.uint8
    assert cine.timing_source == "FrameTime"
    assert cine.fps == pytest.approx(30.0, abs=0.01)
    assert np.allclose(np.diff(cine.frame_times_ms), 33.333)
    assert cine.calibration_source == "UltrasoundRegion"
    assert cine.spacing_mm == pytest.approx((0.5105, 0.5105), abs=1e-4)
    assert cine.heart_rate_bpm is None and has_flag(cine.flags, "heart_rate_missing")
    assert not cine.has_color_doppler
    assert cine.meta.patient_id == "204"
    assert cine.meta.sop_uid.endswith("16117.4")


def test_a4c_loop_grey_equals_pydicom_luma(a4c_loop_path):
    """Grey frames are the Y channel that pydicom's own RGB->YBR conversion gives."""
    from pydicom.pixels import convert_color_space

    cine = read_cine(a4c_loop_path)
    rgb = pydicom.dcmread(a4c_loop_path).pixel_array[5]
    luma = convert_color_space(rgb, "RGB", "YBR_FULL")[..., 0]
    diff = np.abs(cine.frames[5].astype(int) - luma)
    # Only saturated colour (the green marker) loses information in the RGB round trip.
    assert diff[cine.fan_mask].max() <= 2
    assert np.mean(diff <= 1) > 0.999


def test_a4c_fan_mask_excludes_burned_in_text(a4c_loop_path):
    cine = read_cine(a4c_loop_path)
    fan = cine.fan_mask
    # Burned-in text: "PLA" top left, "Crd/P21/MI/TIS" right, "19" depth label
    # inside the region box, the menu bar at the bottom, the green marker dot.
    for r, c in [(15, 40), (40, 615), (150, 620), (405, 582), (467, 130), (40, 380)]:
        assert not fan[r, c], (r, c)
    # Inside the sector: apex, LV cavity, mitral plane, far field.
    for r, c in [(60, 340), (180, 330), (260, 340), (360, 300)]:
        assert fan[r, c], (r, c)
    box = cine.sector_box
    assert (box.row_start, box.col_start, box.row_stop, box.col_stop) == (31, 84, 415, 596)
    assert not fan[: box.row_start].any() and not fan[:, box.col_stop :].any()
    assert 0.2 < fan.mean() < 0.45


def test_ybr_color_calibration_untrusted(ybr_color_path):
    """pydicom's example was downscaled after its tags were written: its region lies
    outside the 320x240 frame, so its 0.51 mm would be wrong by a factor of two."""
    cine = read_cine(ybr_color_path)
    assert cine.frames.shape == (30, 240, 320)
    assert cine.spacing_mm is None
    assert cine.calibration_source is None
    assert has_flag(cine.flags, "calibration_untrusted")
    assert cine.fps == pytest.approx(30.0, abs=0.01)
    assert cine.fan_mask[120, 160] and not cine.fan_mask[5, 5]


def test_read_is_deterministic(ybr_color_path):
    a, b = read_cine(ybr_color_path), read_cine(ybr_color_path)
    assert np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.fan_mask, b.fan_mask)
    assert a.flags == b.flags
