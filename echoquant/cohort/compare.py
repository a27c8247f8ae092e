"""Treated-versus-control comparison of a results table: :func:`compare`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from echoquant.cohort.aggregate import endpoints_in, exclude, per_subject
from echoquant.cohort.design import CohortInputError, assign_subjects, check_groups, order_timepoints
from echoquant.cohort.report import CohortReport
from echoquant.cohort.stats import ancova, describe, holm, icc_oneway, meaningless_interval, mixed_model, two_groups

__all__ = ["STATS_COLUMNS", "CohortReport", "compare"]

STATS_COLUMNS = [
    "endpoint", "analysis", "timepoint", "group", "reference", "n", "ref_n", "mean", "ref_mean", "sd", "ref_sd",
    "median", "ref_median", "q1", "q3", "ref_q1", "ref_q3", "diff", "ci_low", "ci_high", "p_value", "test",
    "p_mannwhitney", "hedges_g", "hedges_g_ci_low", "hedges_g_ci_high", "p_holm", "n_per_group_80pct_power",
    "primary",
    # Added with issue 32: why an effect is not reported (its interval is wider than the
    # endpoint's scale: echoquant.cohort.stats.meaningless_interval); diff, CI and p are
    # then empty.
    "withheld",
]


def _reference(groups: list[str], reference: str | None) -> str:
    if reference is not None:
        if reference not in groups:
            raise CohortInputError(f"reference group {reference!r} is not among the groups {groups}")
        return reference
    for name in groups:
        if name.lower() in ("control", "controls", "placebo", "vehicle", "sham", "saline"):
            return name
    return sorted(groups)[0]


def _described(x: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    a, b = describe(x), describe(ref)
    return {"n": a["n"], "ref_n": b["n"], "mean": a["mean"], "ref_mean": b["mean"], "sd": a["sd"],
            "ref_sd": b["sd"], "median": a["median"], "ref_median": b["median"], "q1": a["q1"], "q3": a["q3"],
            "ref_q1": b["q1"], "ref_q3": b["q3"]}


def _between(subjects: pd.DataFrame, e: str, timepoints: list[str], others: list[str], ref: str,
             n_boot: int, seed: int) -> list[dict]:
    rows = []
    for t in timepoints:
        at = subjects[subjects["timepoint"] == t]
        r = at.loc[at["group"] == ref, e].to_numpy(float)
        for g in others:
            x = at.loc[at["group"] == g, e].to_numpy(float)
            rows.append({"endpoint": e, "analysis": "between_groups", "timepoint": t, "group": g, "reference": ref,
                         **_described(x, r), **two_groups(x, r, n_boot=n_boot, seed=seed)})
    return rows


def _longitudinal(subjects: pd.DataFrame, e: str, timepoints: list[str], others: list[str], ref: str,
                  n_boot: int, seed: int) -> list[dict]:
    wide = subjects.pivot_table(index=["subject_id", "group"], columns="timepoint", values=e).reset_index()
    base = timepoints[0]
    rows = []
    for t in timepoints[1:]:
        if t not in wide or base not in wide:
            continue
        pair = wide.dropna(subset=[base, t])
        change = pair[t] - pair[base]
        for g in others:
            x, r = change[pair["group"] == g].to_numpy(float), change[pair["group"] == ref].to_numpy(float)
            rows.append({"endpoint": e, "analysis": "change_from_baseline", "timepoint": t, "group": g,
                         "reference": ref, **_described(x, r), **two_groups(x, r, n_boot=n_boot, seed=seed)})
            follow = pair.rename(columns={t: "follow", base: "baseline"})
            xf, rf = (follow.loc[follow["group"] == k, "follow"].to_numpy(float) for k in (g, ref))
            rows.append({"endpoint": e, "analysis": "ancova", "timepoint": t, "group": g, "reference": ref,
                         **_described(xf, rf), **ancova(follow, g, ref)})
    if len(timepoints) >= 3:
        long = subjects[["subject_id", "group", "timepoint", e]].rename(columns={e: "value"})
        for m in mixed_model(long, ref, timepoints):
            if "note" in m:
                continue
            at = subjects[subjects["timepoint"] == m["timepoint"]]
            x, r = (at.loc[at["group"] == k, e].to_numpy(float) for k in (m["group"], ref))
            rows.append({"endpoint": e, "analysis": "mixed_model", "reference": ref, **_described(x, r),
                         **{k: v for k, v in m.items() if k != "converged"}})
    return rows


def _withhold(stats: pd.DataFrame, levels: dict[str, float]) -> pd.DataFrame:
    """Empty the effect of every row whose interval is meaningless, saying why
    (``levels``: each endpoint's mean over all subjects, its scale when it has no fixed one)."""
    stats["withheld"] = None
    for i, r in stats.iterrows():
        reason = meaningless_interval(r["endpoint"], r["ci_low"], r["ci_high"], levels.get(r["endpoint"]))
        if reason:
            stats.loc[i, ["diff", "ci_low", "ci_high", "p_value", "p_mannwhitney", "hedges_g", "hedges_g_ci_low",
                          "hedges_g_ci_high"]] = None
            stats.loc[i, "withheld"] = reason
    return stats


def _mark(stats: pd.DataFrame, n_timepoints: int, levels: dict[str, float]) -> pd.DataFrame:
    """Withhold meaningless effects; Holm across endpoints within each analysis, timepoint
    and group; mark primary rows."""
    stats = _withhold(stats, levels)
    stats["p_holm"] = None
    for _, idx in stats.groupby(["analysis", "timepoint", "group"], dropna=False).groups.items():
        stats.loc[idx, "p_holm"] = holm(list(stats.loc[idx, "p_value"]))
    primary = "ancova" if n_timepoints >= 2 else "between_groups"
    stats["primary"] = stats["analysis"] == primary
    return stats


def _repeatability(clips: pd.DataFrame, endpoints: list[str]) -> pd.DataFrame:
    rows = []
    unit = clips["subject_id"].astype(str) + "|" + clips["timepoint"].astype(str)
    for e in endpoints:
        r = icc_oneway(pd.DataFrame({"unit": unit, "value": pd.to_numeric(clips[e], errors="coerce")}))
        if r["icc"] is not None:
            rows.append({"endpoint": e, **r})
    return pd.DataFrame(rows, columns=["endpoint", "icc", "cv_pct", "n_units"])


def compare(results: pd.DataFrame, groups: pd.DataFrame, *, mapping: pd.DataFrame | None = None,
            pattern: str | None = None, reference: str | None = None, endpoints: list[str] | None = None,
            timepoints: list[str] | None = None, n_boot: int = 2000, seed: int = 0,
            curves: dict[str, np.ndarray] | None = None, level: str = "clip") -> CohortReport:
    """Compare groups on every endpoint.

    Clips are matched to subjects (see :func:`~echoquant.cohort.design.assign_subjects`),
    QC failures and unmatched clips excluded and listed, clips averaged per subject
    and timepoint, and then per endpoint: descriptives, Welch's t-test and
    Mann-Whitney, Hedges' g (bootstrap CI) at each timepoint; with a baseline, the
    change from baseline and ANCOVA (follow-up ~ group + baseline, the primary
    analysis); with three or more timepoints, a linear mixed model (group x time,
    random intercept per subject). Holm correction across endpoints.

    Args:
        results: ``results.csv`` rows of ``echoquant analyze``.
        groups: ``subject_id, group`` (+ optional ``timepoint`` and covariates).
        mapping, pattern: other ways to find each clip's subject (and timepoint).
        reference: the control group (default: a group named control/placebo/
            vehicle/sham, else the first by name).
        endpoints: columns to compare (default LVEF, GLS, EDV, ESV, regional strain).
        timepoints: study order of the timepoints (default: baseline-like first).
        n_boot: bootstrap resamples for the CI of Hedges' g (0 = none).
        seed: bootstrap seed (same seed, same numbers).
        curves: per-clip strain curves keyed by path, for the report's plot.
        level: ``"clip"`` (rows of ``results.csv``) or ``"study"`` (rows of
            ``studies.csv`` through :func:`~echoquant.cohort.design.studies_as_rows`);
            said in the report's methods paragraph.

    Returns:
        A :class:`CohortReport`.
    """
    groups = check_groups(groups)
    if "path" not in results.columns:
        raise CohortInputError(f"results table has no path column; pass results.csv of `echoquant analyze`, got "
                               f"columns {list(results.columns)[:8]}")
    # skipped files (side-cars, SR, DICOMDIR) were never loops: not clips, not exclusions
    status = results["status"] if "status" in results.columns else pd.Series("ok", index=results.index)
    n_skipped = int((status == "skipped").sum())
    clips = assign_subjects(results[status != "skipped"], mapping=mapping, pattern=pattern)
    clips, excluded = exclude(clips, groups)
    if clips.empty:
        raise CohortInputError("no clip is left after QC and matching to subjects; see the excluded list "
                               f"({len(excluded)} clips): {excluded['reason'].value_counts().to_dict()}")
    eps = endpoints_in(clips, endpoints)
    subjects = per_subject(clips, groups, eps)
    tps = order_timepoints(list(subjects["timepoint"].unique()), timepoints)
    names = sorted(subjects["group"].unique())
    ref = _reference(names, reference)
    others = [g for g in names if g != ref]
    rows = []
    for e in eps:
        rows += _between(subjects, e, tps, others, ref, n_boot, seed)
        if len(tps) >= 2:
            rows += _longitudinal(subjects, e, tps, others, ref, n_boot, seed)
    levels = {e: float(pd.to_numeric(subjects[e], errors="coerce").mean()) for e in eps}
    stats = _mark(pd.DataFrame(rows, columns=[c for c in STATS_COLUMNS if c not in ("p_holm", "primary", "withheld")]),
                  len(tps), levels)
    design = {"groups": names, "reference": ref, "timepoints": tps, "endpoints": eps,
              "n_subjects": {g: int(subjects.loc[subjects["group"] == g, "subject_id"].nunique()) for g in names},
              "n_clips_analysed": int(len(clips)), "n_clips_excluded": int(len(excluded)),
              "n_files_skipped": n_skipped,
              "primary_analysis": "ancova" if len(tps) >= 2 else "between_groups (Welch)", "level": level}
    return CohortReport(stats[STATS_COLUMNS], subjects, excluded, _repeatability(clips, eps), design, clips,
                        curves or {})
