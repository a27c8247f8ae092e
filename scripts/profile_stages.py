"""Where the time of one scored loop goes, stage by stage.

    python scripts/profile_stages.py [--n 4] [--seed 424242]

Generated human and rodent loops are decoded, segmented (the network's forward
passes timed apart from the crop/resize/equalise before and the resize back,
keep-largest and confidence after), given a view, measured without tracking,
measured with tracking (the tracking share is the difference of the two), and
written as ``echoquant analyze`` writes a clip (table row and JSON record).
Milliseconds per frame on this machine, shipped models. ``scripts/benchmark.py``
puts this table in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

STAGES = ("decode", "network forward", "segmentation pre/post", "view", "contours, volumes, ED/ES",
          "tracking", "writing")


class _Timed:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, fn) -> None:
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def profile(preset: str, n: int, seed: int, analyzer) -> dict:
    """Seconds per stage over ``n`` generated loops of ``preset``, and their frame count."""
    from echoquant.batch import _write_record
    from echoquant.export.tables import result_row
    from echoquant.io import read_cine
    from echoquant.quant import quantify
    from echoquant.synth.write import write_suite

    t = dict.fromkeys(STAGES, 0.0)
    frames = 0
    forward = _Timed(analyzer.predictor._probs)
    analyzer.predictor._probs = forward
    try:
        with tempfile.TemporaryDirectory(prefix="echoquant_profile_") as tmp:
            write_suite(Path(tmp) / "in", n, seed=seed, preset=preset)
            for k, path in enumerate(sorted((Path(tmp) / "in").glob("*.dcm"))):
                s0 = time.perf_counter()
                cine = read_cine(path, require_loop=True)
                s1 = time.perf_counter()
                before = forward.seconds
                seg = analyzer.predictor.predict(cine)
                s2 = time.perf_counter()
                net = forward.seconds - before
                view = analyzer._find_view(cine, seg)
                s3 = time.perf_counter()
                quantify(cine, seg, track=False, found_view=view)
                s4 = time.perf_counter()
                quantify(cine, seg, track=True, found_view=view)
                s5 = time.perf_counter()
                result = analyzer.score(cine)  # the result that is written (not timed)
                s6 = time.perf_counter()
                _write_record(Path(tmp) / "out", f"clip{k}", result_row(result, clip_id=f"clip{k}"), result)
                s7 = time.perf_counter()
                steps = (s1 - s0, net, (s2 - s1) - net, s3 - s2, s4 - s3, (s5 - s4) - (s4 - s3), s7 - s6)
                for key, dt in zip(STAGES, steps):
                    t[key] += dt
                frames += cine.n_frames
    finally:
        analyzer.predictor._probs = forward.fn
    return {"preset": preset, "frames": frames, "seconds": t}


def markdown(rows: list[dict]) -> list[str]:
    """The profile as a Markdown table: ms/frame (share) per stage, and frames/s of their sum."""
    lines = ["| preset | frames | " + " | ".join(STAGES) + " | frames/s (sum of stages) |",
             "|---|---|" + "---|" * (len(STAGES) + 1)]
    for r in rows:
        total = sum(r["seconds"].values())
        cells = " | ".join(f"{1000 * v / r['frames']:.1f} ({100 * v / total:.0f} %)" for v in r["seconds"].values())
        lines.append(f"| {r['preset']} | {r['frames']} | {cells} | {r['frames'] / total:.1f} |")
    return lines


def main() -> None:
    from echoquant.api import Analyzer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--seed", type=int, default=424242)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    analyzer = Analyzer(device="cpu")
    print("\n".join(markdown([profile(p, args.n, args.seed, analyzer) for p in ("human", "rodent")])))


if __name__ == "__main__":
    main()
