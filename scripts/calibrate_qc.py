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

from echoquant.quant.intervals import IntervalModel, Z95  # noqa: E402

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
            row["view_found_resampled"] = _resampled_view(cine, predictor, views, case.view)
            ok = all(vol[k] for k in ("pred_ed", "pred_es", "truth_ed", "truth_es"))
            if ok:
                row["lvef_pred"] = 100 * (1 - vol["pred_es"] / vol["pred_ed"])
                row["lvef_truth"] = 100 * (1 - vol["truth_es"] / vol["truth_ed"])
                row["lvef_spread"] = lvef_spread(vol["pred_ed"], vol["pred_es"], areas[pick[0]], areas[pick[1]])
                row["edv_spread"] = volume_spread(vol["pred_ed"], areas[pick[0]])
                row["esv_spread"] = volume_spread(vol["pred_es"], areas[pick[1]])
            rows.append(row)
    return rows


def _resampled_view(cine, predictor, views, camus_view: str) -> str:
    """The view found after resampling the image the other way: 4CH squeezed to a 224 x 224
    square (as this CAMUS copy's 2CH images were), 2CH stretched back to 5:4. A classifier
    that learned the squeeze instead of the view fails here."""
    import cv2
    from dataclasses import replace

    size = (224, 224) if camus_view == "4CH" else (280, 224)
    frames = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in cine.frames])
    fan = cv2.resize(cine.fan_mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    other = replace(cine, frames=frames, fan_mask=fan, spacing_mm=None)
    return views.predict(other.frames, predictor.predict(other).labels, other.fan_mask).view


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


def _real_loops() -> list[tuple[str, str]]:
    """The real apical 4-chamber loops that ship with pydicom and pydicom-data."""
    from pydicom import examples
    from pydicom.data import get_testdata_file

    loops = [("pydicom examples.ybr_color", str(examples.get_path("ybr_color")))]
    try:
        loops.append(("pydicom-data color3d_jpeg_baseline.dcm", get_testdata_file("color3d_jpeg_baseline.dcm")))
    except Exception:  # pydicom-data not installed: the table says which loops were run
        pass
    return loops


def _corpus_rows(corpus: Path) -> list[dict]:
    from echoquant.api import Analyzer

    analyzer = Analyzer(device="cpu")
    rows = []
    files = [("real A4C loop", name, path) for name, path in _real_loops()]
    files += [("corpus, not measurable", name, corpus / name) for name in CORPUS_LOOPS if (corpus / name).is_file()]
    for kind, name, path in files:
        r = analyzer.score(path)
        s = r.quant.summary
        rows.append({"kind": kind, "file": name, "lvef_pct": r.lvef_pct, "gls_pct": r.gls_pct, "edv_ml": r.edv_ml,
                     "qc_pass": r.qc_pass, "view": s.get("view"), "view_probability": s.get("view_probability"),
                     "reason": next((f for f in r.qc_flags if f.startswith("no_lv_view")), ""),
                     **{f"gate_{k}": v for k, v in (s.get("lv_view") or {}).items()}})
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


def _fit(sets: list[pd.DataFrame], relative: bool, target: float = 0.93, band: tuple[float, float] = (0.88, 0.97)) -> IntervalModel:
    """The model whose coverage is closest to ``target`` on its worst fit set, among those
    covering every set within ``band``; ties go to the narrower one. Without such a
    model, the narrowest one covering at least ``band[0]`` everywhere."""
    ks = np.arange(0.0, 12.01, 0.25)
    floors = np.arange(0.0, 0.301, 0.005) if relative else np.arange(0.0, 12.01, 0.25)
    sets = [d for d in sets if len(d)]
    best, best_key = None, (np.inf, np.inf)
    fallback, fallback_w = None, np.inf
    for k in ks:
        for f in floors:
            m = IntervalModel(float(k), float(round(f, 4)), relative)
            cov = [_coverage(d, m) for d in sets]
            w = float(np.mean([np.mean(_half(d, m) / d["scale"]) for d in sets]))
            if min(cov) >= band[0] and w < fallback_w:
                fallback, fallback_w = m, w
            if band[0] <= min(cov) and max(cov) <= band[1]:
                key = (round(max(abs(c - target) for c in cov), 6), w)
                if key < best_key:
                    best, best_key = m, key
    if best is None and fallback is None:
        raise RuntimeError("no interval model reaches the coverage band")
    return best or fallback


PREAMBLE = """# Quality control: what the LV-view gate, the intervals and the flags are worth

Generated by `scripts/calibrate_qc.py` (`collect`, about 20 minutes on 2 CPU cores, then `report
--markdown docs/qc.md`); re-run both after retraining a model: every threshold and constant here
belongs to the shipped models.

**What runs on every loop** (`echoquant analyze`, `score()`):

1. **LV-view gate** (`echoquant.quant.view`). The segmentation network draws an "LV" in almost any
   ultrasound image, so before anything is measured the segmentation is checked for what a
   measurable LV looks like: the network is sure of the cavity, myocardium wraps it, it is
   elongated, fills a plausible share of the sector, is not cut by the sector's edge, points at the
   transducer in human apical views, and colour Doppler does not cover the sector; a header that
   names a view not measured (human parasternal, subcostal) also stops the loop. A stopped loop keeps
   `status ok` with every value empty, `qc_pass = false` and a `no_lv_view: <reason>` flag. The
   thresholds sit below the lowest value seen on real apical images (CAMUS valid, the two real
   loops) and generated loops; the non-cardiac corpus loops were only used to check them.
2. **View classifier** (`echoquant.segment.views`, `models/echoquant_view_cnn`, CC BY-NC-SA 4.0 as
   trained on CAMUS). When the header names no view, human loops get `A4C` or `A2C` from their
   largest- and smallest-cavity frames (grey levels plus the network's masks, in a box around the LV),
   so regional segments get wall names; below probability 0.75 the view stays unknown
   (`view_uncertain`). The results table says where the view came from (`view_source`: header or
   image). It knows only A4C and A2C (CAMUS has no 3-chamber views); rodent loops keep their
   header's view.
3. **95 % intervals** (`echoquant.quant.intervals`) on LVEF, GLS, EDV and ESV: `lvef_ci_low/high`,
   `gls_ci_low/high`, `edv_ci_low/high`, `esv_ci_low/high` in `results.csv`, the clip JSON and
   `EchoResult.lvef_ci` etc. Half-width = 1.96 sqrt(se_beats² + (k u)² + floor²): the beat-to-beat
   standard error, the loop's segmentation uncertainty u (how far the value moves when the LV border
   is drawn at probability 0.75 or 0.25 instead of 0.5; for GLS, how far tracked-line and contour
   strain disagree) and a floor. The segmentation term carries most of the width, which is what lets
   one model cover both real images (wider borders, wider intervals) and generated ones.
4. **Flags** (`echoquant.flags.EXCLUDING_CODES` exclude a clip from statistics): `no_lv_view`,
   `too_few_beats`, `foreshortening`, `view_unstable`, `low_confidence`, `jitter`, `color_doppler`.

**One-cycle loops.** A loop that holds one cycle (ED on the first frame, the next ED or ES on the last)
gives one measured beat: an ED or ES on an edge frame counts when the curve turns there or is flat
there, not when the loop starts in mid-ejection (`echoquant.quant.cycle`; tests in
`tests/test_trust.py` on generated rodent and human one-cycle loops, including 32 frames/s).

**What is not reached.** Issue 16 asks that, among clips passing QC on CAMUS valid, 95 % have an LVEF
error of at most 8 points with at most 10 % of Good/Medium patients flagged. With the shipped
segmentation model only 68 % of CAMUS valid clips are within 8 points of the expert-mask LVEF, and no
flag found here separates the rest: the interval width (Spearman 0.24 with the error; the network's
median LV probability, -0.30, is no better) lifts the share only to 75 % even when it flags 81 % of
the Good/Medium clips (table below). The
limit is the model's accuracy on real images (issue 15), not the QC rule, so the interval-width
flag does not try to make passing clips trustworthy to 8 points: since issue 32 it only removes clips
that cannot inform at all, an LVEF or FAC interval wider than 50 points (half-width > 25: 2 % of the
Good/Medium clips here; an interval clipped to 0-100 on a loop with a hidden mitral valve is always
beyond it), flagged `interval_too_wide` and excluded from cohort statistics
(`echoquant.quant.qc.MAX_CI_WIDTH`). Users can filter tighter on the interval columns. On the generated held-out suite
no excluding flag fired (all 40 loops pass QC), so the beat and tracking thresholds could not be
calibrated against failures there; they are unchanged.

"""


_KEYS = {"lvef": ("LVEF", "points"), "gls": ("GLS", "points"), "edv": ("EDV", "% of value"), "esv": ("ESV", "% of value")}


def _camus_for(camus: pd.DataFrame, key: str) -> pd.DataFrame:
    if key in ("edv", "esv"):
        cam = camus[camus["calibrated"]]
        return cam.assign(**{f"{key}_pred": cam[f"pred_{key[:2]}"], f"{key}_truth": cam[f"truth_{key[:2]}"]})
    return camus


def _interval_section(camus: pd.DataFrame, fit_s: pd.DataFrame, check_s: pd.DataFrame) -> tuple[list[str], dict]:
    odd = camus["patient"].str[-1].astype(int) % 2 == 1
    rows, fitted = [], {}
    for key, (label, unit) in _KEYS.items():
        rel = key in ("edv", "esv")
        cam = _camus_for(camus, key)
        parts = {f"generated {p}": (_interval_inputs(fit_s[fit_s["preset"] == p], key),
                                    _interval_inputs(check_s[check_s["preset"] == p], key)) for p in ("human", "rodent")}
        if key != "gls":
            parts["CAMUS valid"] = (_interval_inputs(cam[odd.loc[cam.index]], key),
                                    _interval_inputs(cam[~odd.loc[cam.index]], key))
        m = _fit([f for f, _ in parts.values()], rel)
        fitted[key] = m
        gen_check = pd.concat([parts["generated human"][1], parts["generated rodent"][1]])
        gen_fit = pd.concat([parts["generated human"][0], parts["generated rodent"][0]])
        parts["generated, both species"] = (gen_fit, gen_check)
        for name, (f, c) in parts.items():
            scale = 100 if rel else 1
            half = (_half(c, m) / c["scale"]) * scale
            rows.append(f"| {label} | {name} | {_coverage(f, m):.0%} ({len(f)}) | **{_coverage(c, m):.0%}** ({len(c)}) | "
                        f"{np.median(half):.1f} {unit} |")
    return rows, fitted


def _qc_curve(camus: pd.DataFrame, m: IntervalModel) -> list[str]:
    d = _interval_inputs(camus, "lvef")
    c = camus.loc[d.index].assign(err=(d["value"] - d["truth"]).abs(), half=_half(d, m))
    gm = c["quality"].isin(["Good", "Medium"])
    out = [f"| no flag | 0 % | {(c['err'] <= 8).mean():.0%} ({len(c)}) |"]
    for t in (10, 12, 15, 18, 20, 25):
        flag = c["half"] > t
        out.append(f"| LVEF half-width > {t} points | {flag[gm].mean():.0%} | {(c['err'][~flag] <= 8).mean():.0%} "
                   f"({int((~flag).sum())}) |")
    return out


def _gate_section(camus: pd.DataFrame, synth: dict[str, pd.DataFrame], corpus: pd.DataFrame | None) -> list[str]:
    out = ["| data | loops | pass the gate | view found correctly |", "|---|---|---|---|"]
    for view in ("A4C", "A2C"):
        c = camus[camus["view_true"] == view]
        out.append(f"| CAMUS valid {view} (ED/ES pairs) | {len(c)} | {c['gate_pass'].mean():.0%} | "
                   f"{(c['view_found'] == view).mean():.0%} |")
    for view in ("A4C", "A2C"):
        c = camus[camus["view_true"] == view]
        out.append(f"| CAMUS valid {view}, image resampled the other way (squeeze check) | {len(c)} | – | "
                   f"{(c['view_found_resampled'] == view).mean():.0%} |")
    for name, df in synth.items():
        for p in ("human", "rodent"):
            d = df[df["preset"] == p]
            out.append(f"| generated {p} ({name}) | {len(d)} | {d['gate_pass'].mean():.0%} | header view used |")
    if corpus is not None:
        for _, r in corpus.iterrows():
            passed = not r["reason"] if isinstance(r["reason"], str) else True
            out.append(f"| {r['kind']}: `{r['file']}` | 1 | {'yes' if passed else 'no: ' + str(r['reason']).split(': ', 1)[1]} | "
                       f"{r['view'] if isinstance(r['view'], str) else '–'} |")
    return out


def _margins(camus: pd.DataFrame, corpus: pd.DataFrame | None) -> list[str]:
    from echoquant.quant.view import GATE

    feats = {"confidence": ("min_confidence", "min"), "myocardium_cover": ("min_myocardium_cover", "min"),
             "elongation": ("min_elongation", "min"), "sector_edge": ("max_sector_edge", "max"),
             "axis_deg": ("max_axis_deg", "max"), "area_fraction": ("area_fraction", "range")}
    out = ["| feature | threshold | CAMUS valid (100 clips) | real A4C loops | corpus loops without an LV |", "|---|---|---|---|---|"]
    real = corpus[corpus["kind"].str.startswith("real")] if corpus is not None else None
    neg = corpus[~corpus["kind"].str.startswith("real")] if corpus is not None else None

    def rng(x: pd.Series) -> str:
        x = x.dropna()
        return f"{x.min():.3g} – {x.max():.3g}" if len(x) else "–"

    for f, (g, _) in feats.items():
        out.append(f"| {f} | {GATE[g]} | {rng(camus[f'gate_{f}'])} | "
                   f"{rng(real[f'gate_{f}']) if real is not None and f'gate_{f}' in real else '–'} | "
                   f"{rng(neg[f'gate_{f}']) if neg is not None and f'gate_{f}' in neg else '–'} |")
    return out


def _flags_on_generated(check_s: pd.DataFrame) -> list[str]:
    out = ["| generated held-out suite | loops | pass QC | flags raised | LVEF MAE, passing (points) | GLS MAE, passing |",
           "|---|---|---|---|---|---|"]
    for p in ("human", "rodent"):
        d = check_s[check_s["preset"] == p]
        ok = d[d["qc_pass"]]
        flags = sorted({f for fl in d["flags"].fillna("") for f in fl.split(";") if f})
        out.append(f"| {p} | {len(d)} | {d['qc_pass'].mean():.0%} | {', '.join(flags) or 'none'} | "
                   f"{(ok['lvef_pred'] - ok['lvef_truth']).abs().mean():.2f} | {(ok['gls_pred'] - ok['gls_truth']).abs().mean():.2f} |")
    return out


def report(args: argparse.Namespace) -> None:
    camus = pd.read_csv(args.out / "camus_valid.csv")
    fit_s, check_s = (pd.read_csv(args.out / f"{n}.csv") for n in SEEDS)
    corpus = pd.read_csv(args.out / "corpus.csv") if (args.out / "corpus.csv").is_file() else None
    rows, fitted = _interval_section(camus, fit_s, check_s)
    md = [
        PREAMBLE, f"Tables below: {time.strftime('%Y-%m-%d')}, 2 CPU cores.", "",
        "## LV-view gate and view recognition", "",
        "`scripts/calibrate_qc.py collect` then `report`; segmentation model `echoquant_lv_unet`, view classifier "
        "`echoquant_view_cnn`.", "",
        *_gate_section(camus, {"fit suite": fit_s, "held-out suite": check_s}, corpus), "",
        "Gate features against their thresholds (range over each set; the thresholds were set below the lowest "
        "positive value, not fitted to the negatives):", "", *_margins(camus, corpus), "",
        "## 95 % intervals", "",
        "Coverage = share of clips whose interval holds the truth (CAMUS: LVEF and volumes from the expert masks "
        "by the same method; generated: the generator's truth). Fitted on the first column's data, checked on the "
        "second (bold; CAMUS even-numbered patients and the generated held-out suite, seeds 900000...). "
        "EDV/ESV on CAMUS: 4CH only (the 2CH copy has no true spacing).", "",
        "| value | data | coverage, fit (n) | coverage, check (n) | median half-width (check) |",
        "|---|---|---|---|---|", *rows, "",
        "Fitted constants (`echoquant.quant.intervals.INTERVAL_MODELS`, half-width = 1.96 sqrt(se_beats² + "
        "(k u)² + floor²)): " + ", ".join(f"{_KEYS[k][0]} k = {m.k:g}, floor = {m.floor:g}" for k, m in fitted.items())
        + ".", "",
        "## What a QC flag on interval width would buy on CAMUS valid", "",
        "Share of Good/Medium-quality clips flagged, and share of the remaining clips whose LVEF error is at most 8 "
        "points (per clip, single plane, ED/ES pair):", "",
        "| rule | Good/Medium flagged | passing clips with error ≤ 8 points (n) |", "|---|---|---|",
        *_qc_curve(camus, fitted["lvef"]), "",
        "## Flags on the generated held-out suite", "", *_flags_on_generated(check_s), "",
    ]
    text = "\n".join(md)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


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
