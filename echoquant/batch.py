"""Batch analysis of many loops (``echoquant analyze``), built to survive bad files
and interruptions.

- Every input file gets exactly one row: ``ok``, ``failed`` (with its typed error) or
  ``skipped`` (non-image DICOM objects such as SR/DICOMDIR, and side-car files).
- Each clip's record (``clips/<clip_id>.json``: its row, curves and per-beat
  values) is written atomically after its overlays and SR, so a record on disk means
  the clip is complete. ``results.csv``/``.parquet`` are rebuilt from the records
  (atomically) as the run goes and at its end.
- ``resume=True`` (``--continue``) skips clips whose record exists for the same file
  content (SHA-256) and model; failed clips are tried again.
- ``num_parts``/``part_id`` split the sorted inputs into disjoint, deterministic
  shards for array jobs; ``echoquant collect`` merges their records.
- Decoding runs in DataLoader worker processes, overlapping segmentation and
  measurement in the main process.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader, Dataset

from echoquant._files import atomic_write_text, file_sha256, sweep_partials
from echoquant.api import Analyzer
from echoquant.results import MMODE_METHOD, EchoResult, MModeEchoResult
from echoquant.errors import EchoquantError, NotAnImageError, NotDicomError
from echoquant.export.tables import error_row, read_record, result_row, write_study_tables, write_tables
from echoquant.flags import make_flag
from echoquant.io import read_echo
from echoquant.io.cine import EchoCine
from echoquant.io.mmode import MModeStrip
from echoquant.io.tiff import TIFF_SUFFIXES
from echoquant.io.video import VIDEO_SUFFIXES
from echoquant.privacy import scrub_for

__all__ = ["BatchError", "BatchOptions", "BatchSummary", "clip_id_for", "collect", "collect_inputs",
           "run_batch", "select_part", "write_studies"]

# Files that sit next to loops in study folders and are not loops themselves.
SIDECAR_SUFFIXES = frozenset({".csv", ".json", ".txt", ".md", ".xml", ".html", ".htm", ".pdf", ".log", ".yaml",
                              ".yml", ".ini", ".parquet", ".png", ".jpg", ".jpeg", ".gif", ".npz", ".npy",
                              ".mhd", ".raw", ".nii", ".gz", ".zip", ".py"})
RECORDS = "clips"


class BatchError(EchoquantError):
    """The batch cannot start (e.g. the output folder holds another run)."""

    code = "batch_error"


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs.

    Attributes:
        overlays: write ``overlays/<clip_id>.gif`` and ``<clip_id>_curves.png``.
        sr: write ``sr/<clip_id>.dcm`` (DICOM Comprehensive SR) for DICOM inputs.
        resume: skip clips already done (same content and model).
        overwrite: analyse everything again in an output folder that holds records.
        num_parts, part_id: analyse only shard ``part_id`` of ``num_parts``.
        workers: decoding processes (0 = decode in the main process).
        flush_every: rebuild the results tables after this many clips.
    """

    overlays: bool = False
    sr: bool = False
    resume: bool = False
    overwrite: bool = False
    num_parts: int = 1
    part_id: int = 0
    workers: int = 1
    flush_every: int = 20

    def __post_init__(self) -> None:
        if self.num_parts < 1:
            raise ValueError(f"num_parts must be >= 1, got {self.num_parts}")
        if not 0 <= self.part_id < self.num_parts:
            raise ValueError(f"part_id must be in 0..{self.num_parts - 1}, got {self.part_id}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.resume and self.overwrite:
            raise ValueError("resume and overwrite exclude each other; choose one")

    @property
    def table_stem(self) -> str:
        return "results" if self.num_parts == 1 else f"results_part{self.part_id}of{self.num_parts}"


@dataclass
class BatchSummary:
    """Counts of one run; ``rows`` in input order."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    n_resumed: int = 0
    elapsed_s: float = 0.0
    tables: list[Path] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.get("status") == status for r in self.rows)

    @property
    def n_failed(self) -> int:
        return self.count("failed")


# ---------------------------------------------------------------- discovery


def collect_inputs(inputs: Iterable[str | Path], exclude: Path | None = None) -> list[Path]:
    """Every file named or found (recursively) under the inputs, hidden ones and the
    output folder excluded, without duplicates, sorted within each folder."""
    excl = exclude.resolve() if exclude is not None else None
    seen, out = set(), []

    def add(p: Path) -> None:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            out.append(p)

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if f.is_file() and not any(s.startswith(".") for s in rel) and not (
                        excl is not None and excl in f.resolve().parents):
                    add(f)
        else:
            add(p)  # a missing file still gets its row ("no such file")
    return out


def select_part(paths: list[Path], num_parts: int, part_id: int) -> list[Path]:
    """Shard ``part_id`` of ``num_parts``: every ``num_parts``-th path of the sorted
    list, so that the shards are disjoint, cover everything and are balanced."""
    ordered = sorted(paths, key=lambda p: str(p))
    return ordered[part_id::num_parts]


def clip_id_for(path: Path) -> str:
    """A file-name-safe id: the file's stem (letters, digits, ``._-`` only) plus a
    hash of its absolute path, so two ``loop.dcm`` in different folders differ and
    no id can contain a path separator."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem).strip("._") or "clip"
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return f"{stem[:60]}-{digest}"


# ---------------------------------------------------------------- loading (worker side)


@dataclass
class _Loaded:
    path: Path
    clip_id: str
    sha: str | None
    cine: EchoCine | None = None
    mmode: MModeStrip | None = None  # an M-mode strip instead of a loop
    row: dict[str, Any] | None = None  # set when the clip ends here (error, skip, already done)
    resumed: bool = False


def _done(record: dict[str, Any] | None, sha: str | None, model: str) -> bool:
    if record is None or sha is None:
        return False
    row = record.get("row", {})
    # An M-mode strip is measured by the tracer whatever the network: its row names the tracer.
    expected = MMODE_METHOD if row.get("mode") == "mmode" else model
    return row.get("content_sha256") == sha and row.get("status") in ("ok", "skipped") and (
        row.get("status") == "skipped" or row.get("model") == expected)


class _LoadDataset(Dataset):
    """Reads one input per item; never raises (an error becomes the item's row)."""

    def __init__(self, paths: list[Path], records: Path, model: str, resume: bool) -> None:
        self.paths, self.records, self.model, self.resume = paths, records, model, resume

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> _Loaded:
        path = self.paths[i]
        cid, sha = clip_id_for(path), file_sha256(path)
        if self.resume:
            record = read_record(self.records / f"{cid}.json")
            if _done(record, sha, self.model):
                return _Loaded(path, cid, sha, row=record["row"], resumed=True)
        try:
            with warnings.catch_warnings(record=True) as caught:
                # pydicom warnings can quote header values; they go to the clip's flags, scrubbed
                warnings.simplefilter("always")
                # routed by content (header parsed once): a file with an M-mode region is a strip
                echo = read_echo(path, require_loop=True)
                strip = echo if isinstance(echo, MModeStrip) else None
                cine = None if strip is not None else echo
            loaded = _Loaded(path, cid, sha, cine=cine, mmode=strip)
            if caught:
                (strip or cine).flags.append(make_flag("reader_warnings", scrub_for(path, "; ".join(
                    sorted({str(w.message)[:200] for w in caught}))[:1000])))
            return loaded
        except NotDicomError as exc:
            status = "skipped" if path.suffix.lower() in SIDECAR_SUFFIXES else "failed"
            return _Loaded(path, cid, sha, row=error_row(path, exc, status=status, clip_id=cid, content_sha256=sha))
        except NotAnImageError as exc:  # SR, DICOMDIR, presentation states: not loops
            return _Loaded(path, cid, sha, row=error_row(path, exc, status="skipped", clip_id=cid,
                                                         content_sha256=sha))
        # A reader bug on one file must not end a night's batch; the row names the error.
        except Exception as exc:  # noqa: BLE001
            return _Loaded(path, cid, sha, row=error_row(path, exc, clip_id=cid, content_sha256=sha))


def _identity(x: Any) -> Any:
    return x


def _load(paths: list[Path], records: Path, model: str, options: BatchOptions) -> Iterator[_Loaded]:
    ds = _LoadDataset(paths, records, model, options.resume)
    if options.workers == 0 or len(paths) <= 1:
        yield from (ds[i] for i in range(len(ds)))
        return
    # batch_size=None: one item at a time, order kept; _identity stops tensor conversion.
    yield from DataLoader(ds, batch_size=None, num_workers=options.workers, collate_fn=_identity,
                          prefetch_factor=2, persistent_workers=False)


# ---------------------------------------------------------------- analysis (main process)


def _write_outputs(out: Path, item: _Loaded, result: EchoResult, options: BatchOptions) -> list[str]:
    """Overlays and SR of one clip; returns flags for outputs that could not be made."""
    notes = []
    if item.mmode is not None:
        return _write_mmode_outputs(out, item, result, options)
    if result.segmentation is not None:
        # What the loop was measured on, so a reader can see and correct it (`echoquant review`).
        from echoquant.export.clipstate import CLIP_STATE_DIR, ClipState

        ClipState.from_result(result).write(out / CLIP_STATE_DIR / f"{item.clip_id}.npz")
    if options.overlays:
        from echoquant.export.overlays import write_contour_gif, write_curves_png

        classes = [m["wall_motion"] for m in result.quant.summary.get("wall_motion") or []]
        write_contour_gif(out / "overlays" / f"{item.clip_id}.gif", item.cine, result.quant.contours_px,
                          result.ed_frames, result.es_frames, segment_classes=classes or None)
        write_curves_png(out / "overlays" / f"{item.clip_id}_curves.png", result, title=item.path.name)
    if options.sr:
        if item.path.suffix.lower() in VIDEO_SUFFIXES | TIFF_SUFFIXES:
            notes.append("sr_not_written: a video or TIFF has no DICOM instance for an SR to reference")
        else:
            # highdicom is imported only when SR is asked for (it is heavy to import).
            from echoquant.export.sr import write_sr

            write_sr(out / "sr" / f"{item.clip_id}.dcm", item.path, result)
    return notes


def _write_mmode_outputs(out: Path, item: _Loaded, result: MModeEchoResult, options: BatchOptions) -> list[str]:
    """The traced strip (PNG) and the SR of one M-mode file."""
    if options.overlays:
        from echoquant.export.overlays import write_mmode_png

        write_mmode_png(out / "overlays" / f"{item.clip_id}.png", item.mmode, result, title=item.path.name)
    if options.sr:
        from echoquant.export.sr import write_sr

        write_sr(out / "sr" / f"{item.clip_id}.dcm", item.path, result)
    return []


def _analyse(analyzer: Analyzer, out: Path, item: _Loaded, options: BatchOptions) -> dict[str, Any]:
    """Score one decoded clip and write its outputs and record; returns its row."""
    start = time.perf_counter()
    result = None
    try:
        result = analyzer.score(item.mmode if item.mmode is not None else item.cine)
        result.path = str(item.path)
        notes = _write_outputs(out, item, result, options)
        row = result_row(result, clip_id=item.clip_id, content_sha256=item.sha,
                         elapsed_s=time.perf_counter() - start)
        if notes:
            row["qc_flags"] = ";".join(filter(None, [row["qc_flags"], *(n.split(":")[0] for n in notes)]))
    except Exception as exc:  # noqa: BLE001 - one clip's failure becomes its row; the batch goes on
        row = error_row(item.path, exc, clip_id=item.clip_id, content_sha256=item.sha)
        result = None
    _write_record(out, item.clip_id, row, result)
    return row


def _write_record(out: Path, clip_id: str, row: dict[str, Any], result: EchoResult | MModeEchoResult | None
                  ) -> None:
    record = {"row": row, "result": None if result is None else result.to_dict()}
    atomic_write_text(out / RECORDS / f"{clip_id}.json", json.dumps(record, indent=1, allow_nan=False))


def _check_output(out: Path, options: BatchOptions) -> None:
    records = out / RECORDS
    if records.is_dir() and any(records.glob("*.json")) and not (options.resume or options.overwrite):
        raise BatchError(f"the output folder already holds results of an earlier run ({records}); pass "
                         "--continue to resume it or --overwrite to analyse everything again", path=out)


def run_batch(inputs: Iterable[str | Path], out_dir: str | Path, analyzer: Analyzer,
              options: BatchOptions = BatchOptions(),
              on_clip: Callable[[dict[str, Any]], None] | None = None) -> BatchSummary:
    """Analyse every input file into ``out_dir``.

    Args:
        inputs: files and folders (searched recursively).
        out_dir: output folder (created).
        analyzer: the loaded model and measurement settings.
        options: see :class:`BatchOptions`.
        on_clip: called with each row as it is finished (progress display).

    Returns:
        A :class:`BatchSummary` with every row of this part, in input order.

    Raises:
        BatchError: the output folder holds an earlier run and neither resume nor
            overwrite was asked for.
    """
    out = Path(out_dir)
    _check_output(out, options)
    out.mkdir(parents=True, exist_ok=True)
    sweep_partials(out)  # leftovers of a killed run; their files were never complete
    paths = select_part(collect_inputs(inputs, exclude=out), options.num_parts, options.part_id)
    summary, start = BatchSummary(), time.perf_counter()
    for k, item in enumerate(_load(paths, out / RECORDS, analyzer.model_name, options), start=1):
        if item.resumed:
            summary.n_resumed += 1
            row = item.row
        elif item.row is not None:
            row = item.row
            _write_record(out, item.clip_id, row, None)
        else:
            row = _analyse(analyzer, out, item, options)
        summary.rows.append(row)
        if on_clip is not None:
            on_clip(row)
        if k % options.flush_every == 0:
            write_tables(summary.rows, out, options.table_stem)
    summary.tables = write_tables(summary.rows, out, options.table_stem)
    if options.num_parts == 1:
        # Studies need every clip of a study: a shard writes none, `collect` does.
        summary.tables += write_studies(out, [r.get("clip_id") for r in summary.rows], sr=options.sr)
    summary.elapsed_s = time.perf_counter() - start
    return summary


def write_studies(out_dir: str | Path, clip_ids: Iterable[str | None] | None = None, *,
                  sr: bool = False) -> list[Path]:
    """``studies.csv``/``.parquet`` from the clip records under ``out_dir`` (those of
    ``clip_ids``, else all): biplane where a study has A4C and A2C loops, else single
    plane (:mod:`echoquant.quant.study`). With ``sr``, also a study-level DICOM SR
    per study with values, ``sr/studies/<hash>.dcm`` (a study whose SR cannot be written
    gets the ``sr_not_written`` flag instead)."""
    from echoquant.quant.study import studies_from_records

    out = Path(out_dir)
    paths = (sorted((out / RECORDS).glob("*.json")) if clip_ids is None
             else [out / RECORDS / f"{c}.json" for c in sorted({c for c in clip_ids if c})])
    records = [read_record(p) for p in paths]
    studies = studies_from_records(records)
    if sr:
        models = {str((r or {}).get("row", {}).get("model")) for r in records} - {"None"}
        for s in studies:
            _write_study_sr(out, s, ",".join(sorted(models)) or "unknown")
    return write_study_tables([s.row() for s in studies], out)


def _write_study_sr(out: Path, study: Any, model: str) -> None:
    from echoquant.export.sr import write_study_sr

    if study.values.get("lvef_pct") is None:
        return
    # The file name must not carry identifiers: a hash of the study key.
    name = hashlib.sha1(study.study_key.encode()).hexdigest()[:16]
    try:
        write_study_sr(out / "sr" / "studies" / f"{name}.dcm", study, model)
    except (EchoquantError, ValueError) as exc:
        # The message can quote header values: only its type goes into the table.
        study.flags.append(make_flag("sr_not_written", f"the study SR could not be written ({type(exc).__name__})"))


def collect(out_dir: str | Path, *, sr: bool = False) -> list[Path]:
    """Merge every clip record under ``out_dir`` (e.g. of several shards) into
    ``results.csv`` and ``results.parquet``, sorted by path, and ``studies.csv`` and
    ``studies.parquet``, one row per study."""
    out = Path(out_dir)
    records = [read_record(p) for p in sorted((out / RECORDS).glob("*.json"))]
    rows = sorted((r["row"] for r in records if r is not None), key=lambda r: str(r.get("path")))
    if not rows:
        raise BatchError("no clip records to collect; run `echoquant analyze` into this folder first", path=out)
    return write_tables(rows, out, "results") + write_studies(out, sr=sr)


def analyze(inputs: Iterable[str | Path], out_dir: str | Path, *, model: str | Path | None = None,
            device: str = "auto", tta: bool = False, track: bool = True, options: BatchOptions = BatchOptions(),
            show_progress: bool = True, find_views: bool = True, acquisition_table: str | Path | None = None,
            prefer_table: bool = False) -> BatchSummary:
    """Load the model and run a batch with a progress bar: what ``echoquant analyze``
    and ``python -m echoquant.infer`` both call."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    inputs = list(inputs)
    out = Path(out_dir)
    _check_output(out, options)  # before the model loads: fail fast
    analyzer = Analyzer(model, device, tta=tta, track=track, find_views=find_views,
                        acquisition_table=acquisition_table, prefer_table=prefer_table)
    n = len(select_part(collect_inputs(inputs, exclude=out), options.num_parts, options.part_id))
    console = Console(stderr=True)
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, disable=not show_progress) as progress:
        task = progress.add_task("analysing", total=n)

        def tick(row: dict[str, Any]) -> None:
            progress.advance(task)
            if row.get("status") == "failed":
                # the path and the error code only, identifiers scrubbed (folders are often named by patient)
                shown = scrub_for(row["path"], str(row["path"]))
                progress.console.print(f"[yellow]failed[/yellow] {shown}: {row['error_code']}")

        return run_batch(inputs, out, analyzer, options, on_clip=tick)
