"""How well does a model trace the LV on a real loop? Compares a model's LV cavity
with the rough reference tracings in ``scripts/data/real_lv_reference.json`` (5
frames of pydicom-data's real apical 4-chamber loop, drawn by a developer, not an
expert), and measures what needs no tracing: how much the LV area jumps from frame
to frame, and which QC flags quantification raises.

Usage:
    python scripts/eval_real_reference.py [--model DIR] [--markdown docs/real_reference_eval.md] [--png docs/real_reference_overlay.png]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt

REFERENCE = Path(__file__).with_name("data") / "real_lv_reference.json"


@dataclass
class FrameScore:
    """Agreement of a predicted LV cavity with the reference on one frame."""

    frame: int
    phase: str
    dice: float
    mean_contour_distance_mm: float
    area_ratio: float


def check_same_loop(path: str, frames_shape: tuple[int, ...]) -> None:
    """The tracings belong to one file: refuse another loop rather than score against
    outlines drawn on a different heart.

    Raises:
        ValueError: the file's SOP Instance UID or frame geometry differs.
    """
    import pydicom

    doc = json.loads(REFERENCE.read_text())
    uid = str(pydicom.dcmread(path, stop_before_pixels=True).get("SOPInstanceUID", ""))
    if uid != doc["sop_instance_uid"] or list(frames_shape) != doc["frames_rows_cols"]:
        raise ValueError(f"{path} is not the traced loop ({doc['file']}): SOP Instance UID {uid!r}, frames "
                         f"{tuple(frames_shape)}; expected {doc['sop_instance_uid']!r}, {tuple(doc['frames_rows_cols'])}")


def reference_masks(shape: tuple[int, int]) -> tuple[dict[int, np.ndarray], dict[int, str], float]:
    """Reference LV masks by frame, their cardiac phase, and the pixel spacing (mm)."""
    doc = json.loads(REFERENCE.read_text())
    masks, phases = {}, {}
    for key, item in doc["frames"].items():
        mask = np.zeros(shape, np.uint8)
        cv2.fillPoly(mask, [np.round(np.asarray(item["contour_xy"], float)).astype(np.int32)], 1)
        masks[int(key)] = mask.astype(bool)
        phases[int(key)] = item["phase"]
    return masks, phases, float(doc["pixel_spacing_mm"])


def _boundary(mask: np.ndarray) -> np.ndarray:
    return mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def mean_contour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean distance (pixels) between the boundaries of two masks."""
    if not a.any() or not b.any():
        return float("inf")
    ba, bb = _boundary(a), _boundary(b)
    da, db = distance_transform_edt(~ba), distance_transform_edt(~bb)
    return float(0.5 * (db[ba].mean() + da[bb].mean()))


def score_frames(lv: np.ndarray, masks: dict[int, np.ndarray], phases: dict[int, str], spacing_mm: float) -> list[FrameScore]:
    """Dice, contour distance and area ratio of the predicted LV (T, H, W) on each reference frame."""
    out = []
    for i, ref in sorted(masks.items()):
        pred = lv[i]
        dice = 2.0 * float((pred & ref).sum()) / float(pred.sum() + ref.sum())
        out.append(FrameScore(i, phases[i], dice, mean_contour_distance(pred, ref) * spacing_mm,
                              float(pred.sum()) / float(ref.sum())))
    return out


def area_jitter(lv: np.ndarray) -> float:
    """Mean absolute second difference of the LV area over its 5-95 % range: near 0
    for a smooth volume curve, large when the trace jumps between frames."""
    area = lv.reshape(len(lv), -1).sum(axis=1).astype(float)
    spread = np.percentile(area, 95) - np.percentile(area, 5)
    return float(np.abs(np.diff(area, 2)).mean() / spread) if spread > 0 else float("inf")


def decoder_variants(path: str, cine) -> tuple[dict[str, object], dict[str, str]]:
    """The same loop decoded by each JPEG decoder plugin (their pixels differ by a
    few grey levels): a robust model gives the same LVEF from each.

    Returns:
        ``(cines by plugin, reason by plugin that could not decode it)``.
    """
    from dataclasses import replace

    from pydicom.pixels import iter_pixels

    out, skipped = {}, {}
    for plugin in ("pillow", "pylibjpeg", "gdcm"):
        try:
            y = np.stack([raw[..., 0] if raw.ndim == 3 else raw
                          for raw in iter_pixels(path, raw=True, decoding_plugin=plugin)]).astype(np.uint8)
        except Exception as exc:  # noqa: BLE001 - pydicom raises various types for a missing or unfit plugin
            skipped[plugin] = f"{type(exc).__name__}: {exc}"[:120]
            continue
        out[plugin] = replace(cine, frames=y)
    return out, skipped


def _lvef_text(value: float | None) -> str:
    return "withheld" if value is None else f"{value:.1f} %"


def report_lines(name: str, scores: list[FrameScore], jitter: float, res) -> list[str]:
    """The markdown table and summary lines of one model's run."""
    flags = sorted({f.split(":")[0] for f in res.flags})
    return [
        f"Model `{name}` on pydicom-data's real A4C loop `color3d_jpeg_baseline.dcm` (120 frames), "
        "against rough developer tracings (`scripts/data/real_lv_reference.json`, not expert annotations).",
        "",
        "| frame | phase | LV Dice | mean contour distance (mm) | predicted / reference area |",
        "|---|---|---|---|---|",
        *[f"| {s.frame} | {s.phase} | {s.dice:.3f} | {s.mean_contour_distance_mm:.2f} | {s.area_ratio:.2f} |" for s in scores],
        f"| mean | | {np.mean([s.dice for s in scores]):.3f} | {np.mean([s.mean_contour_distance_mm for s in scores]):.2f} | |",
        "",
        f"Area jitter (mean |second difference| of the LV area over its 5-95 % range; lower is smoother): {jitter:.3f}.",
        f"Quantification: LVEF {_lvef_text(res.lvef_pct)}, GLS {'withheld' if res.gls_pct is None else f'{res.gls_pct:.1f} %'}, "
        f"beats {res.summary['n_beats']}; flags: {', '.join(flags) or 'none'}.",
    ]


def decoder_line(path: str, cine, predictor) -> str:
    """LVEF of the loop as decoded by each available JPEG decoder plugin."""
    from echoquant.quant import quantify

    variants, skipped = decoder_variants(path, cine)
    per = [f"{plugin} {_lvef_text(quantify(other, predictor.predict(other)).lvef_pct)}" for plugin, other in variants.items()]
    line = f"LVEF by JPEG decoder plugin (pixels differ by a few grey levels): {', '.join(per) or 'none available'}"
    return line + (f"; not compared: {', '.join(sorted(skipped))}." if skipped else ".")


def _overlay_box(masks: dict[int, np.ndarray], box, pad: int = 30) -> tuple[int, int, int, int]:
    """Rows/columns around every reference outline, inside the sector box."""
    rows, cols = np.nonzero(np.any(np.stack(list(masks.values())), axis=0))
    return (max(int(rows.min()) - pad, box.row_start), min(int(rows.max()) + pad, box.row_stop),
            max(int(cols.min()) - pad, box.col_start), min(int(cols.max()) + pad, box.col_stop))


def overlay_png(frames: np.ndarray, lv: np.ndarray, masks: dict[int, np.ndarray], path: Path, box) -> None:
    """Reference (yellow) and predicted (red) LV outlines on the reference frames."""
    tiles = []
    for i, ref in sorted(masks.items()):
        rgb = cv2.cvtColor(frames[i], cv2.COLOR_GRAY2BGR)
        for mask, colour in ((ref, (0, 220, 255)), (lv[i], (0, 0, 255))):
            cnt, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(rgb, cnt, -1, colour, 1)
        tile = rgb[box[0] : box[1], box[2] : box[3]]
        tile = cv2.resize(tile, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        cv2.putText(tile, f"frame {i}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1)
        tiles.append(tile)
    cv2.imwrite(str(path), np.hstack(tiles))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model bundle folder (default: the shipped model)")
    parser.add_argument("--dicom", default=None, help="the loop (default: pydicom-data's color3d_jpeg_baseline.dcm)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tta", action="store_true", help="test-time augmentation (left-right flip)")
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args()
    from echoquant.io import read_cine
    from echoquant.quant import quantify
    from echoquant.segment.predictor import Predictor

    if args.dicom is None:
        from pydicom.data import get_testdata_file

        args.dicom = get_testdata_file("color3d_jpeg_baseline.dcm")
    cine = read_cine(args.dicom)
    check_same_loop(args.dicom, cine.frames.shape)
    predictor = Predictor(args.model, device=args.device, tta=args.tta)
    seg = predictor.predict(cine)
    lv = seg.labels == 1
    masks, phases, spacing = reference_masks(cine.frames.shape[1:])
    lines = report_lines(predictor.name, score_frames(lv, masks, phases, spacing), area_jitter(lv), quantify(cine, seg))
    lines.append(decoder_line(args.dicom, cine, predictor))
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text("# Default model on a real loop, against reference tracings\n\n"
                                 "`python scripts/eval_real_reference.py --markdown docs/real_reference_eval.md "
                                 "--png docs/real_reference_overlay.png`\n\n" + text + "\n\n"
                                 "![reference (yellow) and model (red) LV outlines](real_reference_overlay.png)\n")
    if args.png:
        overlay_png(cine.frames, lv, masks, args.png, _overlay_box(masks, cine.sector_box))

if __name__ == "__main__":
    main()
