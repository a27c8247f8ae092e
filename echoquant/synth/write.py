"""Writers: one case as DICOM + labels, a suite of cases with ``truth.csv``, and a
cohort study (groups, subjects, repeated clips, baseline and follow-up)."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from echoquant._files import write_csv_rows
from echoquant._memory import keep_freed_memory
from echoquant.io.writer import DicomIdentity, RegionSpec, write_us_dicom
from echoquant.synth.generate import CaseParams, SynthCase, generate_case, sample_params
from echoquant.synth.sax import sax_kinesis_of

__all__ = ["TRUTH_COLUMNS", "write_case", "write_suite", "write_params", "CohortSpec", "GroupSpec", "write_cohort", "DEMO_COHORT",
           "heart_in_view"]

_PARASTERNAL_TRUTH = ("lvidd_mm", "lvids_mm", "fs_pct", "ivsd_mm", "lvpwd_mm", "lv_length_mm", "lv_length_es_mm",
                      "eda_mm2", "esa_mm2", "fac_pct", "gcs_pct", "grs_pct", "epi_eda_mm2")
TRUTH_COLUMNS = [
    "file", "subject_id", "group", "timepoint", "view", "lvef_pct", "gls_pct", "edv_ml", "esv_ml",
    "ed_frame", "es_frame", "gls_midwall_pct", "species", "pathology", "fps", "heart_rate_bpm",
    "spacing_mm", "n_frames", "compression", "seed", "labels",
    # Added with wall motion (issue 19): the exact wall motion of the loop, segments in
    # screen order (the screen-left wall first, apex up), as a measured contour runs.
    "wmsi", "akinetic_extent_pct", "thinnest_wall_ed_mm", "wall_motion_classes", "wall_motion_segments",
    # Added with preclinical endpoints (issue 33): PLAX dimensions (quant.plax definitions),
    # SAX areas, FAC, LVID/FS along the beam, strains and ED epicardial area (quant.saxmotion).
    *_PARASTERNAL_TRUTH,
]


def _regions(case: SynthCase) -> list[RegionSpec]:
    rows, cols = np.where(case.sector)
    p = case.params
    regions = [RegionSpec(int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()),
                          delta_x=p.spacing_mm / 10.0, delta_y=p.spacing_mm / 10.0)]
    return regions


_SPECIES_NAMES = {"mouse": "Mus musculus", "rat": "Rattus norvegicus"}


def write_case(case: SynthCase, out_dir: str | Path, name: str, *, compression: str = "none",
               identity: DicomIdentity | None = None) -> dict[str, Any]:
    """Write ``name.dcm`` plus ``name_labels.npz`` and ``name.json`` into ``out_dir``.

    Args:
        case: a generated case.
        out_dir: folder (created).
        name: file stem.
        compression: ``"none"`` (MONOCHROME2) or ``"jpeg"`` (RGB as JPEG Baseline YBR_FULL_422).
        identity: DICOM identifiers (default: derived from the case seed).

    Returns:
        A truth row (see :data:`TRUTH_COLUMNS`) with paths relative to ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = case.params
    identity = identity or DicomIdentity(patient_id=f"SYN{p.seed:06d}", seed_text=f"synth-{p.seed}")
    identity.view_meaning = identity.view_meaning or p.view
    identity.manufacturer, identity.model = "echoquant-synth", f"{p.species}-{p.probe['kind']}"
    if p.species in _SPECIES_NAMES:
        # The veterinary species tag, as an animal study's DICOM carries it.
        identity.extra.setdefault("PatientSpeciesDescription", _SPECIES_NAMES[p.species])
    frames = case.frames if compression == "jpeg" else case.grey
    dcm = write_us_dicom(out / f"{name}.dcm", frames, frame_time_ms=1000.0 / p.fps, regions=_regions(case),
                         heart_rate_bpm=p.heart_rate_bpm, identity=identity, compression=compression,
                         cine_rate=p.fps)
    labels_path = out / f"{name}_labels.npz"
    tmp = out / f".{name}_labels.partial.npz"
    np.savez_compressed(tmp, labels=case.labels, sector=case.sector,
                        endo_contour_px=case.curves["endo_contour_px"].astype(np.float32),
                        epi_contour_px=case.curves["epi_contour_px"].astype(np.float32),
                        volume_ml=case.curves["volume_ml"], gls_curve_pct=case.curves["gls_curve_pct"],
                        regional_curves_pct=case.curves["regional_curves_pct"], times_ms=case.curves["times_ms"])
    tmp.replace(labels_path)
    meta = {"truth": case.truth, "params": p.to_dict(), "dicom": dcm.name, "labels": labels_path.name,
            "label_names": {"0": "background", "1": "lv_cavity", "2": "lv_myocardium", "3": "la"},
            "generator": "echoquant.synth"}
    tmp_json = out / f".{name}.json.partial"
    tmp_json.write_text(json.dumps(meta, indent=1, default=_json_default))
    tmp_json.replace(out / f"{name}.json")
    t = case.truth
    return {
        "file": dcm.name, "subject_id": identity.patient_id, "group": "", "timepoint": "", "view": p.view,
        "lvef_pct": round(t["lvef_pct"], 4), "gls_pct": round(t["gls_pct"], 4), "edv_ml": round(t["edv_ml"], 5),
        "esv_ml": round(t["esv_ml"], 5), "ed_frame": t["ed_frame"], "es_frame": t["es_frame"],
        "gls_midwall_pct": round(t["gls_midwall_pct"], 4), "species": p.species, "pathology": p.pathology,
        "fps": round(p.fps, 4), "heart_rate_bpm": round(p.heart_rate_bpm, 3), "spacing_mm": round(p.spacing_mm, 6),
        "n_frames": int(case.frames.shape[0]), "compression": compression, "seed": p.seed, "labels": labels_path.name,
        **_wall_motion_cells(t.get("wall_motion") or t.get("wall_motion_sax")),
        **{k: round(float(t[k]), 5) for k in _PARASTERNAL_TRUTH if t.get(k) is not None and np.isfinite(t[k])},
    }


def _wall_motion_cells(wm: dict[str, Any] | None) -> dict[str, Any]:
    if not wm:
        return {}
    return {"wmsi": None if wm["wmsi"] is None else round(wm["wmsi"], 4),
            "akinetic_extent_pct": None if wm["akinetic_extent_pct"] is None else round(wm["akinetic_extent_pct"], 3),
            "thinnest_wall_ed_mm": None if wm["thinnest_wall_ed_mm"] is None else round(wm["thinnest_wall_ed_mm"], 4),
            "wall_motion_classes": ";".join(s["wall_motion"] for s in wm["segments"]),
            "wall_motion_segments": ";".join(s["name"] for s in wm["segments"])}


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


_write_csv = write_csv_rows


@dataclass(frozen=True)
class _Job:
    params: CaseParams
    out_dir: str
    name: str
    compression: str
    identity: DicomIdentity | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _run_job(job: _Job) -> dict[str, Any]:
    case = generate_case(job.params)
    row = write_case(case, job.out_dir, job.name, compression=job.compression, identity=job.identity)
    row.update(job.extra)
    return row


def _run_all(jobs: list[_Job], workers: int) -> list[dict[str, Any]]:
    if workers <= 1:
        return [_run_job(j) for j in jobs]
    # Each case is seeded on its own, so results do not depend on the worker count.
    with ProcessPoolExecutor(max_workers=workers, initializer=keep_freed_memory) as pool:
        return list(pool.map(_run_job, jobs))


def _compression_for(i: int, compression: str) -> str:
    if compression == "mixed":
        return "jpeg" if i % 2 else "none"
    return compression


def write_suite(out_dir: str | Path, n: int, *, seed: int = 0, preset: str = "human", compression: str = "none",
                workers: int = 1, **overrides: Any) -> Path:
    """Generate ``n`` independent cases into ``out_dir`` with a ``truth.csv``.

    Args:
        out_dir: folder.
        n: number of cases.
        seed: suite seed; case ``i`` uses seed ``seed * 100003 + i``.
        preset: generator preset.
        compression: ``"none"``, ``"jpeg"`` or ``"mixed"``.
        workers: processes.
        **overrides: fixed :class:`CaseParams` values for every case.

    Returns:
        Path of ``truth.csv``.
    """
    params = [sample_params(preset, seed * 100003 + i, **dict(overrides)) for i in range(n)]
    return write_params(out_dir, params, compression=compression, workers=workers)


def write_params(out_dir: str | Path, params: list[CaseParams], *, compression: str = "none",
                 workers: int = 1) -> Path:
    """Generate the given cases (``case_00000.dcm``...) into ``out_dir`` with a
    ``truth.csv``; ``compression`` as in :func:`write_suite`.

    Returns:
        Path of ``truth.csv``.
    """
    out = Path(out_dir)
    jobs = [_Job(p, str(out), f"case_{i:05d}", _compression_for(i, compression)) for i, p in enumerate(params)]
    rows = _run_all(jobs, workers)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "truth.csv"
    _write_csv(path, rows, TRUTH_COLUMNS)
    return path


def paired_view_params(preset: str, seed: int, **overrides: Any) -> tuple[CaseParams, CaseParams]:
    """Apical 4- and 2-chamber parameters of one heart (same shape, motion, LVEF, GLS and
    heart rate; probe placement, imaging and frame rate drawn per view, as in two separate
    acquisitions of one study)."""
    human = preset in ("human", "human_a4c", "human_a2c")
    p4 = sample_params("human_a4c" if human else preset, seed, **({} if human else {"view": "A4C"}), **overrides)
    # The second acquisition draws its own probe, placement and imaging, for the same species.
    p2 = sample_params("human_a2c" if human else p4.species, seed + 50_000_017, **({} if human else {"view": "A2C"}),
                       **overrides)
    shared = {k: getattr(p4, k) for k in ("species", "shape", "lvef_pct", "gls_pct", "kinesis", "heart_rate_bpm",
                                           "es_phase", "pathology")}
    return p4, replace(p2, **shared)


def write_study_pairs(out_dir: str | Path, n: int, *, seed: int = 0, preset: str = "human",
                      workers: int = 1) -> Path:
    """``n`` generated studies of an A4C and an A2C loop of one heart each (one Study UID per
    pair), with ``truth.csv`` (one row per loop: the heart's LVEF and volumes, the same for
    both views, which is the biplane truth).

    Returns:
        Path of ``truth.csv``.
    """
    out = Path(out_dir)
    jobs, identities = [], []
    for i in range(n):
        p4, p2 = paired_view_params(preset, seed * 100003 + i)
        for p, view in ((p4, "a4c"), (p2, "a2c")):
            jobs.append(_Job(p, str(out), f"study_{i:04d}_{view}", "none"))
            identities.append(DicomIdentity(patient_id=f"SYS{preset[0].upper()}{seed:03d}{i:04d}", seed_text=f"study-{preset}-{seed}-{i}-{view}",
                                            study_uid=DicomIdentity(seed_text=f"study-{preset}-{seed}-{i}").uid("study")))
    rows = _run_all([replace(j, identity=ident) for j, ident in zip(jobs, identities)], workers)
    for row, ident in zip(rows, identities):
        row["subject_id"] = ident.patient_id
    out.mkdir(parents=True, exist_ok=True)
    path = out / "truth.csv"
    _write_csv(path, rows, TRUTH_COLUMNS)
    return path


@dataclass(frozen=True)
class GroupSpec:
    """One study group: subjects and the distribution of their true endpoints.

    ``*_change`` values are the mean change from the first to the last timepoint;
    ``infarct_change`` is that of the kinesis factor (fraction of normal motion) of the
    heart's abnormal segments (factor < 0.5): positive when infarcted wall recovers
    motion (a salvaged border zone), negative when it stops moving or bulges."""

    name: str
    n_subjects: int
    lvef_mean: float
    lvef_sd: float
    gls_mean: float
    gls_sd: float
    lvef_change: float = 0.0
    gls_change: float = 0.0
    change_sd: float = 2.0
    pathology: str = "infarct"
    infarct_change: float = 0.0


@dataclass(frozen=True)
class CohortSpec:
    """A study: groups, timepoints, clips per subject and the generator preset."""

    groups: tuple[GroupSpec, ...]
    timepoints: tuple[str, ...] = ("baseline", "week4")
    clips_per_subject: int = 2
    # M-mode screens per subject and timepoint (parasternal M-line of the same heart; FS
    # such that its Teichholz LVEF is the subject's true LVEF), truth in truth_mmode.csv.
    mmode_per_subject: int = 0
    preset: str = "mouse"
    compression: str = "jpeg"
    overrides: dict[str, Any] = field(default_factory=dict)
    # One loop per view per subject and timepoint (e.g. ("PLAX", "SAX"): the same heart
    # seen in both, what the bullet method combines); empty: clips_per_subject loops of
    # the heart's own view.
    views: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CohortSpec":
        groups = tuple(GroupSpec(**g) for g in d["groups"])
        rest = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k != "groups"}
        if "overrides" in d:
            rest["overrides"] = dict(d["overrides"])
        return cls(groups=groups, **rest)


# A preclinical infarct study: treated mice recover LVEF and GLS and part of the
# infarcted wall moves again; in controls LVEF worsens a little and the scar stays.
DEMO_COHORT = CohortSpec(
    groups=(
        GroupSpec("control", 10, lvef_mean=38.0, lvef_sd=5.0, gls_mean=-12.0, gls_sd=1.8, lvef_change=-3.0, gls_change=0.8,
                  infarct_change=-0.05),
        GroupSpec("treated", 10, lvef_mean=38.0, lvef_sd=5.0, gls_mean=-12.0, gls_sd=1.8, lvef_change=8.0, gls_change=-3.0,
                  infarct_change=0.3),
    ),
    timepoints=("baseline", "week4"),
    clips_per_subject=1,
    mmode_per_subject=1,
    preset="mouse",
    compression="jpeg",
    # Parasternal long axis, the view of the Vevo "LV trace" (issue 32), and the
    # mid-papillary short axis of the same heart (issue 33): the standard preclinical panel.
    # B-mode at 200 frames/s (a Vevo 2100 at full width), 2.2 beats per loop, 240x300 px: the demo
    # generates and analyses 120 files in under 3 minutes on 2 cores.
    overrides={"view": "PLAX", "fps": 200.0, "n_beats": 2.2, "canvas": (240, 300)},
    views=("PLAX", "SAX"),
)

# A subject's heart, and the depth and width its images are taken at (a parasternal
# window is sized to the heart: a clip drawn for a smaller heart would not hold it).
_ANATOMY_FIELDS = ("species", "view", "shape", "kinesis", "pathology", "heart_rate_bpm", "es_phase", "probe",
                   "canvas", "spacing_mm")


def heart_in_view(heart: CaseParams, view: str, clip_seed: int, *, lvef_pct: float | None = None,
                  gls_pct: float | None = None, kinesis: tuple[float, ...] | None = None,
                  overrides: dict[str, Any] | None = None) -> CaseParams:
    """Another acquisition of the same heart: settings, timing and noise drawn anew from
    ``clip_seed``, anatomy (shape, kinesis, heart rate, probe window) kept; a SAX loop of a
    long-axis heart is its mid-papillary section (:func:`sax_kinesis_of`)."""
    preset = heart.species if heart.species != "human" else "human"
    clip = sample_params(preset, clip_seed, pathology=heart.pathology, **{**(overrides or {}), "view": view})
    params = replace(clip, **{k: getattr(heart, k) for k in _ANATOMY_FIELDS},
                     lvef_pct=heart.lvef_pct if lvef_pct is None else lvef_pct,
                     gls_pct=heart.gls_pct if gls_pct is None else gls_pct)
    kinesis = tuple(heart.kinesis) if kinesis is None else kinesis
    if view == "SAX" and heart.view != "SAX":
        kinesis, thin = sax_kinesis_of(kinesis, tuple(heart.shape.get("thin_segments", ())))
        return replace(params, view="SAX", kinesis=kinesis, shape={**heart.shape, "thin_segments": thin})
    return replace(params, view=view, kinesis=kinesis)


def _clip_params(spec: CohortSpec, heart: CaseParams, group: GroupSpec, clip_seed: int, view: str | None,
                 lvef: float, gls: float, frac: float) -> CaseParams:
    """One loop of a subject's heart at a timepoint (:func:`heart_in_view`), its kinesis
    moved by the group's effect."""
    return heart_in_view(heart, view or heart.view, clip_seed, lvef_pct=lvef, gls_pct=gls,
                         kinesis=_kinesis_at(heart.kinesis, group.infarct_change, frac), overrides=spec.overrides)


def _kinesis_at(kinesis: tuple[float, ...], change: float, frac: float) -> tuple[float, ...]:
    """A heart's kinesis at a later timepoint: abnormal segments (factor < 0.5) moved by
    ``frac * change``, never past normal."""
    k = np.asarray(kinesis, dtype=np.float64)
    abnormal = k < 0.5
    k[abnormal] = np.minimum(k[abnormal] + frac * change, 1.0)
    return tuple(float(x) for x in k)


def _subject_value(rng: np.random.Generator, mean: float, sd: float, lo: float, hi: float) -> float:
    return float(np.clip(rng.normal(mean, sd), lo, hi))


def write_cohort(out_dir: str | Path, spec: CohortSpec = DEMO_COHORT, *, seed: int = 0, workers: int = 1) -> Path:
    """Generate a cohort study: ``dicom/`` (no group information anywhere in the
    files), ``groups.csv`` (subject_id, group) for unblinding, and ``truth.csv``.

    Subjects are coded ``S001``...; each subject keeps its heart (shape, regional
    kinesis) across clips and timepoints, with its own true LVEF and GLS drawn from
    the group's distribution, changed by the group's effect at later timepoints.
    Clips of one subject and timepoint differ in probe placement, image settings
    and timing, as repeated acquisitions do.

    Returns:
        Path of ``truth.csv``.
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    jobs, groups_rows, mmode_jobs = [], [], []
    subject_no = 0
    # Subject codes are shuffled across groups so that the code reveals nothing.
    total = sum(g.n_subjects for g in spec.groups)
    codes = [f"S{i + 1:03d}" for i in rng.permutation(total)]
    for group in spec.groups:
        for _ in range(group.n_subjects):
            code = codes[subject_no]
            subject_seed = seed * 7919 + subject_no * 104729 + 17
            subject_no += 1
            srng = np.random.default_rng(subject_seed)
            lvef0 = _subject_value(srng, group.lvef_mean, group.lvef_sd, 12, 78)
            gls0 = _subject_value(srng, group.gls_mean, group.gls_sd, -26, -3)
            heart = sample_params(spec.preset, subject_seed, pathology=group.pathology, lvef_pct=lvef0, gls_pct=gls0,
                                  **spec.overrides)
            groups_rows.append({"subject_id": code, "group": group.name})
            n_tp = len(spec.timepoints)
            for ti, tp in enumerate(spec.timepoints):
                frac = ti / max(n_tp - 1, 1)
                lvef = float(np.clip(lvef0 + frac * group.lvef_change + (srng.normal(0, group.change_sd) if ti else 0), 12, 78))
                gls = float(np.clip(gls0 + frac * group.gls_change + (srng.normal(0, group.change_sd * 0.4) if ti else 0), -26, -3))
                views = spec.views or (None,) * spec.clips_per_subject
                for ci, view in enumerate(views):
                    clip_seed = subject_seed * 31 + ti * 1009 + ci * 13 + 5
                    params = _clip_params(spec, heart, group, clip_seed, view, lvef, gls, frac)
                    name = f"{code}_{tp}_{view.lower()}" if view else f"{code}_{tp}_clip{ci + 1}"
                    identity = DicomIdentity(patient_id=code, seed_text=f"cohort-{seed}-{name}",
                                             study_uid=None, extra={"ClinicalTrialTimePointID": tp})
                    jobs.append(_Job(params, str(out / "dicom"), name, spec.compression, identity,
                                     {"subject_id": code, "group": group.name, "timepoint": tp}))
                for mi in range(spec.mmode_per_subject):
                    mmode_jobs.append(_mmode_job(heart, subject_seed, ti, mi, lvef, code, tp, group.name, out, spec, seed))
    # One study per subject and timepoint: give all clips of it the first clip's study UID.
    study_of: dict[tuple[str, str], str] = {}
    for job in jobs:
        key = (job.extra["subject_id"], job.extra["timepoint"])
        study_of.setdefault(key, job.identity.uid("study"))
        job.identity.study_uid = study_of[key]
    for job in mmode_jobs:
        identity, extra = job[5], job[6]
        identity.study_uid = study_of.get((extra["subject_id"], extra["timepoint"])) or identity.uid("study")
    rows = _run_all(jobs, workers)
    if mmode_jobs:
        from echoquant.synth.mmode import write_mmode_jobs, write_mmode_truth

        mrows = write_mmode_jobs(mmode_jobs, workers)
        for row in mrows:
            row["file"] = f"dicom/{row['file']}"
        out.mkdir(parents=True, exist_ok=True)
        write_mmode_truth(out / "truth_mmode.csv", mrows)
    out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        row["file"] = f"dicom/{row['file']}"
        row["labels"] = f"dicom/{row['labels']}"
    _write_csv(out / "groups.csv", sorted(groups_rows, key=lambda r: r["subject_id"]), ["subject_id", "group"])
    path = out / "truth.csv"
    _write_csv(path, rows, TRUTH_COLUMNS)
    (out / "cohort.json").write_text(json.dumps(_spec_dict(spec), indent=1))
    return path


def _mmode_job(heart: CaseParams, subject_seed: int, ti: int, mi: int, lvef: float, code: str, tp: str, group: str,
               out: Path, spec: CohortSpec, seed: int) -> tuple:
    """An M-mode screen of a subject's heart at a timepoint: the subject's own LV
    diameter and walls (drawn once from its seed), FS set so that the Teichholz LVEF is
    the subject's true LVEF then."""
    from echoquant.synth.mmode import MMODE_PRESETS, fs_for_teichholz_ef, sample_mmode_params

    preset = heart.species if heart.species in MMODE_PRESETS else "human"
    anatomy = sample_mmode_params(preset, subject_seed)
    clip = sample_mmode_params(preset, subject_seed * 37 + ti * 101 + mi * 7 + 3)
    rodent = preset != "human"
    params = replace(clip, lvidd_mm=anatomy.lvidd_mm, ivsd_mm=anatomy.ivsd_mm, lvpwd_mm=anatomy.lvpwd_mm,
                     heart_rate_bpm=heart.heart_rate_bpm,
                     fs_pct=fs_for_teichholz_ef(anatomy.lvidd_mm, lvef, rodent))
    name = f"{code}_{tp}_mmode{mi + 1}"
    identity = DicomIdentity(patient_id=code, seed_text=f"cohort-{seed}-{name}", extra={"ClinicalTrialTimePointID": tp})
    compression, colour = ("jpeg", True) if spec.compression == "jpeg" else ("none", True)
    return (params, str(out / "dicom"), name, compression, colour, identity,
            {"subject_id": code, "group": group, "timepoint": tp})


def _spec_dict(spec: CohortSpec) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(spec)
