"""Atomic file writes: a reader (or a restarted run) sees a whole file or none.

Every output is written to a hidden ``.NAME.partial`` file in the same folder and
renamed over the target (``os.replace`` is atomic on POSIX and Windows). A process
killed mid-write leaves only ``.partial`` files, which :func:`sweep_partials` removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from typing import Any
from pathlib import Path

__all__ = ["NOTES_BLOCK", "atomic_path", "atomic_write_bytes", "atomic_write_text", "partial_path", "sweep_partials",
           "write_report"]

_SUFFIX = ".partial"


def partial_path(path: Path) -> Path:
    """The temporary name a write to ``path`` goes through."""
    return path.with_name(f".{path.name}{_SUFFIX}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
        # fsync so that a power cut after the rename cannot leave an empty file
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


# Where a generated report keeps the prose a person wrote into it (what the numbers mean,
# what changed): a regenerated report carries the block over from the file it replaces.
NOTES_BLOCK = ("<!-- notes:begin (kept when the report is regenerated) -->", "<!-- notes:end -->")


def write_report(path: str | Path, text: str) -> None:
    """Write a generated markdown report atomically, keeping the notes block (between
    :data:`NOTES_BLOCK`'s markers) of the file it replaces in place of the new text's
    empty one."""
    begin, end = NOTES_BLOCK
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if begin in old and end in old and begin in text and end in text:
        kept = old[old.index(begin):old.index(end, old.index(begin)) + len(end)]
        text = text[:text.index(begin)] + kept + text[text.index(end, text.index(begin)) + len(end):]
    atomic_write_text(path, text)


def sweep_partials(folder: str | Path) -> int:
    """Delete ``.partial`` files left under ``folder`` by a killed process.

    Returns:
        How many were removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    n = 0
    for p in folder.rglob(f".*{_SUFFIX}"):
        if p.is_file():
            p.unlink(missing_ok=True)
            n += 1
    return n


def write_csv_rows(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Write dict rows as CSV with these columns (others ignored, missing empty),
    atomically: a partial file renamed into place."""
    import csv

    tmp = path.with_name(f".{path.name}.partial")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def file_sha256(path: str | Path) -> str | None:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks; None when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()
