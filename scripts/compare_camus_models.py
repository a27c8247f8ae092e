"""Paired comparison of segmentation models on CAMUS: every model on the same patients,
each clip's LVEF error (network masks vs expert masks, the same single-plane method of
disks as ``python -m echoquant.evaluate camus``), and whether a model's gain over the
first one is more than the patient-to-patient scatter (Wilcoxon signed-rank test on the
per-clip absolute errors).

A model is a bundle folder; ``A,B`` averages the class probabilities of several bundles
(an ensemble; same input size and intensity); a ``+tta`` suffix adds the mirrored pass.

Usage:
    python scripts/compare_camus_models.py ../shared/camus --split valid \
        --model models/echoquant_lv_unet --model models/echoquant_lv_unet+tta [--markdown F]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.stats import wilcoxon
from torch import nn

from _report import emit  # scripts/ is on sys.path when run as a script

from echoquant.camus_eval import CamusEvaluation, evaluate_camus, summarise
from echoquant.segment.bundle import Bundle, load_bundle

VIEWS = ("4CH", "2CH", "all")


class ProbabilityMean(nn.Module):
    """Several networks as one: the log of their mean class probabilities (the Predictor
    takes a softmax of the output, which gives back the mean)."""

    def __init__(self, nets: list[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = sum(torch.softmax(net(x), dim=1) for net in self.nets) / len(self.nets)
        return torch.log(mean.clamp_min(1e-8))


def load_model(spec: str) -> tuple[Bundle, bool]:
    """``PATH[,PATH...][+tta]`` -> (bundle, tta).

    Raises:
        ValueError: members that differ in input size or intensity mode.
    """
    tta = spec.endswith("+tta")
    bundles = [load_bundle(p) for p in spec.removesuffix("+tta").split(",")]
    first = bundles[0]
    for b in bundles[1:]:
        if (b.image_size, b.intensity) != (first.image_size, first.intensity):
            raise ValueError(f"ensemble members must share input size and intensity: {first.path} has "
                             f"{first.image_size}/{first.intensity}, got {b.image_size}/{b.intensity} in {b.path}")
    if len(bundles) == 1:
        return first, tta
    return Bundle(ProbabilityMean([b.net for b in bundles]).eval(), first.metadata, first.path), tta


def lvef_errors(report: CamusEvaluation) -> dict[str, float]:
    """Clip name -> |LVEF network - LVEF expert| (points), clips where both exist."""
    return {c["case"]: abs(c["lvef_pred_pct"] - c["lvef_truth_pct"]) for c in report.cases
            if c["lvef_pred_pct"] is not None and c["lvef_truth_pct"] is not None}


def row(spec: str, report: CamusEvaluation, errors: dict[str, float], base: dict[str, float] | None) -> str:
    seg = summarise(report)["segmentation"]
    cells = [spec, f"{seg['all|ED|lv']['dice']:.3f} / {seg['all|ES|lv']['dice']:.3f}"]
    for view in VIEWS:
        keys = sorted(k for k in errors if view == "all" or k.endswith(view))
        if not keys:  # a split without this view (or no LVEF on any clip of it)
            cells.append("–")
            continue
        e = np.array([errors[k] for k in keys])
        cell = f"{e.mean():.2f} ({100 * np.mean(e <= 8):.0f} %)"
        if base is not None:
            paired = [k for k in keys if k in base]
            a, b = np.array([base[k] for k in paired]), np.array([errors[k] for k in paired])
            p = wilcoxon(a, b).pvalue if np.any(a != b) else 1.0
            cell += f"; {int((b < a).sum())} better / {int((b > a).sum())} worse, p {p:.2f}"
        cells.append(cell)
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="the CAMUS copy (e.g. ../shared/camus)")
    parser.add_argument("--split", default="valid")
    parser.add_argument("--model", action="append", required=True, help="PATH[,PATH...][+tta]; repeat; the first is the reference")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    lines = ["| model | LV Dice ED / ES | 4CH LVEF MAE (within 8) | 2CH LVEF MAE (within 8) | all LVEF MAE (within 8) |",
             "|---|---|---|---|---|"]
    base = None
    for spec in args.model:
        bundle, tta = load_model(spec)
        report = evaluate_camus(args.root, args.split, bundle, args.device, tta=tta)
        errors = lvef_errors(report)
        lines.append(row(spec, report, errors, base))
        base = errors if base is None else base
    head = (f"CAMUS `{args.split}` split; command: `python scripts/compare_camus_models.py {args.root} --split {args.split} "
            + " ".join(f"--model {m}" for m in args.model) + "`. LVEF MAE in points (share of clips within 8); "
            "against the first model: clips with a smaller / larger error, and the Wilcoxon signed-rank p value.")
    emit("Paired model comparison on CAMUS", head, lines, args.markdown)


if __name__ == "__main__":
    main()
