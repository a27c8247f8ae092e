"""Evaluate a model bundle on real, expert-annotated echo: CAMUS.

``python -m echoquant.evaluate camus ../shared/camus --split valid --markdown docs/real_eval.md``

Every case of the split is converted to DICOM (:func:`~echoquant.segment.adapters.convert_camus`)
and read back with :func:`~echoquant.io.read_cine`, so the network sees exactly what it
sees in a batch run (sector estimate, crop, resize, intensity mode). Against the expert
masks, per structure and frame: Dice, 95th-percentile Hausdorff distance and mean
contour distance (mm; calibrated views only, i.e. 4CH in the shared copy). LV volumes by
the single-plane method of disks, computed the same way (mask clean-up, contour,
landmarks, disks: :mod:`echoquant.quant`) on the network's and the expert's masks,
give LVEF and EDV/ESV ratios. Everything is broken down by view, phase and image quality.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from echoquant.segment.adapters import CAMUS_SOURCES, CamusCase
from echoquant.segment.predictor import KEEP_LARGEST, Predictor
from echoquant.segment.views import CAMUS_VIEW, ViewClassifier
from echoquant.segment.result import LA, LV_CAVITY, LV_MYOCARDIUM

__all__ = ["CamusEvaluation", "evaluate_camus", "ed_es_frames", "lv_volume", "summarise", "main"]

STRUCTURES = {LV_CAVITY: "lv", LV_MYOCARDIUM: "myo", LA: "la"}
# The overlays show CAMUS images: CC BY-NC-SA 4.0 asks for attribution next to them.
CAMUS_CREDIT = ("Images and expert outlines: CAMUS (S. Leclerc et al., IEEE TMI 38(9):2198-2210, 2019, "
                "doi:10.1109/TMI.2019.2900516), CC BY-NC-SA 4.0.")
PHASES = ("ED", "ES")


def lv_volume(labels: np.ndarray, spacing_mm: tuple[float, float] | None, apex_hint: np.ndarray | None) -> float | None:
    """Single-plane method-of-disks LV volume of one label map, as :func:`~echoquant.quant.quantify`
    measures it (largest component, holes filled, LA-based hinges): mL with a
    calibration, pixel units without; None when no contour can be drawn."""
    from echoquant.quant.contour import extract_contour
    from echoquant.quant.masks import clean_masks, largest_component
    from echoquant.quant.volumes import frame_volumes

    cavity = clean_masks((labels == LV_CAVITY)[None], temporal=False)[0]
    la = largest_component(labels == LA)
    contour = extract_contour(cavity, la if la.any() else None, apex_hint)
    if contour is None:
        return None
    vols = frame_volumes([contour], spacing_mm)
    value = float(next(iter(vols.values()))[0])
    return value if np.isfinite(value) else None


def _surface(pred: np.ndarray, truth: np.ndarray, spacing_mm: float | None) -> dict[str, float]:
    from echoquant.segment.metrics import surface_metrics

    dice, hd, mcd = surface_metrics(pred, truth, spacing_mm)
    return {"dice": dice, "hd95_mm": hd, "mcd_mm": mcd}


def ed_es_frames(kind: str, n_frames: int) -> tuple[int, int]:
    """Frame indices of ED and ES in a converted CAMUS case: ``"ED,ES"`` pairs are
    (0, 1); CAMUS half-sequences run from ED to ES, so (0, last).

    Raises:
        ValueError: an unknown kind, or too few frames for it.
    """
    if kind == "ED,ES" and n_frames == 2:
        return 0, 1
    if kind == "half_sequence" and n_frames >= 2:
        return 0, n_frames - 1
    raise ValueError(f"expected an ED,ES pair or a half sequence of 2 or more frames, got {kind!r} with {n_frames} frames")


@dataclass
class CamusEvaluation:
    """Per-frame rows (one per case, phase and structure) and per-case LVEF rows."""

    model: str
    split: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    predictions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def _view_and_gate(views: ViewClassifier, cine: Any, seg: Any, frames: list[int]) -> dict[str, Any]:
    """The view the classifier finds and the LV-view gate's decision, as ``echoquant analyze`` makes them."""
    from echoquant.quant import quantify
    from echoquant.segment.result import Segmentation

    found = views.predict(cine.frames[frames], seg.labels[frames], cine.fan_mask)
    pair = Segmentation(seg.labels[frames], None, seg.model, seg.frame_confidence[frames])
    times = None if cine.frame_times_ms is None else cine.frame_times_ms[frames]
    quant = quantify(replace(cine, frames=cine.frames[frames], frame_times_ms=times), pair, track=False,
                     found_view=(found.view, found.probability))
    gate = next((f for f in quant.flags if f.startswith("no_lv_view")), None)
    return {"view_found": found.view, "view_probability": found.probability, "gate_pass": gate is None,
            "gate_reason": gate}


def _evaluate_case(predictor: Predictor, views: ViewClassifier, case: CamusCase, folder: Path,
                   report: CamusEvaluation, keep: bool) -> None:
    from echoquant.io import read_cine
    from echoquant.quant.pipeline import transducer_point

    cine = read_cine(folder / case.relpath())
    frames = ed_es_frames(case.frames, cine.n_frames)
    truth = np.load(folder / case.relpath().replace(".dcm", "_labels.npz"))["labels"][list(frames)]
    seg = predictor.predict(cine)
    pred = seg.labels[list(frames)]
    spacing = (case.spacing_mm, case.spacing_mm) if case.spacing_mm else None
    apex = transducer_point(cine)
    base = {"case": case.name, "patient": case.patient, "view": case.view, "quality": case.image_quality}
    volumes: dict[str, float | None] = {}
    for t, phase in enumerate(PHASES):
        for label, name in STRUCTURES.items():
            report.frames.append({**base, "phase": phase, "structure": name,
                                  **_surface(pred[t] == label, truth[t] == label, case.spacing_mm)})
        volumes[f"pred_{phase}"] = lv_volume(pred[t], spacing, apex)
        volumes[f"truth_{phase}"] = lv_volume(truth[t], spacing, apex)
    row = {**base, "calibrated": spacing is not None, "unit": "mL" if spacing else "px3",
           "view_expected": CAMUS_VIEW[case.view], **_view_and_gate(views, cine, seg, list(frames))}
    for who in ("pred", "truth"):
        ed, es = volumes[f"{who}_ED"], volumes[f"{who}_ES"]
        row[f"edv_{who}"], row[f"esv_{who}"] = ed, es
        row[f"lvef_{who}_pct"] = 100.0 * (ed - es) / ed if ed and es is not None and ed > 0 else None
    report.cases.append(row)
    if keep:
        report.predictions[case.name] = {"image": cine.frames[list(frames)], "pred": pred, "truth": truth}


def evaluate_camus(root: str | Path, split: str = "valid", model: str | Path | None = None, device: str = "cpu",
                   limit: int | None = None, keep_predictions: bool = False,
                   keep_largest: tuple[int, ...] = KEEP_LARGEST, tta: bool = False) -> CamusEvaluation:
    """Segment every case of a CAMUS split and compare with the expert masks.

    Args:
        root: the CAMUS copy (``patients.csv`` plus ``database_nifti`` and/or
            ``database_2ch_224``).
        split: ``valid`` or ``train`` (``patients.csv``'s split column).
        model: bundle folder; default the shipped model.
        device: ``cpu``, ``cuda`` or ``auto``.
        limit: evaluate only the first ``limit`` patients (tests, quick looks).
        keep_predictions: keep images and label maps (for overlays).
        keep_largest: the Predictor's post-processing (largest region per label).
        tta: average with the mirrored prediction (the Predictor's ``tta``).

    Raises:
        FileNotFoundError: no ``patients.csv`` or no database folder under ``root``.
    """
    from echoquant.segment.adapters import convert_camus, read_camus_cases

    root = Path(root)
    if not (root / "patients.csv").is_file():
        raise FileNotFoundError(f"{root / 'patients.csv'} not found: point at the CAMUS copy (e.g. ../shared/camus)")
    sources = {k: v for k, v in CAMUS_SOURCES.items() if (root / k).is_dir()}
    if not sources:
        raise FileNotFoundError(f"none of {sorted(CAMUS_SOURCES)} under {root}")
    # ED and ES are not neighbouring frames: no temporal smoothing across them.
    predictor = Predictor(model, device=device, temporal_window=1, keep_largest=keep_largest, tta=tta)
    views = ViewClassifier(device=predictor.device)
    report = CamusEvaluation(predictor.name, split)
    with tempfile.TemporaryDirectory(prefix="echoquant_camus_") as tmp:
        folder = Path(tmp)
        for name, calibrated in sources.items():
            convert_camus(root / name, folder, calibrated=calibrated, splits=(split,))
        cases = read_camus_cases(folder)
        if limit is not None:
            keep = sorted({c.patient for c in cases})[:limit]
            cases = [c for c in cases if c.patient in keep]
        for case in cases:
            _evaluate_case(predictor, views, case, folder, report, keep_predictions)
    return report


def _mean(values: list[float | None]) -> float:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def summarise(report: CamusEvaluation) -> dict[str, Any]:
    """Means of Dice / HD95 / MCD by (view, phase, structure) and by quality; LVEF
    error and EDV/ESV ratios by view and quality."""
    seg: dict[str, dict[str, float]] = {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in report.frames:
        for key in (f"all|{r['phase']}|{r['structure']}", f"{r['view']}|{r['phase']}|{r['structure']}",
                    f"quality:{r['quality']}|{r['phase']}|{r['structure']}"):
            groups.setdefault(key, []).append(r)
    for key, rows in sorted(groups.items()):
        seg[key] = {m: _mean([r[m] for r in rows]) for m in ("dice", "hd95_mm", "mcd_mm")} | {"n": len(rows)}
    ef: dict[str, dict[str, float]] = {}
    egroups: dict[str, list[dict[str, Any]]] = {}
    for r in report.cases:
        for key in (r["view"], f"{r['view']}|quality:{r['quality']}"):
            egroups.setdefault(key, []).append(r)
    for key, rows in sorted(egroups.items()):
        pairs = [(r["lvef_pred_pct"], r["lvef_truth_pct"]) for r in rows
                 if r["lvef_pred_pct"] is not None and r["lvef_truth_pct"] is not None]
        err = np.array([p - t for p, t in pairs]) if pairs else np.array([np.nan])
        ratios = {f"{v}_ratio": _mean([r[f"{v}_pred"] / r[f"{v}_truth"] for r in rows
                                       if r[f"{v}_pred"] and r[f"{v}_truth"]]) for v in ("edv", "esv")}
        ef[key] = {"n": len(rows), "n_lvef": len(pairs), "lvef_mae": float(np.mean(np.abs(err))),
                   "lvef_bias": float(np.mean(err)), "lvef_sd": float(np.std(err, ddof=1)) if len(pairs) > 1 else float("nan"),
                   **ratios}
    views = {}
    for key in sorted({r["view"] for r in report.cases}) + ["all"]:
        rows = [r for r in report.cases if key in ("all", r["view"])]
        views[key] = {"n": len(rows), "view_accuracy": _mean([float(r["view_found"] == r["view_expected"]) for r in rows]),
                      "gate_pass_rate": _mean([float(r["gate_pass"]) for r in rows])}
    return {"model": report.model, "split": report.split, "segmentation": seg, "lvef": ef, "views": views,
            "n_patients": len({r["patient"] for r in report.cases})}


def _f(x: float, fmt: str = ".3f") -> str:
    return "–" if x is None or not np.isfinite(x) else format(x, fmt)


def markdown(summary: dict[str, Any], cmd: str) -> str:
    """The summary as Markdown tables."""
    seg, ef = summary["segmentation"], summary["lvef"]
    out = [f"Model `{summary['model']}`, CAMUS `{summary['split']}` split, {summary['n_patients']} patients; "
           f"command: `{cmd}`; {time.strftime('%Y-%m-%d')}.", "",
           "## Segmentation against the expert masks", "",
           "Dice per structure; 95th-percentile Hausdorff (HD95) and mean contour distance (MCD) in mm, "
           "calibrated views only (4CH: the shared 2CH copy was resampled and its spacing is unknown).", "",
           "| group | phase | n | Dice LV | Dice myo | Dice LA | HD95 LV (mm) | MCD LV (mm) | HD95 myo (mm) | HD95 LA (mm) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    names = sorted({k.split("|")[0] for k in seg}, key=lambda g: (g != "all", g.startswith("quality"), g))
    for group in names:
        for phase in PHASES:
            k = f"{group}|{phase}|"
            if k + "lv" not in seg:
                continue
            lv, myo, la = seg[k + "lv"], seg[k + "myo"], seg[k + "la"]
            out.append(f"| {group} | {phase} | {lv['n']} | {_f(lv['dice'])} | {_f(myo['dice'])} | {_f(la['dice'])} | "
                       f"{_f(lv['hd95_mm'], '.2f')} | {_f(lv['mcd_mm'], '.2f')} | {_f(myo['hd95_mm'], '.2f')} | "
                       f"{_f(la['hd95_mm'], '.2f')} |")
    out += ["", "## LVEF and volumes (single-plane method of disks, network masks vs expert masks)", "",
            "Both sides go through the same clean-up, contour, landmarks and disks (`echoquant.quant`). "
            "4CH volumes are in mL; 2CH in pixel units of the resampled square grid (its LVEF compares like "
            "with like, its volumes are not physical).", "",
            "| group | cases | LVEF pairs | LVEF MAE (points) | LVEF bias | LVEF SD of error | EDV ratio | ESV ratio |",
            "|---|---|---|---|---|---|---|---|"]
    for key in sorted(ef, key=lambda g: ("|" in g, g)):
        e = ef[key]
        out.append(f"| {key} | {e['n']} | {e['n_lvef']} | {_f(e['lvef_mae'], '.2f')} | {_f(e['lvef_bias'], '+.2f')} | "
                   f"{_f(e['lvef_sd'], '.2f')} | {_f(e['edv_ratio'])} | {_f(e['esv_ratio'])} |")
    out += ["", "## View recognition and the LV-view gate", "",
            "The view classifier (`models/echoquant_view_cnn`) on each case's ED and ES frames with the network's "
            "masks, and whether the LV-view gate (`echoquant.quant.view`) lets the case be measured, as "
            "`echoquant analyze` decides both.", "",
            "| view | cases | view found correctly | passes the gate |", "|---|---|---|---|"]
    for key, v in summary.get("views", {}).items():
        out.append(f"| {key} | {v['n']} | {_f(100 * v['view_accuracy'], '.1f')} % | {_f(100 * v['gate_pass_rate'], '.1f')} % |")
    return "\n".join(out) + "\n"


def _contour_img(img: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """RGB image with expert (green) and network (red) outlines of LV, myocardium and LA."""
    import cv2

    rgb = np.stack([img] * 3, axis=-1).copy()
    for lab, colour in ((truth, (0, 220, 0)), (pred, (255, 40, 40))):
        for label in STRUCTURES:
            cs, _ = cv2.findContours((lab == label).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(rgb, cs, -1, colour, 1)
    return rgb


def overlays(report: CamusEvaluation, out_png: Path) -> list[str]:
    """Best, median and worst patient by mean 4CH LV Dice (ED and ES): expert outlines
    green, network red, each view and phase. Returns the patients shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dice: dict[str, list[float]] = {}
    for r in report.frames:
        if r["structure"] == "lv" and r["view"] == "4CH":
            dice.setdefault(r["patient"], []).append(r["dice"])
    ranked = sorted(dice, key=lambda p: float(np.mean(dice[p])))
    picks = [("worst", ranked[0]), ("median", ranked[len(ranked) // 2]), ("best", ranked[-1])]
    fig, axes = plt.subplots(len(picks), 4, figsize=(13, 3.4 * len(picks)))
    for row, (kind, patient) in enumerate(picks):
        for col, (view, t) in enumerate(((v, t) for v in ("4CH", "2CH") for t in range(2))):
            ax = axes[row, col]
            ax.axis("off")
            item = report.predictions.get(f"{patient}_{view}")
            if item is None:
                continue
            ax.imshow(_contour_img(item["image"][t], item["pred"][t], item["truth"][t]))
            d = [r["dice"] for r in report.frames if r["case"] == f"{patient}_{view}" and r["phase"] == PHASES[t]
                 and r["structure"] == "lv"]
            ax.set_title(f"{kind}: {patient} {view} {PHASES[t]}, LV Dice {d[0]:.3f}", fontsize=9)
    fig.suptitle(f"{report.model} on CAMUS {report.split}: expert (green) vs network (red). "
                 "CAMUS data: Leclerc et al. 2019, CC BY-NC-SA 4.0", fontsize=11)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return [p for _, p in picks]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m echoquant.evaluate camus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="the CAMUS copy (patients.csv + database folders)")
    parser.add_argument("--split", default="valid", help="patients.csv split to evaluate (default valid)")
    parser.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=int, default=None, help="only the first N patients")
    parser.add_argument("--tta", action="store_true", help="average with the left-right mirrored prediction")
    parser.add_argument("--keep-largest", type=int, nargs="*", default=list(KEEP_LARGEST),
                        help="labels post-processed to their largest region (default 1 3, the Predictor's; none: off)")
    parser.add_argument("--markdown", type=Path, help="write the tables here (e.g. docs/real_eval.md)")
    parser.add_argument("--json", type=Path, help="write the summary and every row here")
    parser.add_argument("--png", type=Path, help="write best/median/worst overlays here")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    report = evaluate_camus(args.root, args.split, args.model, args.device, args.limit, keep_predictions=bool(args.png),
                            keep_largest=tuple(args.keep_largest), tta=args.tta)
    summary = summarise(report)
    cmd = (f"python -m echoquant.evaluate camus {args.root} --split {args.split}"
           + (f" --model {args.model}" if args.model else "") + (f" --limit {args.limit}" if args.limit else "")
           + (" --tta" if args.tta else "")
           + ("" if tuple(args.keep_largest) == KEEP_LARGEST else f" --keep-largest {' '.join(map(str, args.keep_largest))}"))
    text = markdown(summary, cmd)
    if args.png:
        shown = overlays(report, args.png)
        text += (f"\n![best, median and worst patients]({args.png.name})\n\nPatients shown (worst, median, best by "
                 f"4CH LV Dice): {', '.join(shown)}. {CAMUS_CREDIT}\n")
    print(text)
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("# Real-data evaluation (CAMUS, expert annotations)\n\n" + text)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "frames": report.frames, "cases": report.cases},
                                        indent=1, default=str))
