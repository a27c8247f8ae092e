"""Writing echo loops as Ultrasound Multi-frame DICOM, as scanners store them.

Used by the synthetic generator and the tests. Two encodings: uncompressed
MONOCHROME2, and RGB compressed as JPEG Baseline with YBR_FULL_422 (what most
echo machines export); the JPEG frames are made by Pillow and encapsulated by pydicom.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    JPEGBaseline8Bit,
    ExplicitVRLittleEndian,
    PYDICOM_IMPLEMENTATION_UID,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from echoquant._files import atomic_path

__all__ = ["RegionSpec", "DicomIdentity", "write_us_dicom"]

_UID_ROOT = "1.2.826.0.1.3680043.10.1187."  # echoquant synthetic data (under pydicom's root)


@dataclass(frozen=True)
class RegionSpec:
    """An ultrasound region to write into SequenceOfUltrasoundRegions (pixel bounds
    inclusive; deltas in cm for tissue, in s for waveform x)."""

    x0: int
    y0: int
    x1: int
    y1: int
    delta_x: float
    delta_y: float
    spatial_format: int = 1
    data_type: int = 1
    units_x: int = 3
    units_y: int = 3


@dataclass
class DicomIdentity:
    """Identifiers of a written file; UIDs are generated from ``seed_text`` when not given
    so the same synthetic case gets the same UIDs on every run."""

    patient_id: str = "ANON"
    seed_text: str = ""
    study_uid: str | None = None
    series_uid: str | None = None
    sop_uid: str | None = None
    manufacturer: str = "echoquant-synth"
    model: str = "synthetic"
    view_meaning: str | None = None
    extra: dict = field(default_factory=dict)

    def uid(self, kind: str) -> str:
        given = getattr(self, f"{kind}_uid")
        if given:
            return given
        return generate_uid(prefix=_UID_ROOT, entropy_srcs=[self.seed_text, kind])


_VIEW_CODES = {
    "A4C": ("399214001", "Apical four chamber"),
    "A2C": ("399232001", "Apical two chamber"),
    "A3C": ("399135007", "Apical three chamber"),
    "PLAX": ("399180002", "Parasternal long axis"),
    "SAX": ("399271003", "Parasternal short axis at the Papillary Muscle level"),
}


def _regions(specs: Sequence[RegionSpec]) -> DicomSequence:
    items = []
    for s in specs:
        item = Dataset()
        item.RegionSpatialFormat = s.spatial_format
        item.RegionDataType = s.data_type
        item.RegionFlags = 0
        item.RegionLocationMinX0 = s.x0
        item.RegionLocationMinY0 = s.y0
        item.RegionLocationMaxX1 = s.x1
        item.RegionLocationMaxY1 = s.y1
        item.PhysicalUnitsXDirection = s.units_x
        item.PhysicalUnitsYDirection = s.units_y
        item.PhysicalDeltaX = float(s.delta_x)
        item.PhysicalDeltaY = float(s.delta_y)
        items.append(item)
    return DicomSequence(items)


def _jpeg_frames(frames: np.ndarray, quality: int) -> list[bytes]:
    out = []
    for frame in frames:
        rgb = frame if frame.ndim == 3 else np.repeat(frame[..., None], 3, axis=-1)
        buf = io.BytesIO()
        # subsampling=1 is 4:2:2, i.e. YBR_FULL_422 as echo machines write it.
        Image.fromarray(rgb, mode="RGB").save(buf, format="JPEG", quality=quality, subsampling=1)
        out.append(buf.getvalue())
    return out


def write_us_dicom(
    path: str | Path,
    frames: np.ndarray,
    *,
    frame_time_ms: float | None,
    regions: Sequence[RegionSpec] = (),
    heart_rate_bpm: float | None = None,
    identity: DicomIdentity | None = None,
    compression: str = "none",
    jpeg_quality: int = 90,
    frame_time_vector_ms: Sequence[float] | None = None,
    cine_rate: float | None = None,
    multiframe: bool = True,
) -> Path:
    """Write a loop as Ultrasound Multi-frame Image Storage (or, ``multiframe=False``,
    one frame as Ultrasound Image Storage: an M-mode screen, a still).

    Args:
        path: output file; written to a temporary name and renamed, so a reader
            never sees half a file.
        frames: ``(T, H, W)`` grey or ``(T, H, W, 3)`` RGB uint8.
        frame_time_ms: FrameTime; None writes no FrameTime.
        regions: SequenceOfUltrasoundRegions items.
        heart_rate_bpm: HeartRate; None writes no tag.
        identity: identifiers.
        compression: ``"none"`` or ``"jpeg"`` (JPEG Baseline, YBR_FULL_422).
        jpeg_quality: Pillow JPEG quality.
        frame_time_vector_ms: optional FrameTimeVector (first value 0).
        cine_rate: optional CineRate.
        multiframe: False writes the single frame of ``frames`` as Ultrasound Image
            Storage (no NumberOfFrames, no frame timing).

    Returns:
        The path written.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4):
        raise ValueError(f"frames must be uint8 (T, H, W[, 3]), got {frames.dtype} {frames.shape}")
    if compression not in ("none", "jpeg"):
        raise ValueError(f"compression must be 'none' or 'jpeg', got {compression!r}")
    identity = identity or DicomIdentity()
    path = Path(path)
    n, rows, cols = frames.shape[:3]
    if not multiframe and n != 1:
        raise ValueError(f"a single-frame file holds one frame, got {n}")
    sop_class = UltrasoundMultiFrameImageStorage if multiframe else UltrasoundImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = identity.uid("sop")
    meta.TransferSyntaxUID = JPEGBaseline8Bit if compression == "jpeg" else ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = identity.uid("study")
    ds.SeriesInstanceUID = identity.uid("series")
    ds.Modality = "US"
    ds.Manufacturer = identity.manufacturer
    ds.ManufacturerModelName = identity.model
    ds.PatientID = identity.patient_id
    ds.PatientName = identity.patient_id
    ds.StudyDate = "20260101"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    for key, value in identity.extra.items():
        setattr(ds, key, value)
    if identity.view_meaning in _VIEW_CODES:
        code, meaning = _VIEW_CODES[identity.view_meaning]
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "SCT", meaning
        ds.ViewCodeSequence = DicomSequence([item])
    if multiframe:
        ds.NumberOfFrames = n
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if frame_time_ms is not None and multiframe:
        ds.FrameTime = f"{frame_time_ms:.6g}"
        ds.FrameIncrementPointer = 0x00181063
    if frame_time_vector_ms is not None:
        ds.FrameTimeVector = [f"{v:.6g}" for v in frame_time_vector_ms]
        ds.FrameIncrementPointer = 0x00181065
    if cine_rate is not None:
        ds.CineRate = int(round(cine_rate))
    if heart_rate_bpm is not None:
        ds.HeartRate = int(round(heart_rate_bpm))
    if regions:
        ds.SequenceOfUltrasoundRegions = _regions(regions)

    if compression == "jpeg":
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PlanarConfiguration = 0
        ds.LossyImageCompression = "01"
        ds.PixelData = encapsulate(_jpeg_frames(frames, jpeg_quality))
        ds["PixelData"].VR = "OB"
    elif frames.ndim == 4:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.PixelData = np.ascontiguousarray(frames).tobytes()
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = np.ascontiguousarray(frames).tobytes()

    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path
