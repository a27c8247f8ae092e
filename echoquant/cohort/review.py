"""Statistics after an over-read (``echoquant review``): which table a comparison uses,
what the review changed, and how far two readers agree.

``compare`` takes ``OUT/review/reviewed.csv`` when it lies beside ``results.csv``
(:func:`review_tables`): clips a reviewer excluded leave (listed with the reason),
edited values enter; at study level the studies are made again from the clip records
with the review applied. The report states the review's counts
(:func:`review_summary`), the primary effects without the review beside the reviewed
ones, and, when two or more reviewers read the same clips, their agreement
(:func:`agreement_table`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from echoquant.cohort.stats import reader_agreement

__all__ = ["AGREEMENT_ENDPOINTS", "ReviewTables", "agreement_table", "review_summary", "review_tables"]

# Values compared between readers (those a reader can change by editing).
AGREEMENT_ENDPOINTS = ("lvef_pct", "fac_pct", "edv_ml", "esv_ml", "gls_pct")


@dataclass
class ReviewTables:
    """The tables a comparison uses after a review.

    Attributes:
        reviewed: clip rows (or study rows) with the review applied.
        unreviewed: the same rows without it (for the effect "without review").
        level: ``"clip"`` or ``"study"``.
        summary: counts (:func:`review_summary`).
        agreement: inter-reader agreement (:func:`agreement_table`), empty with one reader.
    """

    reviewed: pd.DataFrame
    unreviewed: pd.DataFrame
    level: str
    summary: dict[str, Any]
    agreement: pd.DataFrame = field(default_factory=pd.DataFrame)


def read_decisions(review_dir: Path) -> list[dict[str, Any]]:
    path = review_dir / "decisions.jsonl"
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def review_summary(reviewed: pd.DataFrame) -> dict[str, Any]:
    """How many clips were reviewed, accepted, excluded (by reason), edited, stale."""
    status = reviewed.get("review_status", pd.Series(dtype="string")).astype("string").fillna("")
    clips = reviewed[reviewed.get("status", pd.Series("ok", index=reviewed.index)).astype("string") != "skipped"]
    reasons = reviewed.loc[status == "excluded", "review_reason"].astype("string").fillna("(none)")
    stale = reviewed.get("review_stale", pd.Series(dtype=object)).astype("string").str.lower() == "true"
    return {"n_clips": int(len(clips)), "n_reviewed": int((status != "").sum()),
            "n_accepted": int((status == "accepted").sum()), "n_excluded": int((status == "excluded").sum()),
            "n_edited": int((status == "edited").sum()), "n_stale": int(stale.sum()),
            "excluded_by_reason": {str(k): int(v) for k, v in reasons.value_counts().sort_index().items()},
            "reviewers": sorted(set(reviewed.get("reviewer", pd.Series(dtype="string")).dropna().astype(str)))}


def _reads(decisions: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each reviewer's latest decision per clip."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for d in decisions:
        latest[(d["clip_id"], d["reviewer"])] = d
    return latest


def agreement_table(decisions: list[dict[str, Any]], endpoints: tuple[str, ...] = AGREEMENT_ENDPOINTS
                    ) -> pd.DataFrame:
    """Agreement of every pair of reviewers on the clips both read: per endpoint the
    clips both kept (n), ICC(A,1), bias (second minus first reader) with 95 % limits of
    agreement, and how often they disagreed on excluding a clip."""
    reads = _reads(decisions)
    readers = sorted({r for _, r in reads})
    rows = []
    for a, b in combinations(readers, 2):
        clips = sorted({c for c, r in reads if r == a} & {c for c, r in reads if r == b})
        if not clips:
            continue
        da, db = [reads[(c, a)] for c in clips], [reads[(c, b)] for c in clips]
        excl_a = np.array([d["action"] == "exclude" for d in da])
        excl_b = np.array([d["action"] == "exclude" for d in db])
        both = ~excl_a & ~excl_b
        for e in endpoints:
            va = np.array([_float(d["after"].get(e)) for d, k in zip(da, both) if k])
            vb = np.array([_float(d["after"].get(e)) for d, k in zip(db, both) if k])
            if not len(va) or not np.isfinite(va).any():
                continue
            rows.append({"reader_a": a, "reader_b": b, "endpoint": e, "n_clips_both_read": len(clips),
                         **reader_agreement(va, vb), "n_excluded_by_both": int((excl_a & excl_b).sum()),
                         "n_excluded_by_one": int((excl_a ^ excl_b).sum())})
    return pd.DataFrame(rows, columns=["reader_a", "reader_b", "endpoint", "n_clips_both_read", "n", "icc", "bias",
                                       "loa_low", "loa_high", "n_excluded_by_both", "n_excluded_by_one"])


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _reviewed_studies(out: Path, reviewed: pd.DataFrame, decisions: list[dict[str, Any]]) -> pd.DataFrame:
    """``studies.csv`` rows made again from the clip records with the review applied."""
    from echoquant.cohort.design import studies_as_rows
    from echoquant.export.tables import read_record, studies_frame
    from echoquant.quant.study import studies_from_records

    latest = {d["clip_id"]: d for d in decisions}
    records = []
    for cid in reviewed["clip_id"].dropna().astype(str):
        d = latest.get(cid)
        if d is not None and d["action"] == "exclude":
            continue
        path = (out / "review" / "records" / d["record"] if d is not None and d["action"] == "edit"
                else out / "clips" / f"{cid}.json")
        records.append(read_record(path))
    return studies_as_rows(studies_frame([s.row() for s in studies_from_records(records)]))


def review_tables(results_csv: str | Path, *, level: str, use_review: bool = True) -> ReviewTables | None:
    """The reviewed and unreviewed tables beside ``results_csv``, or None without a
    review (or with ``use_review=False``).

    Args:
        results_csv: ``OUT/results.csv``.
        level: ``"clip"`` or ``"study"`` (studies made again with the review applied).
        use_review: False ignores the review (``--no-review``).
    """
    from echoquant.cohort.design import studies_as_rows

    results_csv = Path(results_csv)
    path = results_csv.parent / "review" / "reviewed.csv"
    if not use_review or not path.is_file():
        return None
    dtypes = {"patient_id": str, "timepoint": str}
    reviewed = pd.read_csv(path, dtype=dtypes)
    decisions = read_decisions(path.parent)
    summary = review_summary(reviewed)
    if level == "study":
        unreviewed = studies_as_rows(pd.read_csv(results_csv.with_name("studies.csv"), dtype=dtypes))
        reviewed_rows = _reviewed_studies(results_csv.parent, reviewed, decisions)
    else:
        unreviewed, reviewed_rows = pd.read_csv(results_csv, dtype=dtypes), reviewed
    return ReviewTables(reviewed_rows, unreviewed, level, summary, agreement_table(decisions))
