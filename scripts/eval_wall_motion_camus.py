"""False alarms of the wall-motion rule on real echo: CAMUS valid patients with a
normal reference LVEF (>= 55 %), whose segments should mostly score normal (issue 19).

    python scripts/eval_wall_motion_camus.py ../shared/camus --out docs/wall_motion_camus.md

CAMUS gives only the ED and ES frames: no tracking is possible, so every segment is
scored from the ED and ES contours (points matched by arc length), their segments'
length change, the inward excursion toward the centre line and the wall thickening
of the myocardium label, as ``echoquant analyze`` scores a loop whose tracking is
withheld. Both the expert outlines and the shipped model's are scored. The 2CH copy
has no true calibration (resampled to 224x224): ratios only there, no thickness in mm.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from echoquant.camus_eval import ed_es_frames
from echoquant.io import read_cine
from echoquant.quant.contour import extract_contour
from echoquant.quant.masks import clean_masks, imaged_myocardium, largest_component
from echoquant.quant.pipeline import segment_names_for, transducer_point
from echoquant.quant.wallmotion import NOT_ASSESSABLE, WALL_MOTION_CLASSES, beat_wall_motion, sector_edge_distance
from echoquant.segment.adapters import CAMUS_SOURCES, convert_camus, read_camus_cases
from echoquant.segment.predictor import Predictor
from echoquant.segment.result import LA, LV_CAVITY

_VIEW = {"4CH": "A4C", "2CH": "A2C"}


def score_pair(labels: np.ndarray, fan_mask: np.ndarray, apex_hint: np.ndarray | None,
               spacing: tuple[float, float] | None, view: str) -> list[dict] | None:
    """Per-segment wall motion of an ``(2, H, W)`` ED/ES label pair; None without contours."""
    contours = []
    for t in range(2):
        cavity = clean_masks((labels[t] == LV_CAVITY)[None], temporal=False)[0]
        la = largest_component(labels[t] == LA)
        contours.append(extract_contour(cavity, la if la.any() else None, apex_hint))
    if any(c is None for c in contours):
        return None
    # Thickness from the imaged myocardium, as quantify() measures it (the expert outlines,
    # like the network's, carry walls on past the sector's edge).
    wm = beat_wall_motion(contours[0].points, contours[1].points, imaged_myocardium(labels[0], fan_mask),
                          imaged_myocardium(labels[1], fan_mask), sector_edge_distance(fan_mask),
                          segment_names_for(view), spacing_mm=spacing)
    return [{"segment": s.name, "class": s.wall_motion, "kinesis_index": s.kinesis_index, "strain_pct": s.strain_pct,
             "excursion_pct": s.excursion_pct, "thickening_pct": s.thickening_pct, "reason": s.reason}
            for s in wm.segments]


def evaluate(root: Path, min_lvef: float, split: str = "valid", model: bool = True,
             max_lvef: float = 100.0) -> pd.DataFrame:
    """Per-segment rows of every ``split`` patient with ``min_lvef`` <= reference LVEF <
    ``max_lvef``, from the expert outlines and (``model``) the shipped model's."""
    patients = pd.read_csv(root / "patients.csv")
    lvef = patients["lvef_reference_pct"]
    normal = set(patients.loc[(patients["split"] == split) & (lvef >= min_lvef) & (lvef < max_lvef), "patient"])
    predictor = Predictor(None, device="auto", temporal_window=1) if model else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="echoquant_wm_camus_") as tmp:
        folder = Path(tmp)
        for name, calibrated in CAMUS_SOURCES.items():
            if (root / name).is_dir():
                convert_camus(root / name, folder, calibrated=calibrated, splits=(split,))
        for case in read_camus_cases(folder):
            if case.patient not in normal:
                continue
            cine = read_cine(folder / case.relpath())
            frames = list(ed_es_frames(case.frames, cine.n_frames))
            expert = np.load(folder / case.relpath().replace(".dcm", "_labels.npz"))["labels"][frames]
            outlines = {"expert": expert}
            if predictor is not None:
                outlines["model"] = predictor.predict(cine).labels[frames]
            spacing = (case.spacing_mm, case.spacing_mm) if case.spacing_mm else None
            hint = transducer_point(cine)
            for who, labels in outlines.items():
                segs = score_pair(labels, cine.fan_mask, hint, spacing, _VIEW[case.view])
                for s in segs or [{"segment": None, "class": "no_contour"}]:
                    rows.append({"patient": case.patient, "view": case.view, "quality": case.image_quality,
                                 "outlines": who, **s})
    return pd.DataFrame(rows)


def render(df: pd.DataFrame, min_lvef: float, split: str = "valid", max_lvef: float = 100.0) -> str:
    cmd = "python scripts/eval_wall_motion_camus.py " + " ".join(sys.argv[1:])
    upper = "" if max_lvef >= 100 else f" and < {max_lvef:.0f} %"
    lines = [f"# Wall motion on real echo: CAMUS {split}, reference LVEF >= {min_lvef:.0f} %{upper}", "",
             f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, command: `{cmd}`. "
             f"{df['patient'].nunique()} patients; each view's ED/ES pair scored from the expert outlines and from "
             "the shipped model's (`echoquant_lv_unet`), contours matched by arc length (no tracking: CAMUS has "
             "two frames). Normal share = segments scored normal among the assessable ones.", "",
             "| outlines | view | segments | assessable | normal | hypokinetic | akinetic | dyskinetic |",
             "|---|---|---|---|---|---|---|---|"]
    for (who, view), g in df.groupby(["outlines", "view"]):
        lines.append(_row(who, view, g))
    for who, g in df.groupby("outlines"):
        lines.append(_row(f"**{who}**", "both", g))
    lines += ["", "Median measurements of the assessable segments (expert outlines / model):", "",
              "| view | strain % | excursion % | thickening % |", "|---|---|---|---|"]
    for view, g in df[df["class"].isin(WALL_MOTION_CLASSES)].groupby("view"):
        cells = []
        for col in ("strain_pct", "excursion_pct", "thickening_pct"):
            e = g.loc[g["outlines"] == "expert", col].median()
            m = g.loc[g["outlines"] == "model", col].median()
            cells.append(f"{e:.1f} / {m:.1f}")
        lines.append(f"| {view} | " + " | ".join(cells) + " |")
    reasons = Counter(str(r).split(" (")[0] for r in df.loc[df["class"] == NOT_ASSESSABLE, "reason"])
    if reasons:
        lines += ["", "Not assessable: " + "; ".join(f"{k} ({v})" for k, v in reasons.most_common()) + "."]
    return "\n".join(lines) + "\n"


def _row(who: str, view: str, g: pd.DataFrame) -> str:
    seg = g[g["class"] != "no_contour"]
    ok = seg[seg["class"].isin(WALL_MOTION_CLASSES)]
    share = {c: 100.0 * (ok["class"] == c).mean() if len(ok) else float("nan") for c in WALL_MOTION_CLASSES}
    return (f"| {who} | {view} | {len(seg)} | {100.0 * len(ok) / max(len(seg), 1):.0f} % | "
            + " | ".join(f"{share[c]:.1f} %" for c in WALL_MOTION_CLASSES) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("camus", type=Path)
    ap.add_argument("--min-lvef", type=float, default=55.0)
    ap.add_argument("--max-lvef", type=float, default=100.0, help="only patients below this reference LVEF")
    ap.add_argument("--split", default="valid", help="valid (the check) or train (where the normal references "
                    "of echoquant.quant.wallmotion come from)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--csv", type=Path, default=None, help="per-segment rows")
    args = ap.parse_args()
    df = evaluate(args.camus, args.min_lvef, args.split, max_lvef=args.max_lvef)
    if args.csv:
        df.to_csv(args.csv, index=False)
    text = render(df, args.min_lvef, args.split, args.max_lvef)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
