"""Bad input raises one typed, actionable error; no other exception escapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from echoquant import errors
from echoquant.io import read_cine
from echoquant.io.writer import RegionSpec, write_us_dicom

from .conftest import moving_loop


def _write(tmp_path: Path, name: str = "loop.dcm", **kw) -> Path:
    frames = kw.pop("frames", moving_loop())
    kw.setdefault("frame_time_ms", 20.0)
    return write_us_dicom(tmp_path / name, frames, **kw)


def test_all_errors_derive_from_one_base():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.EchoquantError)


def test_missing_file(tmp_path):
    with pytest.raises(errors.InputError, match="no such file"):
        read_cine(tmp_path / "nope.dcm")


def test_not_dicom(tmp_path):
    p = tmp_path / "notes.dcm"
    p.write_text("this is not a DICOM file\n" * 20)
    with pytest.raises(errors.NotDicomError, match="not a DICOM file"):
        read_cine(p)


def test_not_ultrasound():
    with pytest.raises(errors.NotUltrasoundError, match="Modality is CT"):
        read_cine(get_testdata_file("CT_small.dcm"))


def test_structured_report_is_not_an_image(tmp_path):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    p = tmp_path / "sr.dcm"
    ds.save_as(p, enforce_file_format=True)
    with pytest.raises(errors.NotAnImageError, match="structured report"):
        read_cine(p)


def test_no_pixel_data(tmp_path):
    p = _write(tmp_path)
    ds = pydicom.dcmread(p)
    del ds.PixelData
    ds.save_as(p)
    with pytest.raises(errors.NoPixelDataError, match="no Pixel Data"):
        read_cine(p)


def test_single_frame_when_loop_required(tmp_path):
    p = _write(tmp_path, frames=moving_loop(n=1))
    assert read_cine(p).n_frames == 1  # a still is readable ...
    with pytest.raises(errors.SingleFrameError, match="single frame"):
        read_cine(p, require_loop=True)  # ... but not when a loop is needed


@pytest.mark.parametrize("compression", ["none", "jpeg"])
def test_truncated_pixel_data(tmp_path, compression):
    p = _write(tmp_path, compression=compression)
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.7)])
    with pytest.raises(errors.InputError) as info:
        read_cine(p)
    assert isinstance(info.value, (errors.CorruptPixelDataError, errors.NotDicomError))


def test_corrupt_jpeg_stream(tmp_path):
    p = _write(tmp_path, compression="jpeg")
    ds = pydicom.dcmread(p)
    raw = bytearray(ds.PixelData)
    raw[200:4000] = b"\x00" * 3800  # wipe JPEG headers of the first fragment
    ds.PixelData = bytes(raw)
    ds.save_as(p)
    with pytest.raises(errors.CorruptPixelDataError, match="cannot be decoded|truncated"):
        read_cine(p)


def test_absurd_size_refused_before_decoding(tmp_path):
    p = _write(tmp_path)
    ds = pydicom.dcmread(p)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 60000, 60000, 10000
    ds.save_as(p)
    with pytest.raises(errors.UnsafeHeaderError, match="refused before decoding"):
        read_cine(p)


def test_missing_decoder_names_package(tmp_path, monkeypatch):
    p = _write(tmp_path, compression="jpeg")
    from pydicom.pixels.decoders.base import Decoder

    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))
    with pytest.raises(errors.MissingDecoderError, match=r"echoquant\[jpeg\]"):
        read_cine(p)


def test_unsupported_transfer_syntax(tmp_path):
    p = _write(tmp_path, compression="jpeg")
    ds = pydicom.dcmread(p)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: pydicom cannot decode it
    ds.save_as(p)
    with pytest.raises(errors.MissingDecoderError, match="MPEG2|decoder"):
        read_cine(p)


def test_error_code_and_message_are_stable():
    e = errors.NotDicomError("bad", path="/x/y.dcm")
    assert e.code == "not_dicom" and e.message == "bad" and str(e) == "/x/y.dcm: bad"


def test_ecg_region_units_wrong_does_not_crash(tmp_path):
    frames = moving_loop()
    p = _write(
        tmp_path,
        frames=frames,
        regions=[RegionSpec(0, 0, 127, 95, 0.03, 0.03), RegionSpec(0, 80, 127, 95, 0.01, 0.01, 4, 10, 3, 3)],
    )
    cine = read_cine(p)
    assert cine.ecg is None and np.isclose(cine.spacing_mm[0], 0.3)


def test_cine_refuses_frames_that_are_not_uint8() -> None:
    """The tracker, the network input and the overlays read grey levels 0..255: a float
    loop (often scaled 0..1) is refused with the conversion to make, not mis-measured."""
    import numpy as np
    import pytest

    from echoquant.io.cine import EchoCine

    with pytest.raises(ValueError, match="uint8"):
        EchoCine(frames=np.zeros((3, 8, 8), np.float32), fps=30.0, frame_times_ms=None, spacing_mm=None,
                 heart_rate_bpm=None, fan_mask=np.ones((8, 8), bool))
