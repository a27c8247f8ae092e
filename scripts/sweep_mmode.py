"""Sweep generated M-mode strips for silent gross errors: screens where FS is off by more
than ``--fs-points`` or a diameter by more than ``--diameter-pct`` and no QC flag says so,
and beats measured where the strip has none (docs/mmode_eval.md, "Tracing fixes").

    python scripts/sweep_mmode.py --preset rodent --seed 9300 --n 200

Strips come straight from the generator (no DICOM round trip), so a sweep of 200 takes
about three minutes on one core. Exit code 1 when any silent gross error is found.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from echoquant.quant.mmode import measure_mmode
from echoquant.synth.mmode import MMODE_PRESETS, generate_mmode, sample_mmode_params


def check(preset: str, seed: int, fs_points: float, diameter_pct: float) -> tuple[float | None, list[str]]:
    """FS error (points) of one generated strip and what is wrong with it, silently."""
    params = sample_mmode_params(preset, seed)
    case = generate_mmode(params)
    res = measure_mmode(case.strip, mm_per_px=params.mm_per_px, seconds_per_px=params.seconds_per_px,
                        heart_rate_bpm=params.heart_rate_bpm)
    s, t = res.summary, case.truth
    if s.get("fs_pct") is None:
        return None, [] if res.flags else ["no numbers and no flag"]
    problems = []
    fs_err = s["fs_pct"] - t["fs_pct"]
    if not res.flags:
        if abs(fs_err) > fs_points:
            problems.append(f"FS {fs_err:+.1f} points")
        for key in ("lvidd_mm", "lvids_mm"):
            err = 100.0 * (s[key] - t[key]) / t[key]
            if abs(err) > diameter_pct:
                problems.append(f"{key} {err:+.1f} %")
    true_ed = np.asarray(t["ed_times_s"])
    fifth_of_beat_s = 0.2 * 60.0 / params.heart_rate_bpm
    stray = [b for b in res.beats if not len(true_ed) or np.min(np.abs(true_ed - b.ed_time)) > fifth_of_beat_s]
    if stray:
        problems.append(f"{len(stray)} beat(s) with no true ED within a fifth of a beat")
    return fs_err, problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=MMODE_PRESETS, default="rodent")
    ap.add_argument("--seed", type=int, default=9300, help="strip seeds are SEED * 100003 + i")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--fs-points", type=float, default=4.0)
    ap.add_argument("--diameter-pct", type=float, default=5.0)
    args = ap.parse_args()
    errors, bad = [], 0
    for i in range(args.n):
        seed = args.seed * 100003 + i
        fs_err, problems = check(args.preset, seed, args.fs_points, args.diameter_pct)
        if fs_err is not None:
            errors.append(abs(fs_err))
        if problems:
            bad += 1
            print(f"seed {seed}: " + "; ".join(problems), flush=True)
    e = np.asarray(errors) if errors else np.array([np.nan])
    print(f"{args.preset} seed {args.seed}: {args.n} strips, {len(errors)} measured, FS MAE {np.mean(e):.2f} "
          f"points, largest {np.max(e):.2f}; {bad} with a silent gross error")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
