"""Biplane vs single-plane LVEF and volumes on generated studies with known truth.

    python scripts/eval_biplane.py --n 20 --presets human rodent --seed 77 [--markdown docs/biplane_eval.md]

Each study is an apical 4- and a 2-chamber loop of one generated heart (separate
acquisitions: own probe placement, imaging and frame rate; ``echoquant.synth.write_study_pairs``).
Its truth is the heart's LVEF and volumes. Every study is measured twice: with the
generator's true masks (the method alone) and with the shipped models (``echoquant.Analyzer``,
tracking off), each through :mod:`echoquant.quant.study` as ``echoquant analyze`` does it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from echoquant.quant.study import StudyClip, study_result  # noqa: E402


def _truth_clip(path: Path, view: str) -> StudyClip:
    """The loop measured on the generator's masks (no network)."""
    from echoquant.io import read_cine
    from echoquant.quant import quantify
    from echoquant.segment.result import Segmentation

    cine = read_cine(path)
    labels = np.load(path.with_name(path.stem + "_labels.npz"))["labels"]
    q = quantify(cine, Segmentation(labels, model="truth"), track=False)
    s = q.summary
    return StudyClip(path=str(path), view=view, qc_pass=s["lvef_pct"] is not None,
                     values={k: s.get(k) for k in ("lvef_pct", "edv_ml", "esv_ml", "gls_pct")},
                     intervals={}, spacing_mm=cine.spacing_mm, beats=q.beat_contours(), n_beats=len(q.beats))


def _model_clip(analyzer, path: Path) -> StudyClip:
    from echoquant.export.tables import result_row

    r = analyzer.score(path, track=False)
    return StudyClip.from_record({"row": result_row(r), "result": r.to_dict()})


def evaluate(n: int, presets: list[str], seed: int) -> pd.DataFrame:
    from echoquant.api import Analyzer
    from echoquant.synth.write import write_study_pairs

    analyzer = Analyzer(device="cpu", track=False)
    rows = []
    with tempfile.TemporaryDirectory(prefix="echoquant_biplane_") as tmp:
        for preset in presets:
            folder = Path(tmp) / preset
            truth = pd.read_csv(write_study_pairs(folder, n, seed=seed, preset=preset))
            for i in range(n):
                t = truth[truth["file"].str.startswith(f"study_{i:04d}_")]
                files = {v: folder / f"study_{i:04d}_{v.lower()}.dcm" for v in ("A4C", "A2C")}
                for masks in ("true", "model"):
                    clips = ([_truth_clip(p, v) for v, p in files.items()] if masks == "true"
                             else [_model_clip(analyzer, p) for p in files.values()])
                    s = study_result(f"{preset}-{i}", clips)
                    single = s.single_plane
                    rows.append({
                        "preset": preset, "study": i, "masks": masks, "method": s.method,
                        "lvef_true": t["lvef_pct"].mean(), "edv_true": t["edv_ml"].mean(),
                        "esv_true": t["esv_ml"].mean(), "lvef_biplane": s.values["lvef_pct"] if s.method == "biplane" else None,
                        "edv_biplane": s.values["edv_ml"] if s.method == "biplane" else None,
                        "esv_biplane": s.values["esv_ml"] if s.method == "biplane" else None,
                        "lvef_a4c": single["lvef_a4c_pct"], "lvef_a2c": single["lvef_a2c_pct"],
                        "edv_a4c": single["edv_a4c_ml"], "edv_a2c": single["edv_a2c_ml"],
                        "esv_a4c": single["esv_a4c_ml"], "esv_a2c": single["esv_a2c_ml"],
                    })
    return pd.DataFrame(rows)


def _mae(d: pd.DataFrame, col: str, truth: str, rel: bool = False) -> str:
    ok = d[[col, truth]].dropna()
    if ok.empty:
        return "–"
    err = (ok[col] - ok[truth]) / (ok[truth] if rel else 1) * (100 if rel else 1)
    return f"{err.abs().mean():.2f} (bias {err.mean():+.2f}, n={len(ok)})"


def markdown(df: pd.DataFrame, cmd: str, seconds: float) -> str:
    lines = [
        "# Study-level biplane LVEF and volumes on generated paired studies", "",
        f"{time.strftime('%Y-%m-%d')}, 2 CPU cores, command: `{cmd}` ({seconds / 60:.1f} min). Each study: an apical "
        "4- and a 2-chamber loop of one generated heart, acquired separately (own probe placement, imaging, frame "
        "rate); truth = the heart's LVEF and volumes. Measured with the generator's true masks (the method alone) and "
        "with the shipped models (`echoquant_lv_unet`, tracking off), through `echoquant.quant.study` as `echoquant "
        "analyze` does. MAE with bias (measured − truth); volumes in % of the true value.", "",
        "| preset | masks | studies biplane | LVEF MAE biplane | LVEF MAE single plane, both loops | LVEF MAE A4C only "
        "| LVEF MAE A2C only | EDV error biplane (%) | EDV error A4C (%) | ESV error biplane (%) | ESV error A4C (%) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (preset, masks), d in df.groupby(["preset", "masks"], sort=False):
        both = pd.DataFrame({"lvef": pd.concat([d["lvef_a4c"], d["lvef_a2c"]]),
                             "lvef_true": pd.concat([d["lvef_true"], d["lvef_true"]])})
        lines.append(f"| {preset} | {masks} | {int((d['method'] == 'biplane').sum())}/{len(d)} | "
                     f"{_mae(d, 'lvef_biplane', 'lvef_true')} | {_mae(both, 'lvef', 'lvef_true')} | "
                     f"{_mae(d, 'lvef_a4c', 'lvef_true')} | "
                     f"{_mae(d, 'lvef_a2c', 'lvef_true')} | {_mae(d, 'edv_biplane', 'edv_true', True)} | "
                     f"{_mae(d, 'edv_a4c', 'edv_true', True)} | {_mae(d, 'esv_biplane', 'esv_true', True)} | "
                     f"{_mae(d, 'esv_a4c', 'esv_true', True)} |")
    lines += ["", "Rodent loops: the segmentation model's generated training data holds rodent PLAX and A4C views "
              "only (no rodent A2C); the A2C-only column against the A4C-only one shows what that costs the model in "
              "use. A study with a loop that gives no LVEF is measured single-plane (studies biplane below n).", "",
              "The generated heart is a truncated prolate shape that is nearly rotationally symmetric, so one "
              "plane already sees most of it: the gain of biplane here is mostly the averaging of two independent "
              "acquisitions. On real hearts, whose 2-chamber width differs from the 4-chamber width, the guideline "
              "method matters more; that is not measurable on the data here.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--presets", nargs="+", default=["human", "rodent"])
    ap.add_argument("--seed", type=int, default=77)
    ap.add_argument("--markdown", type=Path, default=None)
    args = ap.parse_args()
    start = time.perf_counter()
    df = evaluate(args.n, args.presets, args.seed)
    cmd = f"python scripts/eval_biplane.py --n {args.n} --presets {' '.join(args.presets)} --seed {args.seed}"
    text = markdown(df, cmd, time.perf_counter() - start)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
        df.to_csv(args.markdown.with_suffix(".csv"), index=False)


if __name__ == "__main__":
    main()
