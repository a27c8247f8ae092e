"""Joining measurements to study groups, blinded by design.

Measurement (``echoquant analyze``) never sees group labels; they are joined here,
after the fact, from a groups file. Clips are matched to subjects by PatientID, by
a mapping file (``path, subject_id[, timepoint]``) or by a regular expression on
the path with named groups ``subject`` and optionally ``timepoint``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from echoquant.errors import EchoquantError

__all__ = ["CohortInputError", "assign_subjects", "blind_groups", "order_timepoints", "read_groups",
           "studies_as_rows"]


class CohortInputError(EchoquantError):
    """The results or groups table cannot be used as given."""

    code = "cohort_input"


_BASELINE = re.compile(r"^(baseline|base|pre|screening|day_?0|week_?0|w0|d0|t0)$", re.IGNORECASE)


def read_groups(path: str | Path) -> pd.DataFrame:
    """Read a groups CSV: ``subject_id, group`` plus optional ``timepoint`` and
    covariate columns. Subject ids are kept as text (``007`` stays ``007``)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"subject_id": str, "group": str, "timepoint": str})
    except (OSError, ValueError) as exc:
        raise CohortInputError(f"cannot read the groups file ({exc})", path=path) from exc
    return check_groups(df, path)


def check_groups(df: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    missing = {"subject_id", "group"} - set(df.columns)
    if missing:
        raise CohortInputError(f"groups table needs columns subject_id and group; missing {sorted(missing)}, "
                               f"got {list(df.columns)}", path=path)
    df = df.copy()
    df["subject_id"] = df["subject_id"].astype(str).str.strip()
    df["group"] = df["group"].astype(str).str.strip()
    key = ["subject_id", "timepoint"] if "timepoint" in df.columns else ["subject_id"]
    dup = df[df.duplicated(key, keep=False)]
    if len(dup):
        raise CohortInputError(f"groups table lists {dup[key].drop_duplicates().to_dict('records')[:3]} more than "
                               "once; one row per subject (and timepoint) please", path=path)
    per_subject = df.groupby("subject_id")["group"].nunique()
    if (per_subject > 1).any():
        raise CohortInputError(f"subjects {list(per_subject[per_subject > 1].index[:3])} are in more than one group",
                               path=path)
    if df["group"].nunique() < 2:
        raise CohortInputError(f"a comparison needs at least two groups, got {sorted(df['group'].unique())}",
                               path=path)
    return df


def assign_subjects(results: pd.DataFrame, *, mapping: pd.DataFrame | None = None,
                    pattern: str | None = None) -> pd.DataFrame:
    """Add ``subject_id`` and ``timepoint`` to each results row.

    Sources, first that applies: the mapping table (by path), the path pattern, the
    results' own ``patient_id`` and ``timepoint`` (DICOM PatientID and
    ClinicalTrialTimePointID). A row without a timepoint gets ``"all"``.
    """
    df = results.copy()
    if "timepoint" not in df.columns:
        df["timepoint"] = pd.NA
    if mapping is not None:
        if not {"path", "subject_id"} <= set(mapping.columns):
            raise CohortInputError(f"mapping table needs columns path and subject_id, got {list(mapping.columns)}")
        m = mapping.astype({"path": str, "subject_id": str}).set_index("path")
        df["subject_id"] = df["path"].map(m["subject_id"])
        if "timepoint" in m.columns:
            df["timepoint"] = df["path"].map(m["timepoint"].astype(str)).fillna(df["timepoint"])
    elif pattern is not None:
        rx = re.compile(pattern)
        if "subject" not in rx.groupindex:
            raise CohortInputError(f"--pattern needs a named group (?P<subject>...), got {pattern!r}")
        found = df["path"].astype(str).map(lambda p: rx.search(p))
        df["subject_id"] = found.map(lambda m: m.group("subject") if m else None)
        if "timepoint" in rx.groupindex:
            df["timepoint"] = found.map(lambda m: m.group("timepoint") if m else None).fillna(df["timepoint"])
    else:
        df["subject_id"] = df["patient_id"]
    df["subject_id"] = df["subject_id"].astype("string").str.strip()
    df["timepoint"] = df["timepoint"].astype("string").fillna("all")
    return df


def order_timepoints(names: list[str], explicit: list[str] | None = None) -> list[str]:
    """Timepoints in study order: as given, else a baseline-like name first and the
    rest in natural order (``week2`` before ``week10``)."""
    names = list(dict.fromkeys(names))
    if explicit:
        unknown = set(names) - set(explicit)
        if unknown:
            raise CohortInputError(f"timepoints {sorted(unknown)} are not in the given order {explicit}")
        return [t for t in explicit if t in names]

    def key(name: str) -> tuple:
        parts = re.split(r"(\d+)", name)
        return (0 if _BASELINE.match(name) else 1, [int(p) if p.isdigit() else p.lower() for p in parts])

    return sorted(names, key=key)


def blind_groups(groups: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace group names by random codes (``A``, ``B``...).

    Returns:
        The coded groups table and the key (``code, group``) to keep apart until the
        analysis is locked.
    """
    names = sorted(groups["group"].unique())
    rng = np.random.default_rng(seed)
    codes = [chr(ord("A") + i) for i in rng.permutation(len(names))]
    key = pd.DataFrame({"code": codes, "group": names}).sort_values("code").reset_index(drop=True)
    coded = groups.copy()
    coded["group"] = coded["group"].map(dict(zip(names, codes)))
    return coded, key


def studies_as_rows(studies: pd.DataFrame) -> pd.DataFrame:
    """``studies.csv`` rows in the shape of ``results.csv`` rows, so that a cohort is compared
    on study-level values (one per study: biplane where A4C and A2C were paired). The
    study's A4C loop (else its A2C, PLAX, SAX loop or M-mode strip) stands for it in
    ``path``, so mappings and path patterns written for clips still find the subject.

    Raises:
        CohortInputError: the table has no ``method`` column (not a studies table).
    """
    if "method" not in studies.columns:
        raise CohortInputError(f"not a studies table (no method column); got columns {list(studies.columns)[:8]}")
    df = studies.copy()
    for col in ("path", "clip_id"):
        found = [f"{v}_{col}" for v in ("a4c", "a2c", "plax", "sax", "mmode") if f"{v}_{col}" in df.columns]
        if found:
            df[col] = df[found].bfill(axis=1).iloc[:, 0]
    # A study without an LVEF still counts when it has preclinical endpoints (a SAX loop's
    # FAC, an M-mode strip's FS).
    other = [c for c in ("fac_pct", "fs_pct") if c in df.columns]
    has_other = df[other].notna().any(axis=1) if other else pd.Series(False, index=df.index)
    df["status"] = np.where((df["method"] == "none") & ~has_other, "failed", "ok")
    df["qc_flags"] = df.get("qc_flags", pd.Series("", index=df.index)).fillna("")
    return df
