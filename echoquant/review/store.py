"""The over-read of one ``echoquant analyze`` output folder: clips, decisions and the
reviewed table (:class:`ReviewStore`). The web app (:mod:`echoquant.review.app`) is a
thin door onto it.

Files, all under ``OUT/review/``:

- ``decisions.jsonl``: one JSON line per decision, appended under a file lock and never
  rewritten (reviewer, UTC time, clip_id, input SHA-256, model, action, reason, the
  reader's ED/ES frames and contours, values before and after).
- ``reviewed.csv``: ``results.csv`` with the decisions applied and the columns
  ``review_status`` (``accepted``, ``excluded``, ``edited``, empty), ``reviewer``,
  ``reviewed_at``, ``review_reason`` and ``review_stale``; rewritten atomically after
  every decision. ``results.csv`` is never modified.
- ``records/<clip_id>.json``: the re-measured record of an edited clip (same layout as
  ``OUT/clips/<clip_id>.json``), from which study-level values are made again.

Which decision counts: each reviewer's latest decision on a clip is that reviewer's
read (shown to them, used for inter-reader agreement); the latest decision of anyone
is the clip's reviewed state in ``reviewed.csv``. ``accept`` keeps the analysed values,
``edit`` re-measures the clip from its saved segmentation with the full set of the
reader's corrections (:func:`echoquant.export.clipstate.remeasure`, the same
measurement code as ``analyze``), ``exclude`` takes it out of the statistics.
"""

from __future__ import annotations

import csv
import fcntl
import json
import math
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from echoquant._files import atomic_path, atomic_write_text, file_sha256
from echoquant.export.clipstate import CLIP_STATE_DIR, ClipState, ClipStateError, remeasure
from echoquant.export.tables import RESULT_COLUMNS, read_record, result_row
from echoquant.quant.edits import ReaderEdits
from echoquant.quant.intervals import as_finite
from echoquant.quant.result import json_safe

__all__ = ["ACTIONS", "EXCLUDE_REASONS", "REVIEW_COLUMNS", "ReviewError", "ReviewStore", "VALUE_KEYS",
           "interval_width"]

ACTIONS = ("accept", "exclude", "edit")
# Offered on the page; a reader may also type their own.
EXCLUDE_REASONS = ("wrong view", "LV not fully in the image", "poor image quality", "contour not correctable",
                   "arrhythmia or irregular beats", "duplicate clip", "other")
REVIEW_COLUMNS = ("review_status", "reviewer", "reviewed_at", "review_reason", "review_stale")
_STATUS = {"accept": "accepted", "exclude": "excluded", "edit": "edited"}
# The values a decision records before and after, and the page shows.
VALUE_KEYS = ("lvef_pct", "lvef_ci_low", "lvef_ci_high", "edv_ml", "esv_ml", "edv_ci_low", "edv_ci_high",
              "esv_ci_low", "esv_ci_high", "gls_pct", "gls_ci_low", "gls_ci_high", "eda_mm2", "esa_mm2", "fac_pct",
              "fac_ci_low", "fac_ci_high", "edv_ul", "esv_ul", "wmsi", "akinetic_extent_pct", "n_beats",
              "ed_frames", "es_frames", "beat_source", "qc_pass", "qc_flags",
              # parasternal and M-mode values (issue 33)
              "fs_pct", "lvidd_mm", "lvids_mm", "lv_length_mm", "gcs_pct", "lvef_teichholz_pct", "lv_mass_mg")
_MAX_REASON = 500
_MAX_REVIEWER = 80


class ReviewError(ValueError):
    """A request the review cannot carry out; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def interval_width(row: dict[str, Any]) -> float:
    """Width of the clip's LVEF (else FAC) 95 % interval in points; inf without one (so
    worst-first sorting puts unmeasured clips first)."""
    for v in ("lvef", "fac"):
        lo, hi = as_finite(row.get(f"{v}_ci_low")), as_finite(row.get(f"{v}_ci_high"))
        if lo is not None and hi is not None:
            return hi - lo
    return math.inf


def _cell(v: str) -> Any:
    """A results.csv cell as JSON: numbers as numbers, empty as None."""
    if v == "":
        return None
    if v in ("True", "False"):
        return v == "True"
    try:
        f = float(v)
    except ValueError:
        return v
    if not math.isfinite(f):
        return None
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Clip:
    row: dict[str, Any]  # the results.csv row (JSON types)
    order: int


class ReviewStore:
    """Clips of one output folder and the decisions made on them.

    Args:
        out_dir: an ``echoquant analyze`` output folder (with ``results.csv``).

    Raises:
        ReviewError: the folder has no ``results.csv``.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.out = Path(out_dir).resolve()
        table = self.out / "results.csv"
        if not table.is_file():
            raise ReviewError(f"{table} not found: pass the output folder of `echoquant analyze`", status=404)
        self.dir = self.out / "review"
        self.dir.mkdir(exist_ok=True)
        self.decisions_path = self.dir / "decisions.jsonl"
        self.decisions_path.touch(exist_ok=True)
        self._lock = threading.RLock()
        self._offset = 0
        self._latest: dict[str, dict[str, Any]] = {}  # clip_id -> latest decision of anyone
        self._by_reader: dict[tuple[str, str], dict[str, Any]] = {}  # (clip_id, reviewer) -> latest
        self._sha: dict[str, str | None] = {}  # current input SHA-256, filled lazily
        with open(table, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            self.columns = list(reader.fieldnames or RESULT_COLUMNS)
            rows = [{k: _cell(v or "") for k, v in r.items()} for r in reader]
        self.clips: dict[str, _Clip] = {}
        self.other_rows: list[dict[str, Any]] = []  # skipped files and rows without a clip id
        for i, r in enumerate(rows):
            cid = r.get("clip_id")
            if cid and r.get("status") != "skipped":
                self.clips[str(cid)] = _Clip(r, i)
            else:
                self.other_rows.append(r)
        self._sync()

    # ------------------------------------------------------------------ decisions log

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Thread and process lock: two tabs, two readers or two servers on one folder."""
        with self._lock, open(self.dir / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _sync(self) -> None:
        """Read decisions appended since the last read (by this or another process)."""
        with self._lock, open(self.decisions_path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
            # Only whole lines: a line being written by another process is read next time.
            end = data.rfind(b"\n") + 1
            self._offset += end
            for line in data[:end].splitlines():
                if line.strip():
                    self._apply(json.loads(line))

    def _apply(self, d: dict[str, Any]) -> None:
        self._latest[d["clip_id"]] = d
        self._by_reader[(d["clip_id"], d["reviewer"])] = d

    def decisions(self) -> list[dict[str, Any]]:
        """Every decision ever made, oldest first."""
        self._sync()
        with open(self.decisions_path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    # ------------------------------------------------------------------ reading

    def input_sha(self, clip_id: str, refresh: bool = False) -> str | None:
        """SHA-256 of the clip's input file now (None when it is gone)."""
        if refresh or clip_id not in self._sha:
            self._sha[clip_id] = file_sha256(Path(str(self.clips[clip_id].row["path"])))
        return self._sha[clip_id]

    def hash_all(self) -> None:
        """Hash every input (run in the background at start: shows stale clips in the list)."""
        for cid in list(self.clips):
            if cid not in self._sha:
                self.input_sha(cid)

    def stale(self, clip_id: str, reviewer: str | None = None) -> bool | None:
        """Whether the input changed since it was analysed or reviewed; None while not yet hashed."""
        if clip_id not in self._sha:
            return None
        now = self._sha[clip_id]
        seen = [self.clips[clip_id].row.get("content_sha256")]
        d = self.decision_of(clip_id, reviewer)
        if d is not None:
            seen.append(d.get("input_sha256"))
        return any(s is not None and s != now for s in seen)

    def decision_of(self, clip_id: str, reviewer: str | None) -> dict[str, Any] | None:
        return self._latest.get(clip_id) if reviewer is None else self._by_reader.get((clip_id, reviewer))

    def _clip(self, clip_id: str) -> _Clip:
        clip = self.clips.get(clip_id)
        if clip is None:
            raise ReviewError(f"no clip {clip_id!r} in {self.out / 'results.csv'}", status=404)
        return clip

    def values(self, clip_id: str, reviewer: str | None = None) -> dict[str, Any]:
        """The clip's values as the reviewer (None: anyone, latest) left them."""
        d = self.decision_of(clip_id, reviewer)
        if d is not None and d["action"] == "edit":
            return dict(d["after"])
        return {k: self._clip(clip_id).row.get(k) for k in VALUE_KEYS}

    def summary(self, clip_id: str, reviewer: str | None = None) -> dict[str, Any]:
        """One clip's line of ``GET /api/clips``."""
        clip = self._clip(clip_id)
        r, d = clip.row, self.decision_of(clip_id, reviewer)
        values = self.values(clip_id, reviewer)
        return {
            "clip_id": clip_id, "path": r.get("path"), "name": Path(str(r.get("path"))).name,
            "status": r.get("status"), "error": r.get("error"), "view": r.get("view"), "species": r.get("species"),
            "values": values, "qc_pass": values.get("qc_pass"), "qc_flags": values.get("qc_flags"),
            "interval_width": json_safe(interval_width(values)),
            "review_status": None if d is None else _STATUS[d["action"]],
            "reviewer": None if d is None else d["reviewer"], "reviewed_at": None if d is None else d["time_utc"],
            "review_reason": None if d is None else d.get("reason"),
            "stale": self.stale(clip_id, reviewer),
        }

    def list(self, reviewer: str | None = None) -> list[dict[str, Any]]:
        """Every clip, worst first: no values, then widest interval."""
        self._sync()
        out = [self.summary(cid, reviewer) for cid in self.clips]
        return sorted(out, key=lambda s: (-(s["interval_width"] if s["interval_width"] is not None else math.inf),
                                          self.clips[s["clip_id"]].order))

    def record(self, clip_id: str, reviewer: str | None = None) -> dict[str, Any] | None:
        """The clip's record: the reviewer's re-measured one after an edit, else the analysed one."""
        d = self.decision_of(clip_id, reviewer)
        if d is not None and d["action"] == "edit" and d.get("record"):
            edited = read_record(self.dir / "records" / d["record"])
            if edited is not None:
                return edited
        return read_record(self.out / "clips" / f"{clip_id}.json")

    def state(self, clip_id: str) -> ClipState:
        """The clip's saved segmentation (:class:`ClipState`)."""
        self._clip(clip_id)
        try:
            return ClipState.read(self.out / CLIP_STATE_DIR / f"{clip_id}.npz")
        except ClipStateError as exc:
            raise ReviewError(str(exc), status=409) from exc

    # ------------------------------------------------------------------ deciding

    def decide(self, clip_id: str, payload: dict[str, Any], reviewer: str) -> dict[str, Any]:
        """Record one decision and rewrite ``reviewed.csv``; returns the decision.

        Args:
            clip_id: the clip.
            payload: ``{"action": "accept"|"exclude"|"edit", "reason": str, "ed_frames":
                [...], "es_frames": [...], "contours": {"<frame>": [[x, y], ...]}}``;
                an exclusion needs a reason; an edit needs frames or contours.
            reviewer: who decides (``payload["reviewer"]`` overrides it).

        Raises:
            ReviewError: a malformed payload (400), an unknown clip (404), a clip whose
                segmentation was not kept or whose input is gone or changed (409), edits
                that do not fit the loop (422).
        """
        clip = self._clip(clip_id)
        action, reason, reviewer = self._check_payload(payload, reviewer)
        before = self.values(clip_id, reviewer)
        sha = self.input_sha(clip_id, refresh=True)
        decision: dict[str, Any] = {
            "decision_id": uuid.uuid4().hex, "reviewer": reviewer, "time_utc": _now(), "clip_id": clip_id,
            "path": clip.row.get("path"), "input_sha256": sha, "analysed_sha256": clip.row.get("content_sha256"),
            "model": clip.row.get("model"), "action": action, "reason": reason, "before": before,
        }
        if action == "edit":
            decision.update(self._edit(clip, payload, sha, decision["decision_id"]))
        else:
            decision["after"] = ({k: clip.row.get(k) for k in VALUE_KEYS} if action == "accept" else before)
        line = json.dumps(json_safe(decision), allow_nan=False) + "\n"
        with self._file_lock():
            with open(self.decisions_path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            self._sync()
            self.write_reviewed()
        return decision

    def _check_payload(self, payload: Any, reviewer: str) -> tuple[str, str | None, str]:
        if not isinstance(payload, dict):
            raise ReviewError(f"the decision must be a JSON object, got {type(payload).__name__}")
        unknown = set(payload) - {"action", "reason", "ed_frames", "es_frames", "contours", "reviewer"}
        if unknown:
            raise ReviewError(f"unknown fields {sorted(unknown)}; allowed: action, reason, ed_frames, es_frames, "
                              "contours, reviewer")
        action = payload.get("action")
        if action not in ACTIONS:
            raise ReviewError(f"action must be one of {list(ACTIONS)}, got {action!r}")
        reason = payload.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > _MAX_REASON):
            raise ReviewError(f"reason must be text of at most {_MAX_REASON} characters")
        reason = (reason or "").strip() or None
        if action == "exclude" and not reason:
            raise ReviewError("an exclusion needs a reason, e.g. {\"action\": \"exclude\", \"reason\": "
                              "\"wrong view\"}")
        who = payload.get("reviewer", reviewer)
        if not isinstance(who, str) or not who.strip() or len(who) > _MAX_REVIEWER:
            raise ReviewError(f"reviewer must be a name of 1-{_MAX_REVIEWER} characters, got {who!r}")
        return action, reason, who.strip()

    def _edit(self, clip: _Clip, payload: dict[str, Any], sha: str | None, decision_id: str) -> dict[str, Any]:
        """Re-measure an edited clip; its decision fields (edits, after, record)."""
        row = clip.row
        if row.get("status") != "ok" or row.get("mode") == "mmode":
            raise ReviewError("only analysed B-mode loops can be edited (this clip failed or is an M-mode strip); "
                              "accept or exclude it", status=409)
        if sha is None:
            raise ReviewError(f"the input {row.get('path')} cannot be read any more; it is needed to re-measure",
                              status=409)
        if sha != row.get("content_sha256"):
            raise ReviewError("the input file changed since it was analysed (stale): analyse it again before "
                              "editing", status=409)
        edits = _edits_from(payload)
        if edits.empty:
            raise ReviewError("an edit needs ed_frames and es_frames or contours; to keep the analysed values, "
                              "accept the clip")
        state = self.state(str(row["clip_id"]))
        try:
            result = remeasure(str(row["path"]), state, edits)
        except ClipStateError as exc:
            raise ReviewError(str(exc), status=409) from exc
        except ValueError as exc:
            raise ReviewError(f"the edits do not fit this loop: {exc}", status=422) from exc
        new_row = result_row(result, clip_id=str(row["clip_id"]), content_sha256=sha)
        new_row["qc_flags"] = ";".join(filter(None, [new_row.get("qc_flags") or "", "reader_edited"]))
        name = f"{row['clip_id']}-{decision_id[:12]}.json"
        record = {"row": new_row, "result": result.to_dict(contours=False)}
        atomic_write_text(self.dir / "records" / name, json.dumps(json_safe(record), indent=1, allow_nan=False))
        return {"ed_frames": list(edits.ed_frames or []) or None, "es_frames": list(edits.es_frames or []) or None,
                "contours": {str(t): np.round(p, 2).tolist() for t, p in edits.contours.items()},
                "after": json_safe({k: new_row.get(k) for k in VALUE_KEYS}), "record": name,
                "row_after": json_safe(new_row)}

    # ------------------------------------------------------------------ reviewed.csv

    def reviewed_rows(self) -> list[dict[str, Any]]:
        """``results.csv`` rows (file order) with the latest decisions applied."""
        rows: list[tuple[int, dict[str, Any]]] = []
        for cid, clip in self.clips.items():
            row = dict(clip.row)
            d = self._latest.get(cid)
            if d is not None:
                if d["action"] == "edit":
                    row.update({k: v for k, v in d["row_after"].items() if k in row or k in self.columns})
                row.update(review_status=_STATUS[d["action"]], reviewer=d["reviewer"], reviewed_at=d["time_utc"],
                           review_reason=d.get("reason"), review_stale=self.stale(cid))
            rows.append((clip.order, row))
        taken = {c.order for c in self.clips.values()}
        others = [i for i in range(len(self.clips) + len(self.other_rows)) if i not in taken]
        rows += list(zip(others, self.other_rows))
        return [r for _, r in sorted(rows, key=lambda x: x[0])]

    def write_reviewed(self) -> Path:
        """Rewrite ``reviewed.csv`` atomically."""
        path = self.dir / "reviewed.csv"
        columns = self.columns + [c for c in REVIEW_COLUMNS if c not in self.columns]
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            w.writeheader()
            for r in self.reviewed_rows():
                w.writerow({k: "" if r.get(k) is None else r.get(k) for k in columns})
        return path


def _edits_from(payload: dict[str, Any]) -> ReaderEdits:
    """The reader's corrections from a decision's JSON (typed errors for malformed ones)."""
    def frames(key: str) -> tuple[int, ...] | None:
        v = payload.get(key)
        if v is None:
            return None
        if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise ReviewError(f"{key} must be a list of frame numbers, got {v!r}")
        return tuple(v)

    contours = payload.get("contours") or {}
    if not isinstance(contours, dict):
        raise ReviewError(f"contours must be an object {{\"<frame>\": [[x, y], ...]}}, got {type(contours).__name__}")
    parsed = {}
    for k, pts in contours.items():
        try:
            t = int(k)
            arr = np.asarray(pts, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ReviewError(f"contour {k!r}: frame must be a number and points [[x, y], ...] ({exc})") from exc
        if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < 3 or len(arr) > 2000 or not np.isfinite(arr).all():
            raise ReviewError(f"contour on frame {k}: need 3-2000 finite [x, y] points, got shape {arr.shape}")
        parsed[t] = arr
    ed, es = frames("ed_frames"), frames("es_frames")
    return ReaderEdits(ed, es, parsed)
