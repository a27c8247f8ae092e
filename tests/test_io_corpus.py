"""Every real ultrasound file we can find either loads, matching its own tags, or
raises one of echoquant's typed errors; nothing else escapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from echoquant.errors import EchoquantError
from echoquant.io import read_cine
from echoquant.io.regions import calibrate, parse_regions

from .conftest import corpus_files


def _pydicom_ultrasound_files() -> list[Path]:
    """Ultrasound files in pydicom's own test data and in pydicom-data."""
    roots = [Path(pydicom.__file__).parent / "data" / "test_files"]
    try:
        import data_store

        roots.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    found = []
    for root in roots:
        for p in sorted(root.rglob("*.dcm")):
            try:
                ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
            except Exception:  # noqa: BLE001 - test-data discovery only
                continue
            if str(ds.get("Modality", "")) == "US":
                found.append(p)
    return found


def _check_against_tags(path: Path) -> None:
    try:
        cine = read_cine(path)
    except EchoquantError:
        return  # a typed error is an accepted outcome
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    assert cine.frames.shape == (int(ds.get("NumberOfFrames", 1) or 1), ds.Rows, ds.Columns)
    assert cine.fan_mask.any()
    expected = calibrate(ds, parse_regions(ds), ds.Rows, ds.Columns)
    assert cine.spacing_mm == expected.spacing_mm
    if cine.calibration_source == "UltrasoundRegion":
        region = expected.region
        assert cine.spacing_mm == pytest.approx((10 * region.delta_y, 10 * region.delta_x))
    if cine.timing_source == "FrameTime":
        assert cine.fps == pytest.approx(1000.0 / float(ds.FrameTime))
        assert np.allclose(np.diff(cine.frame_times_ms), float(ds.FrameTime))
    if cine.n_frames > 1 and cine.fps is None:
        assert any(f.startswith("timing_missing") for f in cine.flags)


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_file_loads_or_typed_error(path: Path):
    _check_against_tags(path)


@pytest.mark.parametrize("path", _pydicom_ultrasound_files(), ids=lambda p: p.name)
def test_pydicom_ultrasound_file_loads_or_typed_error(path: Path):
    _check_against_tags(path)


def test_corpus_known_values(corpus_dir):
    """Values the MANIFEST states for particular files."""
    c = read_cine(corpus_dir / "orthanc-tests" / "Issue16.dcm")
    assert c.n_frames == 34 and c.shape == (430, 480)
    assert c.spacing_mm == pytest.approx((0.22857, 0.28571), abs=1e-4)  # anisotropic
    assert c.heart_rate_bpm == 117 and c.fps == pytest.approx(1000 / 30)
    assert c.ecg is not None and c.ecg.source == "image_region"

    c = read_cine(corpus_dir / "pydicom-deid" / "GREYSCALE_CINE.dcm")
    assert c.heart_rate_bpm is None  # HeartRate 0 means not recorded
    assert c.spacing_mm == pytest.approx((0.083078, 0.083078), abs=1e-5)

    c = read_cine(corpus_dir / "orthanc-tests" / "Formats__jp2k91YBR-ICT.dcm")
    assert c.heart_rate_bpm is None  # HeartRate -1

    # A dummy region (format 0, delta 1) beside the tissue region: tissue wins.
    c = read_cine(corpus_dir / "pylibjpeg-data" / "JPEGExtended_3s_1f_u_08_08.dcm")
    assert c.spacing_mm == pytest.approx((0.041754, 0.041754), abs=1e-5)

    # Colour Doppler TEE loop with palette colour and RLE.
    c = read_cine(corpus_dir / "dbdicom-rubomedical" / "0020.DCM")
    assert c.has_color_doppler and c.n_frames == 11
    assert c.fps == pytest.approx(1000 / 62.73, rel=1e-3)


def test_corpus_jpeg_decoders_agree_within_tolerance(corpus_dir):
    """Pillow and pylibjpeg differ by a few grey levels on JPEG Baseline."""
    from pydicom.pixels import iter_pixels

    path = corpus_dir / "orthanc-tests" / "Issue16.dcm"
    a = next(iter_pixels(path, raw=True, decoding_plugin="pillow"))[..., 0].astype(int)
    try:
        b = next(iter_pixels(path, raw=True, decoding_plugin="pylibjpeg"))[..., 0].astype(int)
    except (RuntimeError, ValueError):
        pytest.skip("pylibjpeg is not installed")
    assert np.abs(a - b).max() <= 12
