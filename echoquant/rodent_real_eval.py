"""The model on real mouse parasternal long-axis stills (``../shared/rodent-real``): is
what it traces plausibly a left ventricle?

``python -m echoquant.evaluate rodent-real ../shared/rodent-real --markdown docs/rodent_real.md
--montage docs/rodent_real_montage.jpg``

These frames carry no LV outline, so this is evidence of plausibility, not of accuracy.
Each frame (a still, with the pixel spacing of its ``frames.csv`` row) is segmented
by the shipped model exactly as a one-frame loop, and judged on criteria that any
correct PLAX trace meets and most wrong ones do not (:data:`CRITERIA`):

* **one closed cavity**: the network's LV label is one region (the largest holds at
  least 90 % of the LV pixels, before the Predictor's keep-largest step) that does not
  run along the image border for more than 10 % of its outline;
* **darker than its wall**: the cavity's median grey is below 85 % of the median grey
  of a band 0.15-0.45 mm outside it (blood against myocardium);
* **a PLAX long axis**: the cavity's principal axis lies more than 50 degrees from the
  beam (across the image);
* **mouse-sized**: the cavity's length along that axis and its largest width across
  it, in mm, lie within mouse ranges at any phase of the cycle (length 4.5-9.5 mm,
  diameter 1.8-6.0 mm; adult mice: LV length 6-8 mm at end-diastole, LVIDd 3.5-4.5 mm,
  LVIDs 2-3.5 mm, wider in dilated hearts).

The frames' licence is not stated: they are used here for evaluation only, never for
training, and are never copied into the project (the montage is a derived figure).
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.ndimage import binary_dilation

from echoquant.io.cine import CineMeta, EchoCine
from echoquant.quant.masks import largest_component
from echoquant.quant.view import cavity_axes, recognise_view
from echoquant.segment.predictor import Predictor
from echoquant.segment.result import LA, LV_CAVITY, LV_MYOCARDIUM

__all__ = ["CRITERIA", "FrameVerdict", "judge_frame", "read_still", "evaluate_rodent_real", "main"]

CRITERIA = {
    "min_main_region": 0.9,
    "max_border_share": 0.1,
    "max_darkness_ratio": 0.85,
    "band_mm": (0.15, 0.45),
    "min_axis_from_beam_deg": 50.0,
    "length_mm": (4.5, 9.5),
    "diameter_mm": (1.8, 6.0),
}


@dataclass
class FrameVerdict:
    """What the model traced on one still and whether it is a plausible mouse PLAX LV."""

    name: str
    series: str
    scanner: str
    plausible: bool
    reasons: list[str]
    values: dict[str, float]
    view: str | None = None


def read_still(png: Path, spacing_mm: float, name: str) -> EchoCine:
    """A grey still as a one-frame :class:`EchoCine` whose scan area is the whole image
    (the stills are cropped to it), with its spacing."""
    img = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FileNotFoundError(f"{png} cannot be read as an image")
    return EchoCine(frames=img[None], fps=None, frame_times_ms=None, spacing_mm=(spacing_mm, spacing_mm),
                    heart_rate_bpm=None, fan_mask=np.ones(img.shape, dtype=bool),
                    meta=CineMeta(source_path=str(png), view=None), calibration_source="table")


def _extent(rows: np.ndarray, cols: np.ndarray, direction: np.ndarray) -> float:
    proj = cols * direction[0] + rows * direction[1]
    return float(proj.max() - proj.min() + 1.0)


def judge_frame(image: np.ndarray, labels_raw: np.ndarray, spacing_mm: float) -> tuple[bool, list[str], dict[str, float]]:
    """Apply :data:`CRITERIA` to one frame's raw network labels (no keep-largest).

    Returns:
        ``(plausible, reasons it is not, measured values)``.
    """
    c = CRITERIA
    lv = labels_raw == LV_CAVITY
    values: dict[str, float] = {}
    if not lv.any():
        return False, ["no LV cavity traced"], values
    n, regions, stats, _ = cv2.connectedComponentsWithStats(lv.astype(np.uint8), connectivity=4)
    sizes = stats[1:, cv2.CC_STAT_AREA]
    main = 1 + int(np.argmax(sizes))
    cavity = regions == main
    values["main_region_share"] = float(sizes.max() / sizes.sum())
    border = np.zeros_like(cavity)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    outline = cavity & ~cv2.erode(cavity.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    values["border_share"] = float((outline & binary_dilation(border, iterations=2)).sum() / max(outline.sum(), 1))
    lo, hi = (int(round(m / spacing_mm)) for m in c["band_mm"])
    band = binary_dilation(cavity, iterations=hi) & ~binary_dilation(cavity, iterations=max(lo, 1))
    values["darkness_ratio"] = float(np.median(image[cavity]) / max(float(np.median(image[band])), 1.0))
    major, minor, direction = cavity_axes(cavity)
    cos = abs(float(direction[1]))  # beam straight down (linear array)
    values["axis_from_beam_deg"] = float(np.degrees(np.arccos(np.clip(cos, 0.0, 1.0))))
    rows, cols = np.nonzero(cavity)
    values["length_mm"] = _extent(rows, cols, direction) * spacing_mm
    values["diameter_mm"] = _extent(rows, cols, np.array([-direction[1], direction[0]])) * spacing_mm
    values["area_mm2"] = float(cavity.sum()) * spacing_mm**2
    values["myocardium_share"] = float((labels_raw == LV_MYOCARDIUM).sum() / max(cavity.sum(), 1))
    values["la_share"] = float((labels_raw == LA).sum() / max(cavity.sum(), 1))
    reasons = []
    if values["main_region_share"] < c["min_main_region"]:
        reasons.append(f"LV label split ({100 * values['main_region_share']:.0f}% in the largest region)")
    if values["border_share"] > c["max_border_share"]:
        reasons.append(f"cavity runs along the image border ({100 * values['border_share']:.0f}% of its outline)")
    if values["darkness_ratio"] > c["max_darkness_ratio"]:
        reasons.append(f"cavity not darker than its wall (grey ratio {values['darkness_ratio']:.2f})")
    if values["axis_from_beam_deg"] < c["min_axis_from_beam_deg"]:
        reasons.append(f"long axis {values['axis_from_beam_deg']:.0f} deg from the beam (not across the image)")
    for key in ("length_mm", "diameter_mm"):
        a, b = c[key]
        if not a <= values[key] <= b:
            reasons.append(f"{key.split('_')[0]} {values[key]:.1f} mm outside {a:g}-{b:g} mm")
    return not reasons, reasons, values


def evaluate_rodent_real(root: str | Path, model: str | Path | None = None, device: str = "cpu",
                         montage: Path | None = None) -> dict[str, Any]:
    """Segment and judge every frame listed in ``root/frames.csv``."""
    root = Path(root)
    table = root / "frames.csv"
    if not table.is_file():
        raise FileNotFoundError(f"{table} not found: point at the rodent-real folder (frames.csv and frames/)")
    rows = list(csv.DictReader(table.open()))
    predictor = Predictor(model, device=device, keep_largest=())
    verdicts, tiles = [], []
    t0 = time.perf_counter()
    for r in rows:
        spacing = float(r["spacing_mm"])
        cine = read_still(root / "frames" / f"{r['name']}.png", spacing, r["name"])
        seg = predictor.predict(cine)
        ok, reasons, values = judge_frame(cine.frames[0], seg.labels[0], spacing)
        lab = seg.labels[0]
        view, _ = recognise_view(largest_component(lab == LV_CAVITY), lab == LA, np.array([0.0, 1.0]))
        verdicts.append(FrameVerdict(r["name"], r["series"], r["scanner"], ok, reasons, values, view))
        if montage is not None:
            tiles.append(_tile(cine.frames[0], seg.labels[0], ok))
    elapsed = time.perf_counter() - t0
    if montage is not None:
        _write_montage(tiles, montage)
    return {"model": predictor.describe(), "verdicts": verdicts, "seconds": elapsed}


def _tile(image: np.ndarray, labels: np.ndarray, ok: bool, height: int = 150) -> np.ndarray:
    """The frame with the LV cavity (red), myocardium (green) and LA (blue) outlines,
    and a bar under it: green when plausible, red when not."""
    rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    scale = height / image.shape[0]
    rgb = cv2.resize(rgb, (int(round(image.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
    lab = cv2.resize(labels, (rgb.shape[1], height), interpolation=cv2.INTER_NEAREST)
    for label, colour in ((LV_MYOCARDIUM, (60, 220, 60)), (LA, (255, 140, 40)), (LV_CAVITY, (40, 40, 255))):
        found, _ = cv2.findContours((lab == label).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, found, -1, colour, 1, cv2.LINE_AA)
    bar = np.zeros((5, rgb.shape[1], 3), np.uint8)
    bar[:] = (60, 200, 60) if ok else (40, 40, 230)
    return np.vstack([rgb, bar])


def _write_montage(tiles: list[np.ndarray], path: Path, width: int = 2400) -> None:
    rows, row, used = [], [], 0
    for t in tiles:
        if used + t.shape[1] > width and row:
            rows.append(row)
            row, used = [], 0
        row.append(t)
        used += t.shape[1] + 2
    if row:
        rows.append(row)
    canvas = []
    for r in rows:
        line = np.hstack([np.pad(t, ((0, 0), (0, 2), (0, 0))) for t in r])
        canvas.append(np.pad(line, ((0, 2), (0, width - line.shape[1]), (0, 0))))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(canvas), [cv2.IMWRITE_JPEG_QUALITY, 82])


def _markdown(report: dict[str, Any], cmd: str) -> str:
    v = report["verdicts"]
    ok = [x for x in v if x.plausible]
    series = sorted({x.series for x in v})
    series_ok = [s for s in series if all(x.plausible for x in v if x.series == s)]
    lines = [
        "# The shipped model on real mouse PLAX stills (`../shared/rodent-real`)",
        "",
        f"Model `{report['model']}`; command: `{cmd}`; {time.strftime('%Y-%m-%d')}; "
        f"{len(v)} frames in {report['seconds']:.0f} s.",
        "",
        "**Plausibility, not accuracy.** These real Vevo 2100/3100 frames (40 MHz) carry no LV outline: the table "
        "says whether what the model traced is plausibly a mouse left ventricle in a parasternal long axis, by the "
        "criteria of `echoquant.rodent_real_eval` (one closed cavity, darker than the band 0.15-0.45 mm around it, "
        "long axis across the beam, length 4.5-9.5 mm and diameter 1.8-6.0 mm). A trace can pass them and still sit "
        "a little inside or outside the endocardium; look at the montage. The frames are an appearance reference and "
        "an evaluation set only: never trained on, never copied into the project (their licence is not stated).",
        "",
        f"**{len(ok)} of {len(v)} frames ({100 * len(ok) / max(len(v), 1):.1f} %) get one plausible LV cavity; "
        f"{len(series_ok)} of {len(series)} series pass on every frame. The view recogniser "
        f"(`echoquant.quant.view.recognise_view`, used when a header names no view) calls "
        f"{sum(x.view == 'PLAX' for x in v)} of {len(v)} frames PLAX "
        f"({', '.join(f'{k}: {sum(x.view == k for x in v)}' for k in ('SAX', 'A4C', None) if any(x.view == k for x in v))}).**",
        "",
        "| scanner | frames | plausible | median length (mm) | median diameter (mm) | median cavity/wall grey |",
        "|---|---|---|---|---|---|",
    ]
    for scanner in sorted({x.scanner for x in v}):
        sub = [x for x in v if x.scanner == scanner]
        vals = [x.values for x in sub if "length_mm" in x.values]
        lines.append(f"| {scanner} | {len(sub)} | {sum(x.plausible for x in sub)} | "
                     f"{np.median([x['length_mm'] for x in vals]):.2f} | {np.median([x['diameter_mm'] for x in vals]):.2f} | "
                     f"{np.median([x['darkness_ratio'] for x in vals]):.2f} |")
    lines += ["", "Montage (`rodent_real_montage.jpg`): every frame in `frames.csv` order; LV cavity red, myocardium "
              "green, LA blue; the bar under a frame is green when it passes, red when not.", "",
              "![montage](rodent_real_montage.jpg)", "", "## Frames that fail", ""]
    failed = [x for x in v if not x.plausible]
    if not failed:
        lines.append("None.")
    else:
        lines += ["| frame | series | scanner | why |", "|---|---|---|---|"]
        lines += [f"| {x.name} | {x.series} | {x.scanner} | {'; '.join(x.reasons)} |" for x in failed]
    lines += ["", "## Every frame", "", "| frame | series | plausible | length (mm) | diameter (mm) | area (mm²) | "
              "cavity/wall grey | axis from beam (deg) |", "|---|---|---|---|---|---|---|---|"]
    for x in v:
        d = x.values
        lines.append(f"| {x.name} | {x.series} | {'yes' if x.plausible else 'no'} | {d.get('length_mm', float('nan')):.2f} | "
                     f"{d.get('diameter_mm', float('nan')):.2f} | {d.get('area_mm2', float('nan')):.1f} | "
                     f"{d.get('darkness_ratio', float('nan')):.2f} | {d.get('axis_from_beam_deg', float('nan')):.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m echoquant.evaluate rodent-real", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="the rodent-real folder (frames.csv, frames/)")
    parser.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--markdown", type=Path, help="write the report here (e.g. docs/rodent_real.md)")
    parser.add_argument("--montage", type=Path, help="write the montage here (e.g. docs/rodent_real_montage.jpg)")
    args = parser.parse_args(argv)
    report = evaluate_rodent_real(args.root, args.model, args.device, args.montage)
    v = report["verdicts"]
    print(f"{sum(x.plausible for x in v)} of {len(v)} frames plausible ({report['model']}, {report['seconds']:.0f} s)")
    for x in v:
        if not x.plausible:
            print(f"  {x.name} ({x.series}): {'; '.join(x.reasons)}")
    if args.markdown:
        cmd = "python -m echoquant.evaluate rodent-real " + " ".join(argv if argv is not None else [])
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(_markdown(report, cmd.strip()))
