"""``echoquant demo``: a synthetic preclinical study, end to end.

1. generate a treated-versus-control mouse infarct study (baseline and week 4) as
   DICOM, B-mode loops and M-mode screens, with the group labels kept apart in
   ``data/groups.csv``;
2. analyse every loop blind (``echoquant analyze``);
3. join the groups and compare (``echoquant compare``);
4. check the measurements against the generator's ground truth.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from echoquant.batch import BatchOptions, analyze
from echoquant.cohort import compare, read_groups
from echoquant.cohort.report import load_strain_curves, primary_table
from echoquant.synth import DEMO_COHORT, write_cohort

__all__ = ["run_demo", "truth_check"]


def truth_check(results: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Measured against true values per clip (synthetic data only)."""
    t = truth.assign(path_name=truth["file"].map(lambda f: Path(f).name))
    r = results.assign(path_name=results["path"].map(lambda p: Path(str(p)).name))
    m = r.merge(t, on="path_name", suffixes=("", "_true"))
    rows = []
    for e in ("lvef_pct", "gls_pct", "edv_ml", "esv_ml", "akinetic_extent_pct", "wmsi", "fs_pct", "lvef_teichholz_pct",
              "lvidd_mm"):
        if f"{e}_true" not in m.columns:
            continue
        ok = m[[e, f"{e}_true"]].apply(pd.to_numeric, errors="coerce").dropna()
        err = ok[e] - ok[f"{e}_true"]
        rows.append({"endpoint": e, "n": len(ok), "mae": float(err.abs().mean()) if len(ok) else None,
                     "bias": float(err.mean()) if len(ok) else None,
                     "r": float(np.corrcoef(ok[e], ok[f"{e}_true"])[0, 1]) if len(ok) > 2 else None})
    return pd.DataFrame(rows)


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
    results = pd.read_csv(analysis / "results.csv", dtype={"patient_id": str, "timepoint": str})
    report = compare(results, read_groups(data / "groups.csv"), seed=seed,
                     curves=load_strain_curves(analysis / "results.csv", results))
    report.write(out / "report")
    truth = pd.read_csv(data / "truth.csv")
    if (data / "truth_mmode.csv").is_file():
        truth = pd.concat([truth, pd.read_csv(data / "truth_mmode.csv")], ignore_index=True)
    check = truth_check(results, truth)
    check.to_csv(out / "report" / "truth_check.csv", index=False)
    console.print(primary_table(report))
    console.print("measured vs true (synthetic ground truth):")
    for _, r in check.iterrows():
        console.print(f"    {r['endpoint']}: n={r['n']}, MAE {r['mae']:.3g}, bias {r['bias']:+.3g}")
    console.print(f"report: {out / 'report' / 'report.html'}")
    return out / "report" / "report.html"
