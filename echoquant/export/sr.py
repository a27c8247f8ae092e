"""DICOM Comprehensive SR (TID 1500 measurement report) of one scored loop, built
with highdicom, so that a PACS can store the result next to the source instance.

Content: LVEF (LN 18043-0), EDV (LN 18026-5), ESV (LN 18148-7) by the method of
disks, single plane (DCM 125208), and GLS (DCM 130671); per measured beat, the ED
and ES LV contours as POLYLINE regions on their frames of the source instance.

An M-mode strip's SR carries the codes of DICOM's echocardiography left-ventricle
measurements (CID 12200/12201): LVIDd (LN 29436-3), LVIDs (29438-9), IVSd (18154-5),
IVSs (18158-6), LVPWd (18152-9), LVPWs (18156-0), FS (18051-3), LVEF (18043-0) by the
Teichholz method (DCM 125209) and LV mass (18087-7) by M-mode (DCM 125221).

Parasternal loops add their 2-D values (:data:`PARASTERNAL_CODES`): LVIDd/s, IVS, LVPW
and FS with the same codes, LV major axis at ED/ES (LN 18077-8/18076-0), SAX endocardial
ED area (LN 80005-2), epicardial ED area (SCT 399293008), FAC (SCT 399287000),
circumferential (DCM 130677) and radial (DCM 130675) Lagrangian strain, WMSI (DCM
125202). A parasternal study's SR gives LVEF/EDV/ESV by the Bullet Method (DCM 125228)
and LV mass (LN 18087-7) by Area Length (DCM 125270). Values DICOM has no concept for
use the private scheme ``99ECHOQUANT``: ``ESA-SAX-PM`` (end-systolic SAX endocardial
area) and ``AKINETIC-EXTENT`` (akinetic/dyskinetic endocardial extent, % of the
assessable length).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from echoquant import __version__
from echoquant._files import atomic_path
from echoquant.errors import InputError

if TYPE_CHECKING:
    from echoquant.results import EchoResult, MModeEchoResult
    from echoquant.quant.study import StudyResult

__all__ = ["CODES", "MMODE_CODES", "PARASTERNAL_CODES", "PRIVATE_SCHEME", "STUDY_CODES", "build_mmode_sr", "build_sr",
           "build_study_sr", "write_sr", "write_study_sr"]

CODES = {
    "lvef_pct": Code("18043-0", "LN", "Left ventricular Ejection fraction"),
    "edv_ml": Code("18026-5", "LN", "Left ventricular end diastolic volume"),
    "esv_ml": Code("18148-7", "LN", "Left ventricular end systolic volume"),
    "gls_pct": Code("130671", "DCM", "Peak longitudinal Lagrangian strain"),
    "method_of_disks": Code("125208", "DCM", "Method of Disks, single plane"),
    "method_of_disks_biplane": Code("125207", "DCM", "Method of Disks, Biplane"),
    "left_ventricle": Code("87878005", "SCT", "Left ventricle"),
    "echocardiography": Code("40701008", "SCT", "Echocardiography"),
}
_UNITS = {"lvef_pct": Code("%", "UCUM", "%"), "gls_pct": Code("%", "UCUM", "%"),
          "edv_ml": Code("ml", "UCUM", "mL"), "esv_ml": Code("ml", "UCUM", "mL")}
# M-mode measurements: result key -> (concept, unit, method).
_MM, _PCT = Code("mm", "UCUM", "mm"), Code("%", "UCUM", "%")
MMODE_CODES = {
    "lvidd_mm": (Code("29436-3", "LN", "Left Ventricle Internal End Diastolic Dimension"), _MM, None),
    "lvids_mm": (Code("29438-9", "LN", "Left Ventricle Internal Systolic Dimension"), _MM, None),
    "ivsd_mm": (Code("18154-5", "LN", "Interventricular Septum Diastolic Thickness"), _MM, None),
    "ivss_mm": (Code("18158-6", "LN", "Interventricular Septum Systolic Thickness"), _MM, None),
    "lvpwd_mm": (Code("18152-9", "LN", "Left Ventricle Posterior Wall Diastolic Thickness"), _MM, None),
    "lvpws_mm": (Code("18156-0", "LN", "Left Ventricle Posterior Wall Systolic Thickness"), _MM, None),
    "fs_pct": (Code("18051-3", "LN", "Left Ventricular Fractional Shortening"), _PCT, None),
    "lvef_teichholz_pct": (CODES["lvef_pct"], _PCT, Code("125209", "DCM", "Teichholz")),
    "lv_mass_g": (Code("18087-7", "LN", "Left Ventricle Mass"), Code("g", "UCUM", "g"),
                  Code("125221", "DCM", "Left Ventricle Mass by M-mode")),
    "lv_mass_mg": (Code("18087-7", "LN", "Left Ventricle Mass"), Code("mg", "UCUM", "mg"),
                   Code("125221", "DCM", "Left Ventricle Mass by M-mode")),
}


_MM2 = Code("mm2", "UCUM", "mm2")
# A private scheme for values DICOM has no concept for (documented in docs/preclinical.md).
PRIVATE_SCHEME = "99ECHOQUANT"
# Parasternal 2-D values of one loop (PLAX dimensions, SAX areas, FAC, strains): result
# key -> (concept, unit, method). Where they mean what M-mode's do, M-mode's codes.
PARASTERNAL_CODES = {
    **{k: MMODE_CODES[k] for k in ("lvidd_mm", "lvids_mm", "ivsd_mm", "ivss_mm", "lvpwd_mm", "lvpws_mm", "fs_pct")},
    "lv_length_mm": (Code("18077-8", "LN", "Left Ventricle diastolic major axis"), _MM, None),
    "lv_length_es_mm": (Code("18076-0", "LN", "Left Ventricle systolic major axis"), _MM, None),
    "eda_mm2": (Code("80005-2", "LN", "Left ventricular endocardial area SAX PM level"), _MM2, None),
    "esa_mm2": (Code("ESA-SAX-PM", PRIVATE_SCHEME, "LV end-systolic endocardial area SAX PM level"),
                _MM2, None),
    "epi_eda_mm2": (Code("399293008", "SCT", "Left Ventricle Epicardial Diastolic Area, psax pap view"), _MM2, None),
    "fac_pct": (Code("399287000", "SCT", "Left Ventricular Fractional Area Change"), _PCT, None),
    "gcs_pct": (Code("130677", "DCM", "Circumferential Lagrangian Strain"), _PCT, None),
    "grs_pct": (Code("130675", "DCM", "Radial Lagrangian Strain"), _PCT, None),
    "wmsi": (Code("125202", "DCM", "LV Wall Motion Score Index"), Code("{index}", "UCUM", "index"), None),
    "akinetic_extent_pct": (Code("AKINETIC-EXTENT", PRIVATE_SCHEME, "Akinetic or dyskinetic endocardial extent"),
                            _PCT, None),
}
# Study values of parasternal studies (bullet method, area-length mass).
STUDY_CODES = {
    "lv_mass_mg": (Code("18087-7", "LN", "Left Ventricle Mass"), Code("mg", "UCUM", "mg"),
                   Code("125270", "DCM", "Left Ventricle Mass by Area Length")),
    "lv_mass_g": (Code("18087-7", "LN", "Left Ventricle Mass"), Code("g", "UCUM", "g"),
                  Code("125270", "DCM", "Left Ventricle Mass by Area Length")),
    "fac_pct": PARASTERNAL_CODES["fac_pct"], "gcs_pct": PARASTERNAL_CODES["gcs_pct"],
    "fs_pct": PARASTERNAL_CODES["fs_pct"],
}
_BULLET = Code("125228", "DCM", "Bullet Method")


def _measurement(key: str, value: float, volume_method: bool, biplane: bool = False) -> hd.sr.Measurement:
    method = CODES["method_of_disks_biplane" if biplane else "method_of_disks"] if volume_method else None
    return hd.sr.Measurement(name=CODES[key], value=float(value), unit=_UNITS[key], method=method)


def _algorithm(model: str) -> hd.sr.AlgorithmIdentification:
    return hd.sr.AlgorithmIdentification(name="echoquant", version=__version__, parameters=[f"model={model}"])


def _contour_group(source: pydicom.Dataset, result: EchoResult, frame: int, label: str, key: str,
                   value: float | None) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations | None:
    points = result.quant.contours_px[frame]
    if points is None:
        return None
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        # (column, row) pixel coordinates; DICOM's origin is the top-left corner of
        # the first pixel, ours the pixel centre, hence +0.5.
        graphic_data=np.asarray(points, dtype=np.float64) + 0.5,
        source_image=hd.sr.SourceImageForRegion(source.SOPClassUID, source.SOPInstanceUID, [frame + 1]),
    )
    uid = generate_uid(entropy_srcs=[str(source.SOPInstanceUID), label])
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=uid, identifier=label),
        referenced_region=region, finding_type=CODES["left_ventricle"], algorithm_id=_algorithm(result.model),
        measurements=None if value is None else [_measurement(key, value, True)],
    )


# Type 2 attributes of the patient and study modules an SR copies from its evidence;
# scanners (and anonymisers) leave some out, DICOM allows them empty.
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _evidence(source: pydicom.Dataset) -> pydicom.Dataset:
    ds = pydicom.Dataset(source)  # shallow copy: the caller's header stays as read
    for keyword in _TYPE2:
        if keyword not in ds:
            setattr(ds, keyword, "")
    return ds


def _observer(model: str) -> hd.sr.ObserverContext:
    return hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=["echoquant", model]), name="echoquant", model_name=model[:64]),
    )


def build_mmode_sr(source: pydicom.Dataset, result: MModeEchoResult) -> hd.sr.ComprehensiveSR:
    """The SR of an M-mode strip's measurements (medians over beats, :data:`MMODE_CODES`)."""
    source = _evidence(source)
    summary = result.quant.summary
    measurements = [hd.sr.Measurement(name=name, value=float(summary[key]), unit=unit, method=method)
                    for key, (name, unit, method) in MMODE_CODES.items() if summary.get(key) is not None]
    if not measurements:
        raise ValueError("the M-mode strip has no measured value to report")
    uid = generate_uid(entropy_srcs=[str(source.SOPInstanceUID), "mmode"])
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=uid, identifier=f"LV M-mode (median over {summary.get('n_beats')} beats)"),
        finding_type=CODES["left_ventricle"], algorithm_id=_algorithm(result.model), measurements=measurements,
        source_images=[hd.sr.SourceImageForMeasurementGroup(source.SOPClassUID, source.SOPInstanceUID)],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=_observer(result.model)),
        procedure_reported=CODES["echocardiography"], imaging_measurements=[group],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # see build_sr: names would reach the log
        return _comprehensive_sr(source, report)


def build_sr(source: pydicom.Dataset, result: EchoResult | MModeEchoResult) -> hd.sr.ComprehensiveSR:
    """The SR document for ``result`` measured on ``source`` (its header suffices)."""
    if getattr(result, "mode", "2d") == "mmode":
        return build_mmode_sr(source, result)
    source = _evidence(source)
    groups = []
    for k, beat in enumerate(result.quant.beats, start=1):
        for frame, phase, key, value in ((beat.ed_frame, "ED", "edv_ml", beat.edv_ml),
                                         (beat.es_frame, "ES", "esv_ml", beat.esv_ml)):
            g = _contour_group(source, result, frame, f"LV endocardium beat {k} {phase} frame {frame + 1}", key, value)
            if g is not None:
                groups.append(g)
    summary = [_measurement(key, getattr(result, key), key != "gls_pct")
               for key in ("lvef_pct", "edv_ml", "esv_ml", "gls_pct") if getattr(result, key) is not None]
    values = result.quant.summary
    summary += [hd.sr.Measurement(name=name, value=float(values[key]), unit=unit, method=method)
                for key, (name, unit, method) in PARASTERNAL_CODES.items() if values.get(key) is not None]
    if summary:
        uid = generate_uid(entropy_srcs=[str(source.SOPInstanceUID), "summary"])
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=uid, identifier="LV function (median over beats)"),
            finding_type=CODES["left_ventricle"], algorithm_id=_algorithm(result.model), measurements=summary,
            source_images=[hd.sr.SourceImageForMeasurementGroup(source.SOPClassUID, source.SOPInstanceUID)],
        ))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=["echoquant", result.model]), name="echoquant",
            model_name=result.model[:64]),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=CODES["echocardiography"], imaging_measurements=groups,
    )
    with warnings.catch_warnings():
        # highdicom warns about single-component person names and quotes the name:
        # that would put a patient identifier into the log.
        warnings.simplefilter("ignore", UserWarning)
        return _comprehensive_sr(source, report)


def _comprehensive_sr(source: pydicom.Dataset, report: hd.sr.MeasurementReport,
                      others: tuple[pydicom.Dataset, ...] = ()) -> hd.sr.ComprehensiveSR:
    return hd.sr.ComprehensiveSR(
        evidence=[source, *others], content=report[0],
        series_instance_uid=generate_uid(entropy_srcs=[str(source.SeriesInstanceUID), "echoquant-sr"]),
        series_number=9001, sop_instance_uid=generate_uid(entropy_srcs=[str(source.SOPInstanceUID), "echoquant-sr"]),
        instance_number=1, manufacturer="echoquant", is_complete=True,
        series_description="echoquant LV function (not verified by a clinician)",
    )


def write_sr(path: str | Path, source_path: str | Path, result: EchoResult | MModeEchoResult) -> Path:
    """Write the SR for ``result`` next to nothing else: one file, atomically.

    Raises:
        InputError: the source is not a DICOM instance (e.g. a video), so there is
            nothing an SR could reference.
    """
    try:
        source = pydicom.dcmread(source_path, stop_before_pixels=True)
    except pydicom.errors.InvalidDicomError as exc:
        raise InputError("an SR can only reference a DICOM source instance; this input is not one",
                         path=source_path) from exc
    sr = build_sr(source, result)
    path = Path(path)
    with atomic_path(path) as tmp:
        sr.save_as(tmp, enforce_file_format=True)
    return path


def build_study_sr(sources: dict[str, pydicom.Dataset], study: StudyResult, model: str) -> hd.sr.ComprehensiveSR:
    """The study's SR: its LVEF, EDV and ESV by the biplane method of disks (DCM 125207), or
    single plane (DCM 125208) when the study fell back to one view, with the source
    instances of both views referenced (``sources``: ``{"A4C": header, "A2C": header}``).

    Raises:
        ValueError: no source header, or a study without values.
    """
    if not sources or study.values.get("lvef_pct") is None:
        raise ValueError(f"a study SR needs a source instance and an LVEF, got {len(sources)} sources and "
                         f"method {study.method!r}")
    evidence = [_evidence(s) for s in sources.values()]
    first = evidence[0]
    biplane = study.method == "biplane"
    if study.method == "bullet":
        measurements = [hd.sr.Measurement(name=CODES[key], value=float(study.values[key]), unit=_UNITS[key],
                                          method=_BULLET) for key in ("lvef_pct", "edv_ml", "esv_ml")
                        if study.values.get(key) is not None]
    else:
        measurements = [_measurement(key, study.values[key], True, biplane) for key in ("lvef_pct", "edv_ml", "esv_ml")
                        if study.values.get(key) is not None]
    measurements += [hd.sr.Measurement(name=name, value=float(study.values[key]), unit=unit, method=method)
                     for key, (name, unit, method) in STUDY_CODES.items() if study.values.get(key) is not None]
    uid = generate_uid(entropy_srcs=[str(e.SOPInstanceUID) for e in evidence] + ["study"])
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=uid, identifier=f"LV function, study level ({study.method})"),
        finding_type=CODES["left_ventricle"], algorithm_id=_algorithm(model), measurements=measurements,
        source_images=[hd.sr.SourceImageForMeasurementGroup(e.SOPClassUID, e.SOPInstanceUID) for e in evidence],
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=["echoquant", model]), name="echoquant", model_name=model[:64]),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=CODES["echocardiography"], imaging_measurements=[group],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # see build_sr: names would reach the log
        return hd.sr.ComprehensiveSR(
            evidence=evidence, content=report[0],
            series_instance_uid=generate_uid(entropy_srcs=[str(first.StudyInstanceUID), "echoquant-study-sr"]),
            series_number=9002, sop_instance_uid=generate_uid(entropy_srcs=[uid, "echoquant-study-sr"]),
            instance_number=1, manufacturer="echoquant", is_complete=True,
            series_description=f"echoquant LV study-level {study.method} (not verified)",
        )


def write_study_sr(path: str | Path, study: StudyResult, model: str) -> Path:
    """Write the study-level SR (:func:`build_study_sr`) from the study's source files, atomically.

    Raises:
        InputError: a source is not a DICOM instance.
        ValueError: the study has no values.
    """
    sources = {}
    for view, clip in study.clips.items():
        if clip is None:
            continue
        try:
            sources[view] = pydicom.dcmread(clip.path, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError as exc:
            raise InputError("a study SR can only reference DICOM source instances", path=clip.path) from exc
    sr = build_study_sr(sources, study, model)
    path = Path(path)
    with atomic_path(path) as tmp:
        sr.save_as(tmp, enforce_file_format=True)
    return path
