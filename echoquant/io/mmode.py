"""Reading an M-mode strip (RegionSpatialFormat 2) out of an ultrasound DICOM file.

Scanners store M-mode as a screen: a single frame (or a multi-frame cine whose last
frame holds the complete sweep) with one ultrasound region for the M-mode strip, in
seconds per pixel along x and cm per pixel along depth, usually a 2-D image region
above it (the cursor line drawn on it) and often an ECG trace beneath. The strip is
what is measured; the other regions are kept for the overlay and the ECG.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from echoquant.errors import InputError
from echoquant.flags import make_flag
from echoquant.io.cine import CineMeta, EcgTrace, SectorBox
from echoquant.io.ecg import ecg_from_region
from echoquant.io.header import check_pixel_budget, check_sizes, check_ultrasound_image, header_meta, read_header
from echoquant.io.pixels import check_decoder, decode_frames
from echoquant.io.regions import UNIT_CM, UNIT_SECONDS, UltrasoundRegion, parse_regions
from echoquant.io.timing import read_heart_rate

__all__ = ["SPATIAL_MMODE", "MModeStrip", "NoMModeError", "mmode_region", "has_mmode", "read_mmode"]

# DICOM PS3.3 C.8.5.5.1.1: RegionSpatialFormat 0002H is M-mode (tissue or flow).
SPATIAL_MMODE = 2
# A strip narrower than this (columns) holds no beat worth measuring.
_MIN_COLUMNS = 32


class NoMModeError(InputError):
    """The file has no usable M-mode region."""

    code = "no_mmode"


@dataclass
class MModeStrip:
    """An M-mode strip: depth down the rows, time along the columns.

    Attributes:
        pixels: ``(depth, time)`` grey uint8 strip (the region's pixels).
        seconds_per_px: time per column (s), None when the region does not say.
        mm_per_px: depth per row (mm), None when the region does not say.
        region: where the strip lies in the source frame (exclusive stops).
        frame_index: the frame of the file it was taken from.
        two_d: the 2-D image region of a combined screen (grey), None without one.
        ecg: an ECG trace drawn beneath the strip, on the strip's time axis
            (``frame_aligned`` is True when its region starts at the strip's first column
            and shares its seconds per pixel).
        heart_rate_bpm: the header's heart rate, None when not recorded.
        flags: what was missing or suspicious.
        meta: identifiers and acquisition facts.
    """

    pixels: np.ndarray
    seconds_per_px: float | None
    mm_per_px: float | None
    region: SectorBox
    frame_index: int = 0
    two_d: np.ndarray | None = field(default=None, repr=False)
    ecg: EcgTrace | None = None
    heart_rate_bpm: float | None = None
    flags: list[str] = field(default_factory=list)
    meta: CineMeta = field(default_factory=CineMeta)

    def __post_init__(self) -> None:
        if self.pixels.ndim != 2 or self.pixels.dtype != np.uint8:
            raise ValueError(f"an M-mode strip is (depth, time) uint8, got {self.pixels.dtype} {self.pixels.shape}")

    @property
    def duration_s(self) -> float | None:
        return None if self.seconds_per_px is None else self.pixels.shape[1] * self.seconds_per_px

    @property
    def is_calibrated(self) -> bool:
        return self.seconds_per_px is not None and self.mm_per_px is not None

    def summary(self) -> dict:
        """A JSON-safe description (no pixels)."""
        return {"mode": "mmode", "depth_px": int(self.pixels.shape[0]), "time_px": int(self.pixels.shape[1]),
                "seconds_per_px": self.seconds_per_px, "mm_per_px": self.mm_per_px,
                "duration_s": self.duration_s, "frame_index": self.frame_index,
                "has_2d": self.two_d is not None, "ecg": None if self.ecg is None else self.ecg.source,
                "heart_rate_bpm": self.heart_rate_bpm, "flags": list(self.flags)}


def mmode_region(regions: list[UltrasoundRegion], rows: int, cols: int) -> UltrasoundRegion | None:
    """The largest M-mode region inside a ``rows x cols`` frame, or None."""
    inside = [r for r in regions if r.spatial_format == SPATIAL_MMODE and r.inside(rows, cols)]
    return max(inside, key=lambda r: r.area_px) if inside else None


def has_mmode(path: str | Path, header: Dataset | None = None) -> bool:
    """Whether a DICOM file's header declares an M-mode region inside its frame (reads
    the header only, or uses ``header`` when it was read already; False for anything
    that is not a readable ultrasound image)."""
    try:
        ds = header if header is not None else read_header(Path(path))
        _, rows, cols = check_sizes(ds, Path(path))
    except InputError:
        return False
    return mmode_region(parse_regions(ds), rows, cols) is not None


def _calibration(region: UltrasoundRegion) -> tuple[float | None, float | None, list[str]]:
    """``(seconds per column, mm per row, flags)`` of an M-mode region."""
    flags = []
    sec = region.delta_x if region.units_x == UNIT_SECONDS and region.delta_x and region.delta_x > 0 else None
    mm = 10.0 * region.delta_y if region.units_y == UNIT_CM and region.delta_y and region.delta_y > 0 else None
    if sec is None:
        flags.append(make_flag("timing_missing", "the M-mode region gives no seconds per pixel: heart rate and "
                                                 "ED/ES times are not reported"))
    if mm is None:
        flags.append(make_flag("calibration_missing", "the M-mode region gives no cm per pixel: diameters, "
                                                      "walls and mass are not reported in mm; FS is"))
    return sec, mm, flags


def _ecg_under(regions: list[UltrasoundRegion], strip: UltrasoundRegion, frame: np.ndarray,
               chroma: np.ndarray, seconds_per_px: float | None) -> EcgTrace | None:
    """The ECG region sharing the strip's columns, read on the strip's time axis."""
    rows, cols = frame.shape
    for region in regions:
        if not (region.is_ecg and region.inside(rows, cols)):
            continue
        trace = ecg_from_region(region, frame, chroma)
        if trace is None:
            continue
        same_axis = (seconds_per_px is not None and region.x0 == strip.x0
                     and abs((region.delta_x or 0.0) - seconds_per_px) <= 1e-6 * seconds_per_px)
        trace.frame_aligned = same_axis
        return trace
    return None


def read_mmode(path: str | Path, header: Dataset | None = None) -> MModeStrip:
    """Read the M-mode strip of an ultrasound DICOM file.

    Single-frame files and multi-frame cines are both accepted; of a cine, the last
    frame (the complete sweep) is read.

    Args:
        path: the file.
        header: its header when already parsed (:func:`~echoquant.io.header.read_header`),
            so that a file routed by its header is not parsed twice.

    Raises:
        NoMModeError: no M-mode region inside the frame.
        echoquant.errors.InputError: the reader's other errors (not DICOM, no pixels, ...).
    """
    path = Path(path)
    ds = header if header is not None else read_header(path)
    check_ultrasound_image(ds, path)
    n_frames, rows, cols = check_sizes(ds, path)
    regions = parse_regions(ds)
    region = mmode_region(regions, rows, cols)
    if region is None:
        raise NoMModeError("the file declares no M-mode region (RegionSpatialFormat 2) inside its frame; export "
                           "the M-mode screen with its ultrasound regions, or analyse it as a 2-D loop", path=path)
    check_decoder(ds, path)
    check_pixel_budget(ds, path, n_frames, rows, cols)
    pixels = decode_frames(path, ds, n_frames, rows, cols)
    frame = pixels.frames[-1]
    box = region.clipped_box(rows, cols)
    strip = np.ascontiguousarray(frame[box.slices])
    if strip.shape[1] < _MIN_COLUMNS:
        raise NoMModeError(f"the M-mode region is only {strip.shape[1]} pixels wide; nothing to measure",
                           path=path)
    sec, mm, flags = _calibration(region)
    heart_rate, hr_flags = read_heart_rate(ds)
    two_d = [r for r in regions if r.is_2d_image and r.inside(rows, cols)]
    image = np.ascontiguousarray(frame[max(two_d, key=lambda r: r.area_px).clipped_box(rows, cols).slices]) \
        if two_d else None
    return MModeStrip(pixels=strip, seconds_per_px=sec, mm_per_px=mm, region=box, frame_index=n_frames - 1,
                      two_d=image, ecg=_ecg_under(regions, region, frame, pixels.last_chroma, sec),
                      heart_rate_bpm=heart_rate, flags=flags + list(hr_flags), meta=header_meta(ds, path))
