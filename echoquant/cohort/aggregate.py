"""From clips to subjects: QC exclusion (listed, never silent) and per-subject means."""

from __future__ import annotations

import pandas as pd

__all__ = ["ENDPOINTS", "endpoints_in", "exclude", "per_subject"]

# Endpoints compared by default (those with values); regional strain columns are added
# when present. The wall-motion endpoints (issue 19) measure infarct extent and
# remodelling: the ED length of akinetic or dyskinetic wall, the wall motion score index
# and the thinnest wall.
ENDPOINTS = ("lvef_pct", "gls_pct", "edv_ml", "esv_ml", "akinetic_extent_pct", "wmsi", "thinnest_wall_ed_mm",
             # M-mode (issue 18): the preclinical standard endpoints, beside B-mode LVEF (the
             # other M-mode columns, e.g. lvids_mm, ivsd_mm, can be asked for by name)
             "fs_pct", "lvef_teichholz_pct", "lvidd_mm", "lv_mass_mg", "lv_mass_g",
             # Parasternal 2-D (issue 33): short-axis FAC and strains; with studies.csv,
             # lvef_pct is the bullet LVEF and lv_mass_mg the area-length mass
             "fac_pct", "gcs_pct", "grs_pct", "lv_mass_mmode_mg")


def endpoints_in(df: pd.DataFrame, requested: list[str] | None = None) -> list[str]:
    """Endpoints with at least one value in ``df`` (the requested ones, or the default
    :data:`ENDPOINTS` plus any regional strain columns)."""
    if requested:
        missing = [e for e in requested if e not in df.columns]
        if missing:
            raise ValueError(f"endpoints {missing} are not columns of the results table")
        return requested
    cols = list(ENDPOINTS) + sorted(c for c in df.columns if c.startswith("regional_strain_") and c.endswith("_pct"))
    return [c for c in cols if c in df.columns and pd.to_numeric(df[c], errors="coerce").notna().any()]


def exclude(clips: pd.DataFrame, groups: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split clips into analysed and excluded (with the reason for each).

    A clip is excluded when it failed or was skipped, a reviewer excluded it
    (``review_status`` of ``review/reviewed.csv``), it failed QC, has no subject, or its
    subject is not in the groups table.
    """
    reasons = pd.Series("", index=clips.index, dtype="string")
    status = clips.get("status", pd.Series("ok", index=clips.index)).astype("string")
    reasons[status != "ok"] = "status " + status[status != "ok"].fillna("")
    if "review_status" in clips.columns:  # an over-read (echoquant review) excluded it
        by_reader = (clips["review_status"].astype("string") == "excluded").fillna(False) & (reasons == "")
        why = clips.get("review_reason", pd.Series("", index=clips.index)).astype("string").fillna("")
        reasons[by_reader] = "excluded by reviewer (" + why[by_reader] + ")"
    qc = clips.get("qc_pass", pd.Series(True, index=clips.index)).astype("boolean").fillna(False)
    flags = clips.get("qc_flags", pd.Series("", index=clips.index)).astype("string").fillna("")
    reasons[(reasons == "") & ~qc] = "failed QC (" + flags[(reasons == "") & ~qc] + ")"
    no_subject = clips["subject_id"].isna() | (clips["subject_id"] == "")
    reasons[(reasons == "") & no_subject] = "no subject id (PatientID, mapping or pattern)"
    unknown = ~clips["subject_id"].isin(set(groups["subject_id"]))
    reasons[(reasons == "") & unknown] = "subject not in the groups table"
    keep = reasons == ""
    excluded = clips.loc[~keep, ["path", "subject_id", "timepoint"]].assign(reason=reasons[~keep])
    return clips.loc[keep], excluded.reset_index(drop=True)


def per_subject(clips: pd.DataFrame, groups: pd.DataFrame, endpoints: list[str]) -> pd.DataFrame:
    """Mean of each endpoint over a subject's clips at each timepoint, with the count
    of clips behind every mean (``n_clips_<endpoint>``), joined to the groups."""
    values = clips[["subject_id", "timepoint", *endpoints]].copy()
    for e in endpoints:
        values[e] = pd.to_numeric(values[e], errors="coerce")
    grouped = values.groupby(["subject_id", "timepoint"], sort=True)
    means = grouped[endpoints].mean()
    counts = grouped[endpoints].count().add_prefix("n_clips_")
    subjects = pd.concat([means, counts], axis=1).reset_index()
    on = ["subject_id", "timepoint"] if "timepoint" in groups.columns else ["subject_id"]
    covariates = groups.copy()
    if "timepoint" in covariates.columns:
        covariates["timepoint"] = covariates["timepoint"].astype("string")
        subjects["timepoint"] = subjects["timepoint"].astype("string")
    return subjects.merge(covariates, on=on, how="inner")
