"""Readers: DICOM and video echo loops into :class:`EchoCine`, and folder discovery."""

from __future__ import annotations

from pathlib import Path

from echoquant.errors import InputError
from echoquant.io.cine import CineMeta, EcgTrace, EchoCine, SectorBox
from echoquant.io.dicom import read_dicom_cine
from echoquant.io.header import read_header
from echoquant.io.mmode import MModeStrip, has_mmode, read_mmode
from echoquant.io.scan import ScanEntry, ScanResult, scan
from echoquant.io.tiff import TIFF_SUFFIXES, read_tiff
from echoquant.io.video import VIDEO_SUFFIXES, read_video

__all__ = [
    "CineMeta",
    "EcgTrace",
    "EchoCine",
    "SectorBox",
    "ScanEntry",
    "ScanResult",
    "read_cine",
    "read_echo",
    "read_dicom_cine",
    "read_tiff",
    "read_video",
    "scan",
]


def read_cine(path: str | Path, *, require_loop: bool = False) -> EchoCine:
    """Read an echo loop from a DICOM file, a video (AVI/MP4) or a multi-page TIFF.

    Args:
        path: the file. DICOM is recognised by content; videos by extension.
        require_loop: raise :class:`~echoquant.errors.SingleFrameError` when the file
            holds one frame.

    Returns:
        The loop with frames, timing, calibration, fan mask, flags and identifiers.

    Raises:
        echoquant.errors.InputError: a subclass that says what is wrong and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file; check the path", path=path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return read_video(path, require_loop=require_loop)
    if path.suffix.lower() in TIFF_SUFFIXES:
        return read_tiff(path, require_loop=require_loop)
    return read_dicom_cine(path, require_loop=require_loop)


def read_echo(path: str | Path, *, require_loop: bool = False) -> EchoCine | MModeStrip:
    """Read one file, routed by its content: a DICOM file whose header declares an M-mode
    region is read as an :class:`~echoquant.io.mmode.MModeStrip`, anything else as a
    loop (:func:`read_cine`). A DICOM header is parsed once and handed on.

    Raises:
        echoquant.errors.InputError: a subclass that says what is wrong and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file; check the path", path=path)
    if path.suffix.lower() in VIDEO_SUFFIXES | TIFF_SUFFIXES:
        return read_cine(path, require_loop=require_loop)
    header = read_header(path)
    if has_mmode(path, header):
        return read_mmode(path, header)
    return read_dicom_cine(path, require_loop=require_loop, header=header)
