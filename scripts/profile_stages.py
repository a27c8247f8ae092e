"""Where the time of one scored loop goes, stage by stage (groundwork for issue 17).

    python scripts/profile_stages.py [--n 4] [--seed 424242]

Generated human and rodent loops are decoded, segmented, given a view, measured
without tracking, and measured with tracking; the tracking share is the difference
of the last two. Milliseconds per frame on this machine, shipped models.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path


def profile(preset: str, n: int, seed: int, analyzer) -> str:
    from echoquant.io import read_cine
    from echoquant.quant import quantify
    from echoquant.synth.write import write_suite

    t = dict.fromkeys(("decode", "network", "view", "measure without tracking", "tracking"), 0.0)
    frames = 0
    with tempfile.TemporaryDirectory(prefix="echoquant_profile_") as tmp:
        write_suite(Path(tmp), n, seed=seed, preset=preset)
        for path in sorted(Path(tmp).glob("*.dcm")):
            s0 = time.perf_counter()
            cine = read_cine(path)
            s1 = time.perf_counter()
            seg = analyzer.predictor.predict(cine)
            s2 = time.perf_counter()
            view = analyzer._find_view(cine, seg)
            s3 = time.perf_counter()
            quantify(cine, seg, track=False, found_view=view)
            s4 = time.perf_counter()
            quantify(cine, seg, track=True, found_view=view)
            s5 = time.perf_counter()
            for key, dt in zip(t, (s1 - s0, s2 - s1, s3 - s2, s4 - s3, (s5 - s4) - (s4 - s3))):
                t[key] += dt
            frames += cine.n_frames
    total = sum(t.values())
    cells = " | ".join(f"{1000 * v / frames:.1f} ({100 * v / total:.0f} %)" for v in t.values())
    return f"| {preset} | {frames} | {cells} | {frames / total:.1f} |"


def main() -> None:
    from echoquant.api import Analyzer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--seed", type=int, default=424242)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    analyzer = Analyzer(device="cpu")
    print("| preset | frames | decode ms/frame | network | view | measure without tracking | tracking | frames/s |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in ("human", "rodent"):
        print(profile(preset, args.n, args.seed, analyzer))


if __name__ == "__main__":
    main()
