"""Wall-motion accuracy on a held-out generated suite with infarcts of known location,
size and kind (issue 19), through the batch runner and the shipped model, and with the
generator's true masks for comparison.

    python scripts/eval_wall_motion.py --n-infarct 40 --n-free 20 --out docs/wall_motion_eval.md

Per preset: ``n-infarct`` hearts with a 1-3 segment infarct (akinetic or dyskinetic,
sometimes with a hypokinetic border segment; :func:`echoquant.synth.infarct.infarct_params`)
and ``n-free`` normal hearts. Segments are compared in screen order (the measured
contour's order), so a mirrored acquisition compares the same physical wall.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from echoquant import Analyzer
from echoquant.batch import BatchOptions, run_batch
from echoquant.io import read_cine
from echoquant.quant import quantify
from echoquant.quant.wallmotion import NOT_ASSESSABLE, WALL_MOTION_CLASSES
from echoquant.segment.result import Segmentation
from echoquant.synth.infarct import infarct_params
from echoquant.synth.write import write_params

SEED = 19_000_000  # not used by training, the benchmark suite or any test
_PRESET_OFFSET = {"human": 0, "rodent": 500_000}


def suite(folder: Path, preset: str, n_infarct: int, n_free: int) -> pd.DataFrame:
    """Write the suite of one preset; returns its truth table."""
    base = SEED + _PRESET_OFFSET[preset]
    params = [infarct_params(preset, base + i) for i in range(n_infarct)]
    params += [infarct_params(preset, base + n_infarct + i, infarct=False) for i in range(n_free)]
    return pd.read_csv(write_params(folder, params, compression="mixed", workers=2))


def _true_mask_row(folder: Path, row: pd.Series) -> dict:
    """Wall motion of a clip measured on the generator's own masks."""
    cine = read_cine(folder / row["file"])
    labels = np.load(folder / row["labels"])["labels"]
    s = quantify(cine, Segmentation(labels, model="truth")).summary
    return {"file": row["file"], "wmsi": s.get("wmsi"), "akinetic_extent_pct": s.get("akinetic_extent_pct"),
            "thinnest_wall_ed_mm": s.get("thinnest_wall_ed_mm"),
            "wall_motion_classes": ";".join(m["wall_motion"] for m in s.get("wall_motion") or [])}


def _pairs(m: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(measured, true) segment classes over every clip, not-assessable included."""
    meas, true = [], []
    for _, r in m.iterrows():
        mc = str(r["wall_motion_classes"]).split(";") if isinstance(r["wall_motion_classes"], str) else []
        tc = str(r["wall_motion_classes_true"]).split(";")
        mc = mc if len(mc) == len(tc) else [NOT_ASSESSABLE] * len(tc)
        meas += mc
        true += tc
    return meas, true


def cohen_kappa(a: list[str], b: list[str], labels: tuple[str, ...]) -> float:
    """Cohen's kappa of two raters' labels."""
    idx = {c: i for i, c in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for x, y in zip(a, b):
        table[idx[x], idx[y]] += 1
    n = table.sum()
    po = np.trace(table) / n
    pe = float((table.sum(axis=0) * table.sum(axis=1)).sum()) / n**2
    return float((po - pe) / (1 - pe)) if pe < 1 else 1.0


def metrics(m: pd.DataFrame) -> dict:
    meas, true = _pairs(m)
    ok = [(x, y) for x, y in zip(meas, true) if x != NOT_ASSESSABLE]
    agree = float(np.mean([x == y for x, y in ok])) if ok else float("nan")
    kappa = cohen_kappa([x for x, _ in ok], [y for _, y in ok], WALL_MOTION_CLASSES) if ok else float("nan")
    ext = pd.to_numeric(m["akinetic_extent_pct"], errors="coerce")
    ext_t = pd.to_numeric(m["akinetic_extent_pct_true"], errors="coerce")
    wmsi = pd.to_numeric(m["wmsi"], errors="coerce") - pd.to_numeric(m["wmsi_true"], errors="coerce")
    thin = pd.to_numeric(m["thinnest_wall_ed_mm"], errors="coerce")
    thin_t = pd.to_numeric(m["thinnest_wall_ed_mm_true"], errors="coerce")
    free = m["pathology"] == "normal"
    free_ext = ext[free]
    return {
        "clips": len(m), "segments": len(true), "assessable_pct": 100.0 * len(ok) / max(len(true), 1),
        "agreement_pct": 100.0 * agree, "kappa": kappa,
        "extent_mae": float((ext - ext_t).abs().mean()), "extent_bias": float((ext - ext_t).mean()),
        "extent_n": int((ext - ext_t).notna().sum()),
        "wmsi_mae": float(wmsi.abs().mean()),
        "thin_mae_pct": float((100 * (thin - thin_t).abs() / thin_t).mean()),
        "free_n": int(free.sum()), "free_max_extent": float(free_ext.max()) if free_ext.notna().any() else float("nan"),
        "free_over_10": int((free_ext > 10).sum()),
        "confusion": pd.crosstab(pd.Series(true, name="true"), pd.Series(meas, name="measured")),
    }


def run(preset: str, work: Path, n_infarct: int, n_free: int, analyzer: Analyzer) -> dict[str, dict]:
    folder = work / preset
    truth = suite(folder, preset, n_infarct, n_free)
    start = time.perf_counter()
    summary = run_batch([folder / f for f in truth["file"]], work / f"out_{preset}", analyzer,
                        BatchOptions(workers=1))
    elapsed = time.perf_counter() - start
    res = pd.DataFrame(summary.rows)
    res["file"] = res["path"].map(lambda p: Path(p).name)
    model = res.merge(truth, on="file", suffixes=("", "_true"))
    masks = pd.DataFrame([_true_mask_row(folder, r) for _, r in truth.iterrows()])
    masks = masks.merge(truth, on="file", suffixes=("", "_true"))
    out = {"model": metrics(model), "true masks": metrics(masks)}
    out["model"]["s_per_clip"] = elapsed / len(truth)
    return out


def _f(v: float, spec: str = ".1f") -> str:
    return "–" if v is None or not np.isfinite(v) else format(v, spec)


def render(results: dict[str, dict[str, dict]], args: argparse.Namespace, model_name: str) -> str:
    cmd = "python scripts/eval_wall_motion.py " + " ".join(sys.argv[1:])
    lines = [
        "# Regional wall motion on generated infarcts (issue 19)", "",
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, command: `{cmd}`. Model: `{model_name}` "
        "(the shipped default) through the batch runner, and the generator's true masks through `quantify`. "
        f"Held-out seeds from {SEED:,} (not used by training, the benchmark suite or tests); "
        f"per preset {args.n_infarct} hearts with a 1-3 segment infarct (akinetic or dyskinetic scar, half with "
        f"a hypokinetic border segment) and {args.n_free} normal hearts (`echoquant.synth.infarct`); "
        "half uncompressed grey, half JPEG RGB.", "",
        "Truth: the wall-motion rule (`echoquant.quant.wallmotion`) applied to the exact material motion of "
        "the generator's endocardium and epicardium (`echoquant.synth.wallmotion`). Agreement and Cohen's kappa "
        "are over the segments the measurement found assessable; the rest are counted in *assessable*.", "",
        "| preset | masks | clips | segments | assessable | class agreement | Cohen's kappa | extent MAE (pts) "
        "| extent bias | WMSI MAE | thinnest ED wall MAE (%) | infarct-free clips with extent > 10 % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for preset, by in results.items():
        for src, r in by.items():
            lines.append(
                f"| {preset} | {src} | {r['clips']} | {r['segments']} | {_f(r['assessable_pct'])} % | "
                f"{_f(r['agreement_pct'])} % | {_f(r['kappa'], '.2f')} | {_f(r['extent_mae'])} (n={r['extent_n']}) | "
                f"{_f(r['extent_bias'], '+.1f')} | {_f(r['wmsi_mae'], '.2f')} | {_f(r['thin_mae_pct'])} | "
                f"{r['free_over_10']} of {r['free_n']} (max {_f(r['free_max_extent'])} %) |")
    lines += ["", "Confusion (rows true, columns measured; shipped model):", ""]
    for preset, by in results.items():
        c = by["model"]["confusion"]
        lines += [f"**{preset}**", "", "| true \\ measured | " + " | ".join(c.columns) + " |",
                  "|---" * (len(c.columns) + 1) + "|"]
        lines += [f"| {i} | " + " | ".join(str(int(v)) for v in row) + " |" for i, row in c.iterrows()]
        lines.append("")
    speed = ", ".join(f"{p} {_f(by['model']['s_per_clip'], '.2f')} s/clip" for p, by in results.items())
    lines += [f"Batch time including segmentation: {speed} (2 CPU cores).", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-infarct", type=int, default=40)
    ap.add_argument("--n-free", type=int, default=20)
    ap.add_argument("--presets", nargs="+", default=["human", "rodent"])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None, help="folder for the suite (temporary by default)")
    args = ap.parse_args()
    analyzer = Analyzer(device="auto")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        results = {p: run(p, work, args.n_infarct, args.n_free, analyzer) for p in args.presets}
    text = render(results, args, analyzer.model_name)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
