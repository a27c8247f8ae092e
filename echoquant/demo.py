"""``echoquant demo``: a synthetic preclinical study, end to end.

1. generate a treated-versus-control mouse infarct study (baseline and week 4) as
   DICOM: per mouse and timepoint a parasternal long-axis (PLAX) and a short-axis (SAX)
   loop of the same heart and an M-mode screen, with the group labels kept apart in
   ``data/groups.csv``;
2. analyse every loop blind (``echoquant analyze``), one study per mouse and timepoint
   (``studies.csv``: bullet LVEF and volumes, area-length LV mass, FAC, GCS, FS);
3. join the groups and compare the studies (``echoquant compare``);
4. check the measurements and the treatment effects against the generator's truth.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from echoquant.batch import BatchOptions, analyze
from echoquant.cohort import compare, read_groups
from echoquant.cohort.design import studies_as_rows
from echoquant.cohort.report import load_strain_curves, primary_table
from echoquant.synth import DEMO_COHORT, write_cohort

__all__ = ["effect_check", "run_demo", "true_studies", "truth_check"]


def truth_check(results: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Measured against true values per clip (synthetic data only)."""
    t = truth.assign(path_name=truth["file"].map(lambda f: Path(f).name))
    r = results.assign(path_name=results["path"].map(lambda p: Path(str(p)).name))
    m = r.merge(t, on="path_name", suffixes=("", "_true"))
    rows = []
    for e in ("lvef_pct", "gls_pct", "edv_ml", "esv_ml", "akinetic_extent_pct", "wmsi", "fs_pct", "lvef_teichholz_pct",
              "lvidd_mm", "fac_pct", "gcs_pct", "eda_mm2", "esa_mm2", "lv_length_mm"):
        if f"{e}_true" not in m.columns:
            continue
        ok = m[[e, f"{e}_true"]].apply(pd.to_numeric, errors="coerce").dropna()
        err = ok[e] - ok[f"{e}_true"]
        rows.append({"endpoint": e, "n": len(ok), "mae": float(err.abs().mean()) if len(ok) else None,
                     "bias": float(err.mean()) if len(ok) else None,
                     "r": float(np.corrcoef(ok[e], ok[f"{e}_true"])[0, 1]) if len(ok) > 2 else None})
    return pd.DataFrame(rows)


def true_studies(truth: pd.DataFrame) -> pd.DataFrame:
    """Study rows (one per subject and timepoint) of the generator's truth: the bullet
    LVEF and area-length mass on the true SAX areas and PLAX lengths, FAC and GCS of the
    SAX loop, M-mode FS, in the shape :func:`~echoquant.cohort.compare` takes."""
    from echoquant.quant.bullet import area_length_mass_mg, bullet_volume_ml

    rows = []
    for (subject, tp), g in truth.groupby(["subject_id", "timepoint"]):
        plax, sax = g[g["view"] == "PLAX"].head(1), g[g["view"] == "SAX"].head(1)
        row = {"path": f"{subject}_{tp}", "status": "ok", "qc_pass": True, "patient_id": subject, "timepoint": tp}
        if len(plax) and len(sax) and "eda_mm2" in g.columns:
            p, x = plax.iloc[0], sax.iloc[0]
            edv, esv = bullet_volume_ml(x["eda_mm2"], p["lv_length_mm"]), bullet_volume_ml(x["esa_mm2"], p["lv_length_es_mm"])
            row.update(lvef_pct=100 * (edv - esv) / edv, fac_pct=x["fac_pct"], gcs_pct=x["gcs_pct"],
                       lv_mass_mg=area_length_mass_mg(x["epi_eda_mm2"], x["eda_mm2"], p["lv_length_mm"]))
        rows.append(row)
    return pd.DataFrame(rows)


def effect_check(report, truth: pd.DataFrame, groups: pd.DataFrame, seed: int,  # noqa: ANN001
                 endpoints: tuple[str, ...] = ("lvef_pct", "fac_pct", "gcs_pct", "lv_mass_mg")) -> pd.DataFrame:
    """The primary effect of each endpoint as measured beside the same analysis of the
    true values (the generated treatment effect)."""
    true_rows = true_studies(truth)
    true_report = compare(true_rows, groups, seed=seed, n_boot=0,
                          endpoints=[e for e in endpoints if e in true_rows.columns], level="study")
    rows = []
    for e in endpoints:
        m = report.primary[report.primary["endpoint"] == e]
        t = true_report.primary[true_report.primary["endpoint"] == e]
        if m.empty or t.empty:
            continue
        rows.append({"endpoint": e, "measured": float(m["diff"].iloc[0]), "ci_low": float(m["ci_low"].iloc[0]),
                     "ci_high": float(m["ci_high"].iloc[0]), "p_value": float(m["p_value"].iloc[0]),
                     "true": float(t["diff"].iloc[0])})
    return pd.DataFrame(rows, columns=["endpoint", "measured", "ci_low", "ci_high", "p_value", "true"])


def run_demo(output: str | Path, *, n_per_group: int = 10, seed: int = 0, workers: int = 2,
             console: Console | None = None) -> Path:
    """Run the demo into ``output``; returns the path of ``report.html``."""
    console = console or Console(stderr=True)
    out = Path(output)
    spec = replace(DEMO_COHORT, groups=tuple(replace(g, n_subjects=n_per_group) for g in DEMO_COHORT.groups))
    data = out / "data"
    if not (data / "truth.csv").is_file():
        console.print(f"[bold]1/3[/bold] generating {2 * n_per_group} mice x {len(spec.timepoints)} timepoints "
                      f"(synthetic DICOM) into {data}")
        write_cohort(data, spec, seed=seed, workers=workers)
    console.print("[bold]2/3[/bold] analysing blind (no group labels are read)")
    analysis = out / "analysis"
    # one decoding process beside the analysing one (the demo's target is a 2-core laptop)
    options = BatchOptions(resume=(analysis / "clips").is_dir(), workers=1 if workers > 1 else 0)
    # the DICOM files only: the generator's label and truth side-cars stay out of the table
    summary = analyze(sorted((data / "dicom").glob("*.dcm")), analysis, options=options)
    console.print(f"    {summary.count('ok')} ok, {summary.n_failed} failed in {summary.elapsed_s:.0f} s")
    console.print("[bold]3/3[/bold] unblinding and comparing groups")
    dtypes = {"patient_id": str, "timepoint": str}
    results = pd.read_csv(analysis / "results.csv", dtype=dtypes)
    studies = studies_as_rows(pd.read_csv(analysis / "studies.csv", dtype=dtypes))
    groups = read_groups(data / "groups.csv")
    report = compare(studies, groups, seed=seed, curves=load_strain_curves(analysis / "results.csv", results),
                     level="study")
    report.write(out / "report")
    truth = pd.read_csv(data / "truth.csv")
    if (data / "truth_mmode.csv").is_file():
        truth = pd.concat([truth, pd.read_csv(data / "truth_mmode.csv")], ignore_index=True)
    check = truth_check(results, truth)
    effects = effect_check(report, truth, groups, seed)
    check.to_csv(out / "report" / "truth_check.csv", index=False)
    effects.to_csv(out / "report" / "effect_check.csv", index=False)
    console.print(primary_table(report))
    console.print("measured vs true per loop (synthetic ground truth):")
    for _, r in check.iterrows():
        console.print(f"    {r['endpoint']}: n={r['n']}, MAE {r['mae']:.3g}, bias {r['bias']:+.3g}")
    console.print("treatment effect (ANCOVA, treated - control at week 4), measured vs on the true values:")
    for _, r in effects.iterrows():
        console.print(f"    {r['endpoint']}: {r['measured']:+.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}] "
                      f"p={r['p_value']:.2g}; true {r['true']:+.2f}")
    console.print(f"report: {out / 'report' / 'report.html'}")
    return out / "report" / "report.html"
