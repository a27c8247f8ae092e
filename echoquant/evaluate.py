"""Evaluate a model bundle on a held-out synthetic set, or on real CAMUS patients.

``python -m echoquant.evaluate --model models/echoquant_lv_unet --n 30`` (synthetic);
``python -m echoquant.evaluate camus ../shared/camus --split valid`` (real, expert
annotations: :mod:`echoquant.camus_eval`).

Each case is written as DICOM and read back (so JPEG artefacts and the estimated
fan are part of the test), segmented, and compared with its truth at the true ED
and ES frames: Dice, 95th-percentile Hausdorff distance and mean contour distance
(mm) per structure; then quantified, and LVEF/GLS compared with the truth.
The held-out set uses seeds and settings the default recipe did not train on
(full-size screens, native frame rates, whole loops).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from echoquant.segment.metrics import surface_metrics

__all__ = ["evaluate_case", "evaluate", "surface_metrics", "main"]

STRUCTURES = {1: "lv", 2: "myo", 3: "la"}


def evaluate_case(predictor, preset: str, seed: int, workdir: Path, compression: str = "jpeg",
                  view: str | None = None, header_view: bool = False) -> dict[str, Any]:
    """Metrics of one generated case.

    Args:
        view: the view to generate (None: the preset's random choice).
        header_view: keep the view the file's header names; False (default) drops it from
            rodent loops so that the view is recognised from the image, as for files
            without one.
    """
    from dataclasses import replace

    from echoquant.io import read_cine
    from echoquant.quant import quantify
    from echoquant.synth import generate_case, sample_params, write_case

    case = generate_case(sample_params(preset, seed, **({"view": view} if view else {})))
    write_case(case, workdir, f"eval_{seed}", compression=compression)
    cine = read_cine(workdir / f"eval_{seed}.dcm")
    if not header_view and case.params.species != "human":
        # Rodent views are recognised from the segmentation's shape (human views come from
        # the header or the view classifier, which this evaluation does not run).
        cine = replace(cine, meta=replace(cine.meta, view=None))
    t0 = time.perf_counter()
    seg = predictor.predict(cine)
    seg_s = time.perf_counter() - t0
    row: dict[str, Any] = {"preset": preset, "seed": seed, "species": case.params.species, "view": case.params.view,
                           "frames": cine.n_frames, "segment_fps": cine.n_frames / seg_s}
    for phase in ("ed", "es"):
        f = case.truth[f"{phase}_frame"]
        for label, name in STRUCTURES.items():
            truth = case.labels[f] == label
            if not truth.any() and label == 3:
                # No LA in the view (short axis): nothing to score.
                row[f"dice_{name}_{phase}"] = row[f"hd95_mm_{name}_{phase}"] = row[f"mcd_mm_{name}_{phase}"] = np.nan
                continue
            d, hd, mcd = surface_metrics(seg.labels[f] == label, truth, case.params.spacing_mm)
            if label == 1:
                # Area of the traced cavity over the true one: a border drawn outward shows here.
                row[f"area_ratio_lv_{phase}"] = float((seg.labels[f] == label).sum() / max(truth.sum(), 1))
            row[f"dice_{name}_{phase}"], row[f"hd95_mm_{name}_{phase}"], row[f"mcd_mm_{name}_{phase}"] = d, hd, mcd
    res = quantify(cine, seg)
    row.update(lvef_true=case.truth["lvef_pct"], lvef=res.lvef_pct, gls_true=case.truth["gls_pct"], gls=res.gls_pct,
               edv_true=case.truth["edv_ml"], edv=res.summary["edv_ml"], fac_true=case.truth.get("fac_pct"),
               fac=res.summary.get("fac_pct"), fac_ci=(res.summary.get("fac_ci_low"), res.summary.get("fac_ci_high")),
               lvef_ci=(res.summary.get("lvef_ci_low"), res.summary.get("lvef_ci_high")),
               view_found=res.summary.get("view"), flags=res.flags)
    return row


def _summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    keys = [k for k in rows[0] if k.startswith(("dice_", "hd95_", "mcd_", "area_ratio_"))]
    for k in keys:
        out[k] = float(np.nanmean([r[k] for r in rows]))
    for name in ("lv", "myo", "la"):
        out[f"dice_{name}"] = float(np.nanmean([r[f"dice_{name}_{p}"] for r in rows for p in ("ed", "es")]))
    for m, t in (("lvef", "lvef_true"), ("gls", "gls_true"), ("fac", "fac_true")):
        truth = [r for r in rows if r.get(t) is not None and np.isfinite(r[t])]
        pairs = [(r[m], r[t]) for r in truth if r[m] is not None]
        if pairs:
            a, b = np.array(pairs).T
            out[f"{m}_mae"] = float(np.mean(np.abs(a - b)))
            out[f"{m}_bias"] = float(np.mean(a - b))
        out[f"{m}_withheld"] = float(sum(r[m] is None for r in truth))
        ci = [r.get(f"{m}_ci") for r in truth if r[m] is not None and r.get(f"{m}_ci") and r[f"{m}_ci"][0] is not None]
        if ci:
            out[f"{m}_ci_coverage"] = float(np.mean([lo <= r[t] <= hi for r, (lo, hi) in
                                                      zip([r for r in truth if r[m] is not None and r.get(f"{m}_ci")
                                                           and r[f"{m}_ci"][0] is not None], ci)]))
    rodent = [r for r in rows if r["species"] != "human"]
    out["view_correct"] = float(np.mean([r.get("view_found") == r["view"] for r in rodent])) if rodent else np.nan
    out["segment_fps"] = float(np.median([r["segment_fps"] for r in rows]))
    out["n"] = float(len(rows))
    return out


def evaluate(model: str | None, presets: list[str], n: int, seed: int, device: str = "cpu",
             views: list[str] | None = None) -> dict[str, Any]:
    """Evaluate ``n`` cases per preset (and per view, when views are given); returns
    summaries keyed ``preset`` or ``preset/view``, with their rows."""
    from echoquant.segment.predictor import Predictor

    torch.set_num_threads(max(1, torch.get_num_threads()))
    predictor = Predictor(model, device=device)
    report: dict[str, Any] = {"presets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            for view in views or [None]:
                rows = [evaluate_case(predictor, preset, seed + i, Path(tmp), view=view) for i in range(n)]
                key = preset if view is None else f"{preset}/{view}"
                report["presets"][key] = {"summary": _summary(rows), "rows": rows}
    return {"model": predictor.describe(), **report}


def _markdown(report: dict[str, Any], cmd: str) -> str:
    lines = [f"Model `{report['model']}`; command: `{cmd}`; {time.strftime('%Y-%m-%d')}.", "",
             "| preset | n | Dice LV ED / ES | Dice myo | Dice LA | HD95 LV (mm) | MCD LV (mm) | LVEF MAE (bias) | GLS MAE (bias) "
             "| FAC MAE (bias) | withheld LVEF/GLS/FAC | LV area traced/true ED, ES | view found | frames/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for preset, r in report["presets"].items():
        s = r["summary"]
        hd = np.nanmean([s["hd95_mm_lv_ed"], s["hd95_mm_lv_es"]])
        mcd = np.nanmean([s["mcd_mm_lv_ed"], s["mcd_mm_lv_es"]])
        nan = float("nan")
        view = "header" if np.isnan(s["view_correct"]) else f"{100 * s['view_correct']:.0f} %"
        lines.append(f"| {preset} | {int(s['n'])} | {s['dice_lv_ed']:.3f} / {s['dice_lv_es']:.3f} | {s['dice_myo']:.3f} | "
                     f"{s['dice_la']:.3f} | {hd:.2f} | {mcd:.2f} | {s.get('lvef_mae', nan):.2f} ({s.get('lvef_bias', nan):+.2f}) | "
                     f"{s.get('gls_mae', nan):.2f} ({s.get('gls_bias', nan):+.2f}) | "
                     f"{s.get('fac_mae', nan):.2f} ({s.get('fac_bias', nan):+.2f}) | "
                     f"{int(s['lvef_withheld'])}/{int(s['gls_withheld'])}/{int(s['fac_withheld'])} | "
                     f"{s.get('area_ratio_lv_ed', nan):.3f}, {s.get('area_ratio_lv_es', nan):.3f} | "
                     f"{view} | "
                     f"{s['segment_fps']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import sys

    from echoquant._memory import keep_freed_memory

    keep_freed_memory()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["camus"]:
        from echoquant.camus_eval import main as camus_main

        camus_main(argv[1:])
        return
    if argv[:1] == ["preclinical"]:
        from echoquant.preclinical_eval import main as preclinical_main

        preclinical_main(argv[1:])
        return
    if argv[:1] == ["rodent-real"]:
        from echoquant.rodent_real_eval import main as rodent_main

        rodent_main(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    parser.add_argument("--presets", nargs="+", default=["human", "rodent"])
    parser.add_argument("--views", nargs="+", default=None, help="generate these views of every preset (e.g. PLAX SAX)")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=900_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--markdown", type=Path, help="write the summary table here")
    args = parser.parse_args(argv)
    report = evaluate(args.model, args.presets, args.n, args.seed, args.device, args.views)
    cmd = (f"python -m echoquant.evaluate --n {args.n} --seed {args.seed} --presets {' '.join(args.presets)}"
           + (f" --model {args.model}" if args.model else ""))
    text = _markdown(report, cmd)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("# Segmentation evaluation (held-out synthetic)\n\n" + text)


if __name__ == "__main__":
    main()
