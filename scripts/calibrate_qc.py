"""Calibrate and check the LV-view gate, the view classifier, the 95 % intervals and the QC flags.

    python scripts/calibrate_qc.py collect --camus ../shared/camus --out outputs/qc
    python scripts/calibrate_qc.py report --out outputs/qc --markdown docs/qc.md

``collect`` runs the shipped models on data with known truth and writes one CSV per set:

* ``camus_valid.csv``: the CAMUS valid split (expert masks; ED/ES pairs): gate features and
  decision, view found, LVEF/EDV/ESV from the predicted and the expert masks (the same
  single-plane method), the segmentation spreads the intervals use, QC features;
* ``synth_fit.csv`` and ``synth_check.csv``: generated human and rodent loops (truth from the
  generator) scored end to end by :class:`echoquant.Analyzer`; the fit suite's seeds
  (930000...) differ from the check suite's (900000..., the held-out suite of
  ``docs/quant_accuracy.md``);
* ``corpus.csv``: every multi-frame file of ``../shared/dicom-corpus`` (gate decision).

``report`` fits ``k`` and the floor of each interval model on the fit half (CAMUS valid
patients with odd numbers plus ``synth_fit``), reports coverage on the other half
(even patients plus ``synth_check``) and on everything, and the QC tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from echoquant.quant.intervals import INTERVAL_MODELS, IntervalModel, Z95  # noqa: E402

SEEDS = {"synth_fit": 930000, "synth_check": 900000}
CORPUS_LOOPS = ("orthanc-tests/Issue16.dcm", "orthanc-tests/Issue164.dcm", "dbdicom-rubomedical/0020.DCM",
                "pydicom-deid/GREYSCALE_CINE.dcm", "pylibjpeg-data/JPEGLosslessP14SV1_3s_2f_u_08_08.dcm")


# ------------------------------------------------------------------------- collect

def _camus_rows(camus: Path, converted: Path | None) -> list[dict]:
    from echoquant.camus_eval import lv_volume
    from echoquant.io import read_cine
    from echoquant.quant import quantify
    from echoquant.quant.intervals import lvef_spread, volume_spread
    from echoquant.quant.pipeline import transducer_point
    from echoquant.segment.adapters import CAMUS_SOURCES, convert_camus, read_camus_cases
    from echoquant.segment.predictor import Predictor
    from echoquant.segment.views import CAMUS_VIEW, ViewClassifier

    predictor = Predictor(device="cpu", temporal_window=1)
    views = ViewClassifier()
    rows = []
    with tempfile.TemporaryDirectory(prefix="echoquant_qc_") as tmp:
        folder = converted
        if folder is None:
            folder = Path(tmp)
            for name, calibrated in CAMUS_SOURCES.items():
                if (camus / name).is_dir():
                    convert_camus(camus / name, folder, calibrated=calibrated, splits=("valid",))
        for case in read_camus_cases(folder):
            if case.split != "valid":
                continue
            cine = read_cine(folder / case.relpath())
            truth = np.load(folder / case.relpath().replace(".dcm", "_labels.npz"))["labels"]
            pick = [0, cine.n_frames - 1]
            seg = predictor.predict(cine)
            found = views.predict(cine.frames[pick], seg.labels[pick], cine.fan_mask)
            quant = quantify(cine, seg, track=False, found_view=(found.view, found.probability))
            spacing = (case.spacing_mm, case.spacing_mm) if case.spacing_mm else None
            apex = transducer_point(cine)
            vol = {f"{who}_{ph}": lv_volume(lab[k], spacing, apex) for who, lab in (("pred", seg.labels), ("truth", truth))
                   for ph, k in (("ed", pick[0]), ("es", pick[1]))}
            areas = seg.lv_area_levels
            row = {"case": case.name, "patient": case.patient, "view_true": CAMUS_VIEW[case.view],
                   "quality": case.image_quality, "calibrated": spacing is not None,
                   "view_found": found.view, "view_probability": found.probability,
                   "gate_pass": not any(f.startswith("no_lv_view") for f in quant.flags),
                   "gate_reason": next((f for f in quant.flags if f.startswith("no_lv_view")), ""),
                   **{f"gate_{k}": v for k, v in quant.summary["lv_view"].items()},
                   "confidence_min": float(np.min(seg.confidence()[pick])), **vol}
            ok = all(vol[k] for k in ("pred_ed", "pred_es", "truth_ed", "truth_es"))
            if ok:
                row["lvef_pred"] = 100 * (1 - vol["pred_es"] / vol["pred_ed"])
                row["lvef_truth"] = 100 * (1 - vol["truth_es"] / vol["truth_ed"])
                row["lvef_spread"] = lvef_spread(vol["pred_ed"], vol["pred_es"], areas[pick[0]], areas[pick[1]])
                row["edv_spread"] = volume_spread(vol["pred_ed"], areas[pick[0]])
                row["esv_spread"] = volume_spread(vol["pred_es"], areas[pick[1]])
            rows.append(row)
    return rows


def _synth_rows(seed: int, n: int) -> list[dict]:
    from echoquant.api import Analyzer
    from echoquant.synth.write import write_suite

    analyzer = Analyzer(device="cpu")
    rows = []
    with tempfile.TemporaryDirectory(prefix="echoquant_qc_synth_") as tmp:
        for preset in ("human", "rodent"):
            folder = Path(tmp) / preset
            write_suite(folder, n, seed=seed, preset=preset)
            truth = pd.read_csv(folder / "truth.csv")
            for _, t in truth.iterrows():
                r = analyzer.score(folder / t["file"])
                s, beats = r.quant.summary, r.quant.beats
                rows.append({
                    "file": f"{preset}/{t['file']}", "species": t["species"], "preset": preset,
                    "lvef_truth": t["lvef_pct"], "gls_truth": t["gls_pct"], "edv_truth": t["edv_ml"],
                    "esv_truth": t["esv_ml"], "qc_pass": r.qc_pass, "flags": ";".join(f.split(":")[0] for f in r.qc_flags),
                    "n_beats": s["n_beats"], "lvef_pred": s["lvef_pct"], "gls_pred": s["gls_pct"],
                    "edv_pred": s["edv_ml"], "esv_pred": s["esv_ml"],
                    "view_found": s.get("view"), "gate_pass": "no_lv_view" not in ";".join(r.qc_flags),
                    "beats": json.dumps([{k: getattr(b, k) for k in ("lvef_pct", "gls_pct", "edv_ml", "esv_ml",
                                                                    "lvef_seg_spread_pct", "gls_method_spread_pct",
                                                                    "edv_seg_spread_frac", "esv_seg_spread_frac",
                                                                    "fb_failure", "ed_frame", "es_frame")}
                                         for b in beats]),
                    "ed_truth": t["ed_frame"], "es_truth": t["es_frame"],
                })
    return rows


def _corpus_rows(corpus: Path) -> list[dict]:
    from echoquant.api import Analyzer

    analyzer = Analyzer(device="cpu")
    rows = []
    for name in CORPUS_LOOPS:
        r = analyzer.score(corpus / name)
        rows.append({"file": name, "lvef_pct": r.lvef_pct, "gls_pct": r.gls_pct, "edv_ml": r.edv_ml,
                     "qc_pass": r.qc_pass, "reason": next((f for f in r.qc_flags if f.startswith("no_lv_view")), "")})
    return rows


def collect(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if "camus" in args.sets:
        pd.DataFrame(_camus_rows(args.camus, args.converted)).to_csv(args.out / "camus_valid.csv", index=False)
        print(f"camus valid: {time.perf_counter() - start:.0f} s", flush=True)
    for name, seed in SEEDS.items():
        if name in args.sets:
            pd.DataFrame(_synth_rows(seed, args.n)).to_csv(args.out / f"{name}.csv", index=False)
            print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    if "corpus" in args.sets and args.corpus.is_dir():
        pd.DataFrame(_corpus_rows(args.corpus)).to_csv(args.out / "corpus.csv", index=False)


# -------------------------------------------------------------------------- report

def _beats(df: pd.DataFrame) -> list[list[dict]]:
    return [json.loads(b) for b in df["beats"]]


def _interval_inputs(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per clip: value, truth, beat standard error and median spread of one quantity
    (CAMUS rows are single ED/ES pairs: no beat spread)."""
    value_col, truth_col = f"{key}_pred", f"{key}_truth"
    spread_key = {"lvef": "lvef_seg_spread_pct", "gls": "gls_method_spread_pct", "edv": "edv_seg_spread_frac",
                  "esv": "esv_seg_spread_frac"}[key]
    rel = key in ("edv", "esv")
    out = pd.DataFrame({"value": df[value_col], "truth": df[truth_col]})
    if "beats" in df:
        se, sp = [], []
        for beats, value in zip(_beats(df), df[value_col]):
            v = np.array([b[f"{key}_pct" if key in ("lvef", "gls") else f"{key}_ml"] for b in beats
                          if b[f"{key}_pct" if key in ("lvef", "gls") else f"{key}_ml"] is not None], dtype=float)
            s = np.array([b[spread_key] for b in beats if b[spread_key] is not None], dtype=float)
            scale = abs(value) if rel and value and np.isfinite(value) else 1.0
            se.append(float(np.std(v, ddof=1) / np.sqrt(len(v))) / scale if len(v) >= 2 else 0.0)
            sp.append(float(np.median(s)) if len(s) else 0.0)
        out["se"], out["spread"] = se, sp
    else:
        out["se"], out["spread"] = 0.0, df[f"{key}_spread"].fillna(0.0)
    out["scale"] = out["value"].abs() if rel else 1.0
    return out.dropna(subset=["value", "truth"])


def _half(d: pd.DataFrame, m: IntervalModel) -> np.ndarray:
    return Z95 * np.sqrt(d["se"] ** 2 + (m.k * d["spread"]) ** 2 + m.floor**2) * d["scale"]


def _coverage(d: pd.DataFrame, m: IntervalModel) -> float:
    return float(np.mean(np.abs(d["value"] - d["truth"]) <= _half(d, m))) if len(d) else float("nan")


def _fit(sets: list[pd.DataFrame], relative: bool, target: float = 0.93) -> IntervalModel:
    """Narrowest (mean half-width over the sets) model covering ``target`` of each set."""
    ks = np.arange(0.0, 4.01, 0.25)
    floors = np.arange(0.0, 0.301, 0.005) if relative else np.arange(0.0, 12.01, 0.1)
    best, best_w = None, np.inf
    for k in ks:
        for f in floors:
            m = IntervalModel(float(k), float(round(f, 4)), relative)
            if all(_coverage(d, m) >= target for d in sets if len(d)):
                w = float(np.mean([np.mean(_half(d, m)) / (np.mean(d["scale"]) if relative else 1) for d in sets if len(d)]))
                if w < best_w:
                    best, best_w = m, w
                break  # larger floors only widen
    if best is None:
        raise RuntimeError("no interval model reaches the coverage target")
    return best


def report(args: argparse.Namespace) -> None:
    camus = pd.read_csv(args.out / "camus_valid.csv")
    fit_s, check_s = (pd.read_csv(args.out / f"{n}.csv") for n in SEEDS)
    odd = camus["patient"].str[-1].astype(int) % 2 == 1
    lines = []
    fitted = {}
    for key, domains in (("lvef", ("camus", "synth")), ("gls", ("synth",)), ("edv", ("camus", "synth")),
                         ("esv", ("camus", "synth"))):
        rel = key in ("edv", "esv")
        cam = camus[camus["calibrated"]] if rel else camus
        cam = cam.rename(columns={f"{key}_pred": f"{key}_pred"})
        if rel:
            cam = cam.assign(**{f"{key}_pred": cam[f"pred_{key[:2]}"], f"{key}_truth": cam[f"truth_{key[:2]}"]})
        fit_sets, check_sets = [], []
        for species in ("human", "rodent"):
            fit_sets.append(_interval_inputs(fit_s[fit_s["preset"] == species], key))
            check_sets.append(_interval_inputs(check_s[check_s["preset"] == species], key))
        if "camus" in domains:
            fit_sets.append(_interval_inputs(cam[odd.loc[cam.index]], key))
            check_sets.append(_interval_inputs(cam[~odd.loc[cam.index]], key))
        m = _fit(fit_sets, rel)
        fitted[key] = m
        names = ["synth human", "synth rodent"] + (["CAMUS valid"] if "camus" in domains else [])
        everything = [_interval_inputs(check_s[check_s["preset"] == s], key) for s in ("human", "rodent")]
        if "camus" in domains:
            everything.append(_interval_inputs(cam, key))
        for name, f, c, e in zip(names, fit_sets, check_sets, everything):
            unit = "% of value" if rel else "points"
            half = _half(e, m) / (e["scale"] if rel else 1) * (100 if rel else 1)
            lines.append(f"| {key} | {name} | {_coverage(f, m):.0%} (n={len(f)}) | {_coverage(c, m):.0%} (n={len(c)}) | "
                         f"{_coverage(e, m):.0%} (n={len(e)}) | {np.median(half):.1f} {unit} |")
    print("| value | data | coverage, fit half | coverage, check half | coverage, all checked | median half-width |")
    print("|---|---|---|---|---|---|")
    print("\n".join(lines))
    print({k: (v.k, v.floor) for k, v in fitted.items()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--camus", type=Path, default=ROOT.parent / "shared" / "camus")
    c.add_argument("--converted", type=Path, default=None, help="an `echoquant convert camus` output to reuse")
    c.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "dicom-corpus")
    c.add_argument("--n", type=int, default=20, help="generated loops per preset and suite")
    c.add_argument("--out", type=Path, default=ROOT / "outputs" / "qc")
    c.add_argument("--sets", nargs="+", default=["camus", *SEEDS, "corpus"], choices=["camus", *SEEDS, "corpus"])
    r = sub.add_parser("report")
    r.add_argument("--out", type=Path, default=ROOT / "outputs" / "qc")
    r.add_argument("--markdown", type=Path, default=None)
    args = ap.parse_args()
    {"collect": collect, "report": report}[args.cmd](args)


if __name__ == "__main__":
    main()
