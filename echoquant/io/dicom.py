"""Reading a DICOM echo loop into an :class:`~echoquant.io.cine.EchoCine`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from echoquant.errors import SingleFrameError
from echoquant.flags import make_flag
from echoquant.io.cine import EcgTrace, EchoCine, SectorBox
from echoquant.io.ecg import ecg_from_region, ecg_from_waveform
from echoquant.io.fan import estimate_fan_mask
from echoquant.io.header import check_pixel_budget, check_sizes, check_ultrasound_image, header_meta, read_header
from echoquant.io.pixels import DecodedPixels, check_decoder, decode_frames
from echoquant.io.regions import UltrasoundRegion, calibrate, parse_regions
from echoquant.io.timing import read_heart_rate, read_timing

__all__ = ["read_dicom_cine"]

# A colour magnitude (|Cb-128| + |Cr-128|) above this is colour, not JPEG chroma noise.
_COLOR_LEVEL = 24
# Share of the sector that must be coloured for the loop to count as colour Doppler.
_DOPPLER_FRACTION = 0.01


def _sector_box(regions: list[UltrasoundRegion], chosen: UltrasoundRegion | None, rows: int, cols: int) -> SectorBox | None:
    if chosen is not None:
        return chosen.clipped_box(rows, cols)
    inside = [r for r in regions if r.is_2d_image and r.inside(rows, cols)]
    return max(inside, key=lambda r: r.area_px).clipped_box(rows, cols) if inside else None


def _ecg(ds, regions: list[UltrasoundRegion], pixels: DecodedPixels, rows: int, cols: int) -> EcgTrace | None:
    trace = ecg_from_waveform(ds)
    if trace is not None:
        return trace
    for region in regions:
        if region.is_ecg and region.inside(rows, cols):
            trace = ecg_from_region(region, pixels.frames[-1], pixels.last_chroma)
            if trace is not None:
                return trace
    return None


def read_dicom_cine(path: str | Path, *, require_loop: bool = False, header: Dataset | None = None) -> EchoCine:
    """Read an ultrasound DICOM file (multi-frame, single-frame or US Secondary Capture).

    Args:
        path: the file.
        require_loop: raise :class:`SingleFrameError` for a one-frame file.
        header: its header when already parsed (:func:`~echoquant.io.header.read_header`).

    Returns:
        The loop, in grey, with timing, calibration, sector and flags.

    Raises:
        echoquant.errors.InputError: one of its subclasses, saying what is wrong.
    """
    path = Path(path)
    ds = header if header is not None else read_header(path)
    check_ultrasound_image(ds, path)
    n_frames, rows, cols = check_sizes(ds, path)
    if require_loop and n_frames < 2:
        raise SingleFrameError(
            "the file holds a single frame but a loop is needed to measure volumes over the "
            "cardiac cycle; export the cine loop instead of a still",
            path=path,
        )
    check_decoder(ds, path)  # first: it also vets the transfer syntax UID
    check_pixel_budget(ds, path, n_frames, rows, cols)
    pixels = decode_frames(path, ds, n_frames, rows, cols)

    flags: list[str] = []
    timing = read_timing(ds, n_frames)
    flags += timing.flags
    heart_rate, hr_flags = read_heart_rate(ds)
    flags += hr_flags
    regions = parse_regions(ds)
    calibration = calibrate(ds, regions, rows, cols)
    flags += calibration.flags

    box = _sector_box(regions, calibration.region, rows, cols)
    fan_mask, estimated = estimate_fan_mask(pixels.frames, box)
    if not estimated:
        flags.append(make_flag("fan_not_found", "no moving scan sector found; the whole region is used"))
    colored = float(np.mean(pixels.chroma_max[fan_mask] >= _COLOR_LEVEL)) if fan_mask.any() else 0.0
    if colored >= _DOPPLER_FRACTION:
        flags.append(
            make_flag(
                "color_doppler",
                f"{100 * colored:.1f}% of the sector carries colour; colour flow hides the "
                "endocardium, segmentation may fail",
            )
        )
    return EchoCine(
        frames=pixels.frames,
        fps=timing.fps,
        frame_times_ms=timing.frame_times_ms,
        spacing_mm=calibration.spacing_mm,
        heart_rate_bpm=heart_rate,
        fan_mask=fan_mask,
        flags=flags,
        meta=header_meta(ds, path),
        timing_source=timing.source,
        calibration_source=calibration.source,
        sector_box=box,
        ecg=_ecg(ds, regions, pixels, rows, cols),
        color_doppler_fraction=colored,
    )
