"""What a cohort comparison found (:class:`CohortReport`, made by
:func:`echoquant.cohort.compare.compare`) and how it is written: tables, JSON and a
self-contained HTML report with embedded PNG plots. The report owns the type, so the
comparison imports it and nothing here imports the comparison."""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from echoquant import __version__
from echoquant._files import atomic_path, atomic_write_bytes, atomic_write_text

__all__ = ["CURVE_POINTS", "CohortReport", "figure_pngs", "figures", "load_strain_curves", "primary_table",
           "render_html"]

CURVE_POINTS = 50
_LABELS = {"lvef_pct": "LVEF (%)", "gls_pct": "GLS (%)", "edv_ml": "EDV (mL)", "esv_ml": "ESV (mL)",
           "akinetic_extent_pct": "akinetic/dyskinetic extent (%)", "wmsi": "wall motion score index",
           "thinnest_wall_ed_mm": "thinnest ED wall (mm)", "fs_pct": "FS (%)",
           "lvef_teichholz_pct": "LVEF Teichholz, M-mode (%)", "lvidd_mm": "LVIDd (mm)", "lv_mass_mg": "LV mass (mg)",
           "lv_mass_g": "LV mass (g)", "fac_pct": "FAC, SAX (%)", "gcs_pct": "GCS, SAX (%)", "grs_pct": "GRS, SAX (%)",
           "lv_mass_mmode_mg": "LV mass, M-mode (mg)"}
# Endpoints plotted first (at most eight panels).
_FIGURE_FIRST = ("lvef_pct", "fs_pct", "fac_pct", "gcs_pct", "lv_mass_mg", "akinetic_extent_pct", "gls_pct",
                 "lvef_teichholz_pct", "wmsi", "edv_ml", "esv_ml")
# Segment positions of the six-segment model in contour order (names differ by view).
_POSITIONS = ("basal L", "mid L", "apical L", "apical R", "mid R", "basal R")
_ABNORMAL = {"hypokinetic": 0.35, "akinetic": 0.7, "dyskinetic": 1.0}  # bar shade per class



@dataclass
class CohortReport:
    """Everything :func:`compare` found.

    Attributes:
        stats: one row per endpoint, analysis, timepoint and group (:data:`STATS_COLUMNS`).
        subjects: per-subject (and timepoint) means with clip counts and group.
        excluded: clips left out, each with its reason.
        repeatability: ICC and CV per endpoint where subjects have repeated clips.
        design: groups, reference, timepoints, counts.
        curves: per-clip strain curves (resampled to 0-100 % of the cycle), if given.
    """

    stats: pd.DataFrame
    subjects: pd.DataFrame
    excluded: pd.DataFrame
    repeatability: pd.DataFrame
    design: dict[str, Any]
    clips: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    curves: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    review: dict[str, Any] | None = field(repr=False, default=None)

    def attach_review(self, summary: dict[str, Any], agreement: pd.DataFrame, unreviewed: CohortReport) -> None:
        """Record what an over-read changed: its counts, the readers' agreement and the
        primary effects computed without the review (shown beside the reviewed ones)."""
        cols = ["endpoint", "analysis", "timepoint", "group", "diff", "ci_low", "ci_high", "p_value"]
        merged = self.primary[cols].merge(unreviewed.primary[cols], on=["endpoint", "analysis", "timepoint", "group"],
                                          how="outer", suffixes=("", "_without_review"))
        self.review = {"summary": summary, "agreement": agreement, "effects": merged}

    @property
    def primary(self) -> pd.DataFrame:
        return self.stats[self.stats["primary"]]

    def to_dict(self) -> dict[str, Any]:
        def records(df: pd.DataFrame) -> list[dict]:
            return json.loads(df.to_json(orient="records"))

        out = {"echoquant_version": __version__, "design": self.design, "stats": records(self.stats),
               "excluded": records(self.excluded), "repeatability": records(self.repeatability)}
        if self.review is not None:
            out["review"] = {"summary": self.review["summary"], "agreement": records(self.review["agreement"]),
                             "effects": records(self.review["effects"])}
        return out

    def write(self, out_dir: str | Path, *, html: bool = True) -> list[Path]:
        """Write ``stats.csv``, ``stats.json``, ``subjects.csv``, ``excluded.csv``,
        ``report.html`` and its figures as ``figures/<name>.png`` into ``out_dir`` (each
        atomically)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, df in (("stats.csv", self.stats), ("subjects.csv", self.subjects), ("excluded.csv", self.excluded)):
            with atomic_path(out / name) as tmp:
                df.to_csv(tmp, index=False)
            written.append(out / name)
        atomic_write_text(out / "stats.json", json.dumps(self.to_dict(), indent=1))
        written.append(out / "stats.json")
        if html:
            pngs = figure_pngs(self)
            (out / "figures").mkdir(exist_ok=True)
            for name, png in pngs.items():
                atomic_write_bytes(out / "figures" / f"{name}.png", png)
                written.append(out / "figures" / f"{name}.png")
            atomic_write_text(out / "report.html", render_html(self, pngs))
            written.append(out / "report.html")
        return written


def load_strain_curves(results_csv: str | Path, results: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each clip's mean strain curve over its beats, resampled to 0-100 % of the
    tracked cycle, read from the ``clips/`` records next to ``results.csv``."""
    folder = Path(results_csv).parent / "clips"
    out = {}
    for _, row in results.iterrows():
        path = folder / f"{row.get('clip_id')}.json"
        if row.get("status") != "ok" or not path.is_file():
            continue
        curves = (json.loads(path.read_text()).get("result") or {}).get("curves", {})
        beats = [np.asarray(c, dtype=float) for c in curves.get("strain_pct", []) if c and len(c) >= 3]
        if beats:
            grid = np.linspace(0, 1, CURVE_POINTS)
            out[str(row["path"])] = np.mean([np.interp(grid, np.linspace(0, 1, len(b)), b) for b in beats], axis=0)
    return out


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def figure_pngs(report: CohortReport) -> dict[str, bytes]:
    """The report's figures (:func:`figures`) as PNG bytes by name."""
    return {name: _png(fig) for name, fig in figures(report).items()}


def _points_and_boxes(report: CohortReport):
    import matplotlib.pyplot as plt

    global_eps = [e for e in report.design["endpoints"] if not e.startswith("regional_")]
    eps = ([e for e in _FIGURE_FIRST if e in global_eps] + [e for e in global_eps if e not in _FIGURE_FIRST])[:8]
    tps, groups = report.design["timepoints"], report.design["groups"]
    cols = min(4, len(eps))
    rows = -(-len(eps) // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.6 * rows), squeeze=False)
    for ax in grid.ravel()[len(eps):]:
        ax.set_visible(False)
    axes = [grid.ravel()[: len(eps)]]
    rng = np.random.default_rng(0)  # jitter only; fixed so that the picture is reproducible
    colors = plt.get_cmap("tab10")
    for ax, e in zip(axes[0], eps):
        pos, ticks = 0, []
        for t in tps:
            for gi, g in enumerate(groups):
                v = report.subjects.loc[(report.subjects["timepoint"] == t) & (report.subjects["group"] == g), e]
                v = v.dropna().to_numpy(float)
                if len(v):
                    ax.boxplot([v], positions=[pos], widths=0.6, showfliers=False)
                    ax.scatter(pos + rng.uniform(-0.15, 0.15, len(v)), v, s=14, color=colors(gi), alpha=0.8,
                               label=g if t == tps[0] else None)
                ticks.append((pos, f"{g}\n{t}" if len(tps) > 1 else g))
                pos += 1
            pos += 0.6
        ax.set_xticks([p for p, _ in ticks], [n for _, n in ticks], fontsize=7)
        ax.set_title(_LABELS.get(e, e), fontsize=10)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _strain_curves(report: CohortReport):
    import matplotlib.pyplot as plt

    tps, groups = report.design["timepoints"], report.design["groups"]
    fig, axes = plt.subplots(1, len(tps), figsize=(4.2 * len(tps), 3.4), squeeze=False, sharey=True)
    clips = report.clips
    grid = np.linspace(0, 100, CURVE_POINTS)
    for ax, t in zip(axes[0], tps):
        for gi, g in enumerate(groups):
            paths = clips.loc[(clips["timepoint"] == t) & clips["subject_id"].isin(
                report.subjects.loc[report.subjects["group"] == g, "subject_id"]), "path"]
            c = np.array([report.curves[p] for p in paths.astype(str) if p in report.curves])
            if len(c):
                m, s = c.mean(axis=0), c.std(axis=0, ddof=1) if len(c) > 1 else np.zeros(CURVE_POINTS)
                ax.plot(grid, m, color=plt.get_cmap("tab10")(gi), label=f"{g} (n={len(c)} clips)")
                ax.fill_between(grid, m - s, m + s, color=plt.get_cmap("tab10")(gi), alpha=0.2)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(f"longitudinal strain, {t}", fontsize=10)
        ax.set_xlabel("% of tracked cycle (from ED)")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("strain (%), mean ± SD")
    fig.tight_layout()
    return fig


def _segment_classes(report: CohortReport):
    """Per segment position, group and timepoint: the share of clips whose segment was
    scored hypokinetic, akinetic or dyskinetic (stacked), from ``wall_motion_classes``."""
    import matplotlib.pyplot as plt

    tps, groups = report.design["timepoints"], report.design["groups"]
    clips = report.clips
    # Segment names of the loops scored (SAX: anterior...; else screen positions of a long axis).
    names = clips.get("regional_segments", pd.Series(dtype=object)).dropna().astype(str).str.split(";")
    labels = names.iloc[0] if len(names) and names.map(tuple).nunique() == 1 and len(names.iloc[0]) == 6 \
        else list(_POSITIONS)
    fig, axes = plt.subplots(1, len(tps), figsize=(5.0 * len(tps), 3.4), squeeze=False, sharey=True)
    width = 0.8 / max(len(groups), 1)
    for ax, t in zip(axes[0], tps):
        for gi, g in enumerate(groups):
            members = report.subjects.loc[report.subjects["group"] == g, "subject_id"]
            cells = clips.loc[(clips["timepoint"] == t) & clips["subject_id"].isin(members), "wall_motion_classes"]
            classes = [str(c).split(";") for c in cells.dropna() if len(str(c).split(";")) == len(_POSITIONS)]
            x = np.arange(len(_POSITIONS)) + (gi - (len(groups) - 1) / 2) * width
            bottom = np.zeros(len(_POSITIONS))
            for cls, shade in _ABNORMAL.items():
                share = np.array([100.0 * np.mean([c[k] == cls for c in classes]) if classes else 0.0
                                  for k in range(len(_POSITIONS))])
                ax.bar(x, share, width, bottom=bottom, color=plt.get_cmap("tab10")(gi), alpha=shade,
                       label=f"{g}: {cls} (n={len(classes)})" if t == tps[0] else None, edgecolor="white", lw=0.3)
                bottom += share
        ax.set_xticks(np.arange(len(_POSITIONS)), labels, fontsize=6, rotation=30)
        ax.set_title(f"abnormal wall motion by segment, {t}", fontsize=10)
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("% of clips (hypo / akinetic / dyskinetic)")
    axes[0][0].legend(fontsize=6, ncol=len(groups))
    fig.tight_layout()
    return fig


def _lvef_vs_gls(report: CohortReport):
    import matplotlib.pyplot as plt

    s = report.subjects
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    markers = "osD^v"
    for gi, g in enumerate(report.design["groups"]):
        for ti, t in enumerate(report.design["timepoints"]):
            d = s[(s["group"] == g) & (s["timepoint"] == t)]
            if {"lvef_pct", "gls_pct"} <= set(d.columns) and len(d):
                ax.scatter(d["gls_pct"], d["lvef_pct"], color=plt.get_cmap("tab10")(gi),
                           marker=markers[ti % len(markers)], s=18, label=f"{g}, {t}")
    ax.set_xlabel("GLS (%)")
    ax.set_ylabel("LVEF (%)")
    ax.set_title("LVEF against GLS (per subject)", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figures(report: CohortReport) -> dict[str, object]:
    """The report's matplotlib figures by name (also used for the docs screenshot)."""
    import matplotlib

    matplotlib.use("Agg")
    figs = {"endpoints": _points_and_boxes(report)}
    if report.curves:
        figs["strain_curves"] = _strain_curves(report)
    if {"lvef_pct", "gls_pct"} <= set(report.design["endpoints"]):
        figs["lvef_vs_gls"] = _lvef_vs_gls(report)
    if "wall_motion_classes" in report.clips.columns and report.clips["wall_motion_classes"].notna().any():
        figs["wall_motion_by_segment"] = _segment_classes(report)
    return figs


def _fmt(v: object) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA:
        return "–"
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}" if abs(v) < 1e-3 else f"{v:.3f}".rstrip("0").rstrip(".")
    return html.escape(str(v))


def _table(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    if df.empty:
        return "<p><em>none</em></p>"
    cols = columns or list(df.columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r[c])}</td>" for c in cols) + "</tr>" for _, r in df.iterrows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 6px;
text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}img{max-width:100%}
.note{background:#fff8e1;padding:0.6em;border-left:4px solid #f0b400}"""


def _clip_intervals(clips: pd.DataFrame, subjects: pd.DataFrame) -> str:
    """Per-clip LVEF and GLS with their 95 % intervals (results.csv ``*_ci_low/high``), so a
    reader sees which clips measure tightly; empty when the results have no interval columns."""
    pairs = [(v, f"{n}_ci_low", f"{n}_ci_high") for v, n in (("lvef_pct", "lvef"), ("gls_pct", "gls"))]
    pairs = [p for p in pairs if set(p) <= set(clips.columns)]
    if clips.empty or not pairs or not {"path", "subject_id"} <= set(clips.columns):
        return ""
    # Groups were joined per subject after blind measurement: take them from there.
    group_of = subjects.drop_duplicates("subject_id").set_index("subject_id")["group"] if len(subjects) else {}
    out = pd.DataFrame({"clip": clips["path"].map(lambda x: Path(str(x)).name), "subject": clips["subject_id"],
                        "group": clips["subject_id"].map(group_of), "timepoint": clips.get("timepoint")})
    for value, lo, hi in pairs:
        out[value] = clips[value]
        out[f"{value} 95% interval"] = [
            "–" if pd.isna(a) or pd.isna(b) else f"{a:.1f} – {b:.1f}" for a, b in zip(clips[lo], clips[hi])]
    out = out.sort_values(["group", "subject", "timepoint"], na_position="last")
    return ("<h2>Clips with their 95% intervals</h2><p>Each clip's interval combines beat-to-beat spread and "
            "segmentation uncertainty (docs/qc.md).</p>" + _table(out))


def _level_sentence(level: str) -> str:
    if level == "study":
        return ("Values are study-level (studies.csv): LVEF and volumes by the biplane method of disks from each "
                "study's best apical 4- and 2-chamber loops, single plane where a study lacks one of them (the "
                "method column says which); GLS is the mean of the two views. Parasternal (preclinical) studies: "
                "LVEF and volumes by the bullet method (5/6 x short-axis area x long-axis length, at ED and ES) from "
                "the PLAX and SAX loops, LV mass by the area-length method (1.05 mg/mm3), FAC, GCS and GRS from the "
                "SAX loop, FS from the M-mode strip (else the SAX loop), the PLAX loop's single-plane values where "
                "a SAX loop is missing.")
    return "Values are per clip (single-plane method of disks from each loop, results.csv)."


def _review_section(review: dict[str, Any] | None) -> str:
    """The over-read: counts, effects with and without it, inter-reader agreement."""
    if review is None:
        return ('<p class="note">No over-read: these are the automated values as analysed (run '
                '<code>echoquant review OUT</code> to accept, exclude or correct clips first).</p>')
    s = review["summary"]
    reasons = "; ".join(f"{html.escape(k)}: {v}" for k, v in s["excluded_by_reason"].items()) or "none"
    readers = ", ".join(map(html.escape, s["reviewers"])) or "none"
    agreement = review["agreement"]
    agree = ("<p>One reader: no inter-reader agreement.</p>" if agreement is None or agreement.empty else
             "<h3>Inter-reader agreement (clips both readers kept)</h3>" + _table(agreement))
    return f"""<h2>Over-read (echoquant review)</h2>
<p>Values after a reader's review (<code>review/reviewed.csv</code>; readers: {readers}): {s['n_reviewed']} of
{s['n_clips']} clips reviewed, {s['n_accepted']} accepted, {s['n_edited']} edited (re-measured by the same code
with the reader's ED/ES frames or contours), {s['n_excluded']} excluded (by reason: {reasons});
{s['n_stale']} decisions are stale (their input changed since). Primary effects with the review and, beside them,
without it:</p>{_table(review['effects'])}{agree}"""


def render_html(report: CohortReport, pngs: dict[str, bytes] | None = None) -> str:
    """The whole report as one HTML string with plots embedded as base64 PNG
    (``pngs`` from :func:`figure_pngs`, made here when not given)."""
    d = report.design
    key_cols = ["endpoint", "analysis", "timepoint", "group", "reference", "n", "ref_n", "mean", "ref_mean",
                "diff", "ci_low", "ci_high", "p_value", "p_holm", "test", "hedges_g", "n_per_group_80pct_power",
                "withheld"]
    pngs = figure_pngs(report) if pngs is None else pngs
    imgs = "".join(f'<h3>{html.escape(name.replace("_", " "))}</h3>'
                   f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">' for name, png in pngs.items())
    n_subj = ", ".join(f"{html.escape(g)}: {n}" for g, n in d["n_subjects"].items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>echoquant cohort report</title>
<style>{_CSS}</style></head><body>
<h1>Cohort comparison</h1>
<p>Groups {', '.join(map(html.escape, d['groups']))} (reference <b>{html.escape(d['reference'])}</b>);
subjects per group {n_subj}; timepoints {', '.join(map(html.escape, d['timepoints']))};
{d['n_clips_analysed']} clips analysed, {d['n_clips_excluded']} excluded (listed below).
Primary analysis: <b>{html.escape(d['primary_analysis'])}</b>.</p>
<p class="note">Methods. Measurements were made blind to group (echoquant analyze never reads group labels);
groups were joined afterwards. {_level_sentence(d.get("level", "clip"))} Clips failing QC were excluded. Values are
means of each subject's clips (or studies) per timepoint. Between groups: Welch's t-test (unequal variances) with the 95% CI of the difference of means,
Mann-Whitney U, Hedges' g with a percentile bootstrap CI. With a baseline: change from baseline (Welch) and
ANCOVA (follow-up ~ group + baseline, OLS). With three or more timepoints: linear mixed model value ~ group ×
time with a random intercept per subject (REML). Holm correction across endpoints within each analysis.
n per group for 80% power at the observed Hedges' g (two-sided α = 0.05). An effect whose 95% CI is wider
than the endpoint's whole scale (100 points for a percentage, 40 for a strain, twice the mean for a volume or
mass) is not reported: its row says why under "withheld". Wall motion: each segment is scored
normal, hypokinetic, akinetic or dyskinetic from its strain, inward excursion and wall thickening (ASE scale);
the akinetic/dyskinetic extent is the end-diastolic length of akinetic or dyskinetic segments as % of the
assessable endocardium, a surrogate of infarct size.</p>
<h2>Primary results</h2>{_table(report.primary, key_cols)}
{_review_section(report.review)}
<h2>Plots</h2>{imgs}
<h2>All comparisons</h2>{_table(report.stats, key_cols + ['p_mannwhitney', 'hedges_g_ci_low', 'hedges_g_ci_high'])}
<h2>Repeatability (repeated clips of one subject and timepoint)</h2>{_table(report.repeatability)}
{_clip_intervals(report.clips, report.subjects)}
<h2>Excluded clips</h2>{_table(report.excluded)}
<p><small>echoquant {__version__}</small></p></body></html>"""


def primary_table(report: CohortReport):  # noqa: ANN201 - a rich Table
    """The primary analysis (global endpoints) as a rich table for the console."""
    from rich.table import Table

    def num(v: object, spec: str = ".3g") -> str:
        return "–" if v is None or pd.isna(v) else format(v, spec)

    table = Table(title=f"primary analysis: {report.design['primary_analysis']} vs {report.design['reference']}")
    for col in ("endpoint", "timepoint", "group", "n", "diff [95% CI]", "p", "p (Holm)"):
        table.add_column(col)
    for _, r in report.primary.iterrows():
        if str(r["endpoint"]).startswith("regional_"):
            continue
        ci = "–" if num(r["diff"]) == "–" else f"{num(r['diff'])} [{num(r['ci_low'])}, {num(r['ci_high'])}]"
        if isinstance(r.get("withheld"), str) and r["withheld"]:
            ci = "withheld: CI wider than the scale"
        table.add_row(str(r["endpoint"]), str(r["timepoint"]), str(r["group"]), f"{r['n']}/{r['ref_n']}", ci,
                      num(r["p_value"]), num(r["p_holm"]))
    return table
