"""Acquisition side tables: what a file does not say about itself.

Vevo-class software exports loops as AVI/MP4 or multi-page TIFF without pixel
spacing, frame rate or species, and rodent DICOM exports sometimes without
ultrasound regions. A lab keeps these facts in its own table; ``analyze
--acquisition-table CSV`` (and ``Analyzer(acquisition_table=...)``) reads it:

.. code-block:: text

    file,spacing_mm,fps,species,view,subject,timepoint
    mouse01_*.avi,0.0130,400,mouse,PLAX,M01,baseline
    /data/rat07/sax.tif,0.022,250,rat,SAX,R07,week4

``file`` is a path, a file name or a glob pattern (``*``, ``?``, ``[...]``) matched
against the file's full path and its name; the first matching row wins. Other
columns are optional: ``spacing_mm`` (square pixels) or ``spacing_row_mm`` and
``spacing_col_mm``, ``fps``, ``heart_rate_bpm``, ``species`` (``mouse``, ``rat``,
``human``), ``view`` (``PLAX``, ``SAX``, ``A4C``, ``A2C``), ``subject``,
``timepoint``.

A value from the table is recorded with its source (``calibration_source = table``,
``timing_source = table``, ``species_source = table``, ``view_source = table``) and a
flag. The header wins over the table when both give a value (a disagreement beyond
1 % is flagged ``acquisition_table_conflict``) unless ``prefer_table``; nothing is
filled in that neither says.
"""

from __future__ import annotations

import csv
import fnmatch
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from echoquant.errors import InputError
from echoquant.flags import flag_code, make_flag
from echoquant.io.cine import EchoCine

__all__ = ["AcquisitionTable", "AcquisitionTableError", "SPECIES", "TABLE_COLUMNS", "normalise_species"]

TABLE_COLUMNS = ("file", "spacing_mm", "spacing_row_mm", "spacing_col_mm", "fps", "heart_rate_bpm", "species", "view",
                 "subject", "timepoint")
SPECIES = ("mouse", "rat", "human")
_VIEWS = ("PLAX", "SAX", "A4C", "A2C", "A3C")
_SPECIES_WORDS = {"mouse": "mouse", "mice": "mouse", "mus musculus": "mouse", "rat": "rat", "rats": "rat",
                  "rattus norvegicus": "rat", "human": "human", "homo sapiens": "human", "patient": "human"}
_CALIBRATION_FLAGS = ("calibration_missing", "calibration_untrusted")


class AcquisitionTableError(InputError):
    """The acquisition table cannot be read or holds an impossible value."""

    code = "acquisition_table"


def normalise_species(text: str | None) -> str | None:
    """``"Mus musculus"`` -> ``"mouse"``; None for an empty or unknown name."""
    if not text:
        return None
    return _SPECIES_WORDS.get(str(text).strip().lower())


@dataclass(frozen=True)
class _Row:
    line: int
    pattern: str
    values: dict[str, Any]

    def matches(self, path: Path) -> bool:
        full, name = str(path), path.name
        p = self.pattern
        return p in (full, name) or fnmatch.fnmatch(full, p) or fnmatch.fnmatch(name, p) or \
            (not any(c in p for c in "*?[") and full.endswith("/" + p.lstrip("./")))


def _number(text: str, column: str, line: int, path: Path, lo: float, hi: float) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise AcquisitionTableError(f"line {line}: {column} must be a number, got {text!r}", path=path) from exc
    if not lo < value < hi:
        raise AcquisitionTableError(f"line {line}: {column} = {value:g} is outside {lo:g}..{hi:g}; check the unit "
                                    f"({'mm per pixel' if 'spacing' in column else column})", path=path)
    return value


class AcquisitionTable:
    """Rows of an acquisition table, matched to files (see the module docstring).

    Args:
        rows: parsed rows (use :meth:`read`).
        source: the table's path, for messages.
    """

    def __init__(self, rows: list[_Row], source: Path) -> None:
        self.rows, self.source = rows, source

    @classmethod
    def read(cls, path: str | Path) -> "AcquisitionTable":
        """Parse and check a CSV table.

        Raises:
            AcquisitionTableError: missing ``file`` column, an unknown column, or a
                value that is not a number in range / not a known species or view.
        """
        path = Path(path)
        if not path.is_file():
            raise AcquisitionTableError("no such file; give the acquisition table's path", path=path)
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in reader.fieldnames or []]
            unknown = sorted(set(columns) - set(TABLE_COLUMNS))
            if "file" not in columns or unknown:
                raise AcquisitionTableError(f"columns must include 'file' and be among {', '.join(TABLE_COLUMNS)}; "
                                            f"got {', '.join(columns) or 'none'}", path=path)
            rows = [cls._parse(i + 2, {k.strip(): (v or "").strip() for k, v in raw.items() if k}, path)
                    for i, raw in enumerate(reader)]
        return cls([r for r in rows if r.pattern], path)

    @staticmethod
    def _parse(line: int, raw: dict[str, str], path: Path) -> _Row:
        v: dict[str, Any] = {}
        if raw.get("spacing_mm"):
            s = _number(raw["spacing_mm"], "spacing_mm", line, path, 0.0, 5.0)
            v["spacing_mm"] = (s, s)
        if raw.get("spacing_row_mm") or raw.get("spacing_col_mm"):
            if not (raw.get("spacing_row_mm") and raw.get("spacing_col_mm")):
                raise AcquisitionTableError(f"line {line}: give both spacing_row_mm and spacing_col_mm", path=path)
            v["spacing_mm"] = (_number(raw["spacing_row_mm"], "spacing_row_mm", line, path, 0.0, 5.0),
                               _number(raw["spacing_col_mm"], "spacing_col_mm", line, path, 0.0, 5.0))
        if raw.get("fps"):
            v["fps"] = _number(raw["fps"], "fps", line, path, 0.0, 20_000.0)
        if raw.get("heart_rate_bpm"):
            v["heart_rate_bpm"] = _number(raw["heart_rate_bpm"], "heart_rate_bpm", line, path, 10.0, 1500.0)
        if raw.get("species"):
            sp = normalise_species(raw["species"])
            if sp is None:
                raise AcquisitionTableError(f"line {line}: species must be one of {', '.join(SPECIES)}, got "
                                            f"{raw['species']!r}", path=path)
            v["species"] = sp
        if raw.get("view"):
            view = raw["view"].upper()
            if view not in _VIEWS:
                raise AcquisitionTableError(f"line {line}: view must be one of {', '.join(_VIEWS)}, got "
                                            f"{raw['view']!r}", path=path)
            v["view"] = view
        for key in ("subject", "timepoint"):
            if raw.get(key):
                v[key] = raw[key]
        return _Row(line, raw.get("file", ""), v)

    def lookup(self, path: str | Path | None) -> _Row | None:
        """The first row whose pattern matches ``path``, or None."""
        if path is None:
            return None
        p = Path(path)
        return next((r for r in self.rows if r.matches(p)), None)

    def apply(self, cine: EchoCine, *, prefer_table: bool = False) -> EchoCine:
        """The loop with what its header lacks (or, with ``prefer_table``, everything the
        table gives) taken from its row; the loop unchanged when no row matches."""
        row = self.lookup(cine.meta.source_path)
        if row is None:
            return cine
        where = f"{self.source.name} line {row.line}"
        flags = list(cine.flags)
        changes: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        v = row.values
        if "spacing_mm" in v:
            self._spacing(cine, v["spacing_mm"], prefer_table, where, flags, changes)
        if "fps" in v:
            self._timing(cine, v["fps"], prefer_table, where, flags, changes)
        if "heart_rate_bpm" in v and (cine.heart_rate_bpm is None or prefer_table):
            changes["heart_rate_bpm"] = v["heart_rate_bpm"]
            flags = [f for f in flags if flag_code(f) != "heart_rate_missing"]
        if "species" in v and (cine.meta.species is None or prefer_table):
            meta.update(species=v["species"], species_source="table")
        if "view" in v and (cine.meta.view is None or prefer_table):
            meta.update(view=v["view"], view_source="table")
        if "subject" in v and (cine.meta.patient_id is None or prefer_table):
            meta["patient_id"] = v["subject"]
        if "timepoint" in v and (cine.meta.timepoint is None or prefer_table):
            meta["timepoint"] = v["timepoint"]
        used = sorted(set(changes) | set(meta) - {"species_source", "view_source"})
        if used:
            flags.append(make_flag("acquisition_table", f"{', '.join(used)} from {where}"))
        return replace(cine, flags=flags, meta=replace(cine.meta, **meta), **changes)

    @staticmethod
    def _spacing(cine: EchoCine, spacing: tuple[float, float], prefer: bool, where: str, flags: list[str],
                 changes: dict[str, Any]) -> None:
        header = cine.spacing_mm
        if header is not None and not any(flag_code(f) in _CALIBRATION_FLAGS for f in flags):
            if max(abs(a - b) / b for a, b in zip(header, spacing)) > 0.01:
                flags.append(make_flag("acquisition_table_conflict", (
                    f"spacing {header[0]:.5g} x {header[1]:.5g} mm in the header, {spacing[0]:.5g} x {spacing[1]:.5g} "
                    f"mm in {where}; {'table' if prefer else 'header'} used")))
            if not prefer:
                return
        flags[:] = [f for f in flags if flag_code(f) not in _CALIBRATION_FLAGS]
        changes.update(spacing_mm=tuple(spacing), calibration_source="table")

    @staticmethod
    def _timing(cine: EchoCine, fps: float, prefer: bool, where: str, flags: list[str],
                changes: dict[str, Any]) -> None:
        if cine.fps is not None:
            if abs(cine.fps - fps) / fps > 0.01:
                flags.append(make_flag("acquisition_table_conflict", (
                    f"{cine.fps:.4g} frames/s in the file, {fps:.4g} in {where}; {'table' if prefer else 'file'} used")))
            if not prefer:
                return
        flags[:] = [f for f in flags if flag_code(f) != "timing_missing"]
        changes.update(fps=fps, frame_times_ms=np.arange(cine.n_frames) * 1000.0 / fps, timing_source="table")
