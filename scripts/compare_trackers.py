"""Speckle trackers side by side on the benchmark's held-out generated suites.

    python scripts/compare_trackers.py [--n 30] [--markdown docs/tracking_eval.md]

The same loops, the same segmentation (shipped model) and the same measurement;
only the tracker differs: ``lk`` (pyramidal Lucas-Kanade, the default since issue
17), ``block`` (normalised cross-correlation block matching, the former default) and
``dis`` (OpenCV DIS dense flow). Reports GLS MAE against the generator's truth, for
the reported GLS (tracked points held on the segmented border) and for tracking
alone, and the milliseconds per frame of measuring with each tracker.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

import pandas as pd

METHODS = ("lk", "block", "dis")


def run(n: int) -> pd.DataFrame:
    import echoquant.quant.pipeline as pipeline
    from echoquant import Analyzer
    from echoquant.io import read_cine
    from echoquant.quant import quantify

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchmark import held_out_suite

    analyzer = Analyzer(device="cpu")
    track_line = pipeline.track_line
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="eq_trackers_") as tmp:
            for preset in ("human", "rodent"):
                folder = Path(tmp) / preset
                truth = held_out_suite(folder, preset, n).set_index("file")
                for path in sorted(folder.glob("*.dcm")):
                    cine = read_cine(path)
                    seg = analyzer.predictor.predict(cine)
                    view = analyzer._find_view(cine, seg)
                    row = {"preset": preset, "file": path.name, "frames": cine.n_frames,
                           "gls_true": truth.loc[path.name, "gls_pct"]}
                    for method in METHODS:
                        pipeline.track_line = partial(track_line, method=method)
                        start = time.perf_counter()
                        summary = quantify(cine, seg, track=True, found_view=view).summary
                        row[f"seconds_{method}"] = time.perf_counter() - start
                        row[f"gls_{method}"] = summary.get("gls_pct")
                        row[f"gls_tracking_only_{method}"] = summary.get("gls_tracking_only_pct")
                        row[f"lvef_{method}"] = summary.get("lvef_pct")
                    rows.append(row)
    finally:
        pipeline.track_line = track_line
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame, n: int) -> str:
    lines = ["# Speckle trackers on the held-out generated suites", "",
             f"`python scripts/compare_trackers.py --n {n}` ({time.strftime('%Y-%m-%d')}, 2 CPU cores, shipped model): "
             f"{n} clips per preset, the held-out suites of `scripts/benchmark.py` (half JPEG). The same "
             "segmentation and measurement for every tracker; LVEF does not depend on the tracker. GLS: the reported "
             "value (tracked points held on the segmented border); tracking only: the tracked line itself.", "",
             "| preset | tracker | GLS MAE (%) | GLS bias | tracking-only GLS MAE (%) | n | measuring, ms/frame |",
             "|---|---|---|---|---|---|---|"]
    for preset, g in df.groupby("preset", sort=False):
        for m in METHODS:
            err = pd.to_numeric(g[f"gls_{m}"]) - g["gls_true"]
            raw = pd.to_numeric(g[f"gls_tracking_only_{m}"]) - g["gls_true"]
            ms = 1000 * g[f"seconds_{m}"].sum() / g["frames"].sum()
            lines.append(f"| {preset} | {m} | {err.abs().mean():.3f} | {err.mean():+.3f} | {raw.abs().mean():.3f} | "
                         f"{int(err.notna().sum())} | {ms:.1f} |")
    same = all((df[f"lvef_{m}"].fillna(-1) == df["lvef_lk"].fillna(-1)).all() for m in METHODS)
    lines += ["", f"LVEF identical across trackers: {same}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--csv", type=Path, default=None)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    df = run(args.n)
    if args.csv:
        df.to_csv(args.csv, index=False)
    text = markdown(df, args.n)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
