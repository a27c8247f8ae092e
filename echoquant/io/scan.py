"""Discovery of echo loops in folders, by content and from headers alone."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pydicom

from echoquant.errors import InputError
from echoquant.io.header import check_sizes, check_ultrasound_image, header_meta, looks_like_dicom
from echoquant.io.tiff import TIFF_SUFFIXES
from echoquant.io.video import VIDEO_SUFFIXES

__all__ = ["ScanEntry", "ScanResult", "scan"]


@dataclass(frozen=True)
class ScanEntry:
    """One discovered file.

    Attributes:
        path: the file.
        kind: ``"dicom"`` or ``"video"``.
        usable: whether :func:`echoquant.io.read_cine` should be tried on it.
        reason: why it is skipped (an error code and message), else None.
    """

    path: str
    kind: str
    usable: bool
    reason: str | None = None
    patient_id: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    sop_uid: str | None = None
    n_frames: int | None = None
    rows: int | None = None
    cols: int | None = None
    view: str | None = None


@dataclass
class ScanResult:
    """Everything :func:`scan` found, usable and skipped."""

    entries: list[ScanEntry] = field(default_factory=list)

    @property
    def usable(self) -> list[ScanEntry]:
        return [e for e in self.entries if e.usable]

    @property
    def skipped(self) -> list[ScanEntry]:
        return [e for e in self.entries if not e.usable]

    def by_study(self) -> dict[str, dict[str, list[ScanEntry]]]:
        """Usable entries grouped ``{study_uid: {series_uid: [entries]}}``; files without
        UIDs (videos) are grouped under ``""``."""
        groups: dict[str, dict[str, list[ScanEntry]]] = {}
        for e in self.usable:
            groups.setdefault(e.study_uid or "", {}).setdefault(e.series_uid or "", []).append(e)
        return groups

    def to_records(self) -> list[dict]:
        return [asdict(e) for e in self.entries]


def _iter_files(inputs: Iterable[str | Path]) -> Iterable[Path]:
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()  # deterministic order
                for name in sorted(files):
                    yield Path(root) / name
        elif p.is_file():
            yield p


def _entry_for_dicom(path: Path) -> ScanEntry:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=False, defer_size="1 KB", force=True)
        check_ultrasound_image(ds, path)
        n_frames, rows, cols = check_sizes(ds, path)
        meta = header_meta(ds, path)  # inside: pydicom parses tags lazily and may raise here
    except InputError as exc:
        return ScanEntry(str(path), "dicom", False, f"{exc.code}: {exc.message}")
    # pydicom raises many types on a damaged header; discovery must not stop on one.
    except Exception as exc:  # noqa: BLE001
        return ScanEntry(str(path), "dicom", False, f"not_dicom: header unreadable ({type(exc).__name__})")
    return ScanEntry(
        str(path),
        "dicom",
        True,
        None,
        meta.patient_id,
        meta.study_uid,
        meta.series_uid,
        meta.sop_uid,
        n_frames,
        rows,
        cols,
        meta.view,
    )


def scan(*inputs: str | Path) -> ScanResult:
    """Find DICOM echo files (by content, not extension) and videos (by extension)
    under files and folders, recursively, reading headers only.

    Non-image objects (SR, DICOMDIR, presentation states, PDF), other modalities
    and damaged headers are listed as skipped with a reason; files that are neither
    DICOM nor video are ignored.

    Args:
        *inputs: files and folders.

    Returns:
        A :class:`ScanResult` in a deterministic (sorted) order.
    """
    result = ScanResult()
    for path in _iter_files(inputs):
        if path.suffix.lower() in VIDEO_SUFFIXES | TIFF_SUFFIXES:
            result.entries.append(ScanEntry(str(path), "video", True))
        elif looks_like_dicom(path):
            result.entries.append(_entry_for_dicom(path))
    return result
