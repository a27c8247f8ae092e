"""The scoring API: ``from echoquant import score, Analyzer``.

A thin door: :class:`Analyzer` chains the reader, the segmentation
:class:`~echoquant.segment.predictor.Predictor` and :func:`~echoquant.quant.quantify`;
the CLI and the Hydra ``infer`` task call the same objects.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from echoquant import __version__
from echoquant.errors import EchoquantError
from echoquant.flags import passes_qc
from echoquant.io import read_cine
from echoquant.io.cine import CineMeta, EchoCine
from echoquant.io.mmode import MModeStrip, has_mmode, read_mmode
from echoquant.quant import quantify
from echoquant.quant.mmode import MModeResult, measure_mmode
from echoquant.quant.cycle import species_bounds
from echoquant.quant.result import QuantResult
from echoquant.quant.study import StudyResult
from echoquant.segmentation import LV_CAVITY, Segmentation

__all__ = ["Analyzer", "EchoResult", "MModeEchoResult", "score", "score_mmode", "score_study"]

# The M-mode measurement is a tracer, not a network: its name in the results' model column.
MMODE_METHOD = "mmode-dp-tracer"


@dataclass
class EchoResult:
    """What echoquant measured on one loop.

    Attributes:
        quant: the full measurement (curves, per-beat values, landmarks, flags).
        lv_masks: ``(T, H, W)`` bool LV cavity on the cine's own pixel grid.
        cine_info: the loop's description (:meth:`EchoCine.summary`, no pixels).
        meta: identifiers and acquisition facts.
        input_flags: flags raised while reading the loop.
        model: name of the segmentation model.
        path: source file, when scored from a file.
    """

    quant: QuantResult
    lv_masks: np.ndarray = field(repr=False)
    mode = "2d"  # a B-mode loop (MModeEchoResult.mode is "mmode")
    cine_info: dict[str, Any] = field(repr=False)
    meta: CineMeta = field(repr=False)
    input_flags: list[str]
    model: str
    path: str | None = None

    @property
    def lvef_pct(self) -> float | None:
        return self.quant.summary.get("lvef_pct")

    @property
    def edv_ml(self) -> float | None:
        return self.quant.summary.get("edv_ml")

    @property
    def esv_ml(self) -> float | None:
        return self.quant.summary.get("esv_ml")

    @property
    def gls_pct(self) -> float | None:
        return self.quant.summary.get("gls_pct")

    @property
    def lvef_ci(self) -> tuple[float | None, float | None]:
        """95 % interval of LVEF (%) (see :mod:`echoquant.quant.intervals`)."""
        return self._ci("lvef")

    @property
    def gls_ci(self) -> tuple[float | None, float | None]:
        """95 % interval of GLS (%)."""
        return self._ci("gls")

    @property
    def edv_ci(self) -> tuple[float | None, float | None]:
        """95 % interval of EDV (mL)."""
        return self._ci("edv")

    @property
    def esv_ci(self) -> tuple[float | None, float | None]:
        """95 % interval of ESV (mL)."""
        return self._ci("esv")

    @property
    def wmsi(self) -> float | None:
        """Wall motion score index, 1 (normal) to 4 (see :mod:`echoquant.quant.wallmotion`)."""
        return self.quant.summary.get("wmsi")

    @property
    def akinetic_extent_pct(self) -> float | None:
        """ED endocardial length of akinetic or dyskinetic segments, % of the assessable length."""
        return self.quant.summary.get("akinetic_extent_pct")

    @property
    def wall_motion(self) -> dict[str, str]:
        """Each segment's wall-motion class by segment name (``"not_assessable"`` where not seen well)."""
        return {m["name"]: m["wall_motion"] for m in self.quant.summary.get("wall_motion") or []}

    def _ci(self, name: str) -> tuple[float | None, float | None]:
        return self.quant.summary.get(f"{name}_ci_low"), self.quant.summary.get(f"{name}_ci_high")

    @property
    def ed_frames(self) -> list[int]:
        return self.quant.ed_frames

    @property
    def es_frames(self) -> list[int]:
        return self.quant.es_frames

    @property
    def qc_flags(self) -> list[str]:
        """Reader flags, then measurement flags (``"code: reason"``)."""
        return list(dict.fromkeys(self.input_flags + self.quant.flags))

    @property
    def qc_pass(self) -> bool:
        """LVEF was measured and no flag excludes the clip from statistics."""
        return self.lvef_pct is not None and passes_qc(self.qc_flags)

    def to_dict(self, contours: bool = False) -> dict[str, Any]:
        """JSON-serialisable description: loop, summary, beats, curves, flags."""
        out = self.quant.to_dict(contours=contours)
        out.pop("flags")
        return {
            "path": self.path,
            "model": self.model,
            "echoquant_version": __version__,
            "cine": self.cine_info,
            "ed_frames": self.ed_frames,
            "es_frames": self.es_frames,
            "qc_flags": self.qc_flags,
            "qc_pass": self.qc_pass,
            **out,
        }


@dataclass
class MModeEchoResult:
    """What echoquant measured on one M-mode strip.

    Attributes:
        quant: the measurement (:class:`~echoquant.quant.mmode.MModeResult`).
        strip_info: the strip's description (:meth:`MModeStrip.summary`, no pixels).
        meta: identifiers and acquisition facts.
        input_flags: flags raised while reading the strip.
        path: source file, when scored from a file.
    """

    quant: MModeResult
    strip_info: dict[str, Any] = field(repr=False)
    meta: CineMeta = field(repr=False)
    input_flags: list[str]
    path: str | None = None
    model: str = MMODE_METHOD
    mode = "mmode"

    def __getattr__(self, name: str) -> Any:
        # Summary values as attributes: result.fs_pct, result.lvidd_mm, ...
        summary = self.__dict__.get("quant").summary if "quant" in self.__dict__ else {}
        if name in _MMODE_VALUES:
            return summary.get(name)
        raise AttributeError(name)

    @property
    def qc_flags(self) -> list[str]:
        """Reader flags, then measurement flags (``"code: reason"``)."""
        return list(dict.fromkeys(self.input_flags + self.quant.flags))

    @property
    def qc_pass(self) -> bool:
        """FS was measured and no flag excludes the strip from statistics."""
        return self.quant.summary.get("fs_pct") is not None and passes_qc(self.qc_flags)

    def to_dict(self) -> dict[str, Any]:
        out = self.quant.to_dict()
        out.pop("flags")
        return {"path": self.path, "mode": self.mode, "model": self.model, "echoquant_version": __version__,
                "strip": self.strip_info, "qc_flags": self.qc_flags, "qc_pass": self.qc_pass, **out}


_MMODE_VALUES = ("lvidd_mm", "lvids_mm", "ivsd_mm", "ivss_mm", "lvpwd_mm", "lvpws_mm", "fs_pct",
                 "lvef_teichholz_pct", "edv_teichholz_ml", "esv_teichholz_ml", "lv_mass_g", "lv_mass_mg",
                 "heart_rate_bpm_measured", "n_beats", "species")


def score_mmode(source: str | Path | MModeStrip) -> MModeEchoResult:
    """Measure an M-mode strip (a file with an M-mode region, or a strip already read):
    LVIDd/s, IVSd/s, LVPWd/s, FS, Teichholz volumes and LVEF, LV mass, heart rate, every
    beat (:mod:`echoquant.quant.mmode`).

    Raises:
        echoquant.errors.InputError: the file cannot be read, or has no M-mode region.
    """
    strip = source if isinstance(source, MModeStrip) else read_mmode(source)
    r_waves = strip.ecg.r_wave_times_s if strip.ecg is not None and strip.ecg.frame_aligned else None
    quant = measure_mmode(strip.pixels, mm_per_px=strip.mm_per_px, seconds_per_px=strip.seconds_per_px,
                          r_wave_times_s=r_waves, heart_rate_bpm=strip.heart_rate_bpm)
    path = None if isinstance(source, MModeStrip) else str(source)
    return MModeEchoResult(quant, strip.summary(), strip.meta, list(strip.flags), path or strip.meta.source_path)


class Analyzer:
    """Load a model once and score many loops.

    Args:
        model: model bundle folder; None for the shipped default.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``...
        tta: test-time augmentation (mirror) in segmentation.
        temporal_window: frames over which class probabilities are averaged.
        track: run speckle tracking for GLS.
        max_beats: analyse at most this many beats per loop.
        batch_size: frames per network forward pass (None: the device's default,
            :data:`~echoquant.segment.predictor.DEFAULT_BATCH`).
        view_model: the apical view classifier's folder (default: the shipped one);
            it names the view of human loops whose header has none.
        find_views: use the view classifier at all. The shipped one is trained on
            CAMUS (CC BY-NC-SA 4.0); False keeps every loop's view to its header
            (unnamed segments where it has none).
    """

    def __init__(self, model: str | Path | None = None, device: str = "auto", *, tta: bool = False,
                 temporal_window: int = 3, track: bool = True, max_beats: int | None = None,
                 batch_size: int | None = None, view_model: str | Path | None = None, find_views: bool = True) -> None:
        from echoquant.segment.predictor import Predictor
        from echoquant.segment.views import ViewClassifier

        self.predictor = Predictor(model, device=device, batch_size=batch_size, tta=tta,
                                   temporal_window=temporal_window)
        self.views = ViewClassifier(view_model, self.predictor.device) if find_views else None
        self.track, self.max_beats = track, max_beats

    @property
    def model_name(self) -> str:
        return self.predictor.name

    def score(self, source: str | Path | EchoCine | MModeStrip, *, track: bool | None = None,
              max_beats: int | None = None) -> EchoResult | MModeEchoResult:
        """Segment and measure one loop; a file (or strip) with an M-mode region is
        measured as M-mode (:func:`score_mmode`).

        Args:
            source: a DICOM/video path, an :class:`EchoCine` or an :class:`MModeStrip`.
            track, max_beats: override the analyzer's settings for this call.

        Raises:
            echoquant.errors.InputError: the file cannot be read as an echo loop.
        """
        if isinstance(source, MModeStrip) or (not isinstance(source, EchoCine) and has_mmode(source)):
            return score_mmode(source)
        path = None
        if not isinstance(source, EchoCine):
            path = str(source)
            source = read_cine(source, require_loop=True)
        cine = source
        seg = self.predictor.predict(cine)
        quant = quantify(cine, seg, track=self.track if track is None else track,
                         max_beats=self.max_beats if max_beats is None else max_beats,
                         found_view=self._find_view(cine, seg))
        return EchoResult(quant=quant, lv_masks=seg.labels == LV_CAVITY, cine_info=cine.summary(), meta=cine.meta,
                          input_flags=list(cine.flags), model=self.model_name,
                          path=path or cine.meta.source_path)

    def _find_view(self, cine: EchoCine, seg: Segmentation) -> tuple[str, float] | None:
        """The apical view of a human loop whose header names none, from its largest-
        and smallest-cavity frames (ED- and ES-like); None for rodent loops (the
        classifier knows human apical views only) and when the header has the view."""
        if self.views is None or cine.meta.view or species_bounds(cine.fps, cine.heart_rate_bpm)[0] != "human":
            return None
        area = (seg.labels == LV_CAVITY).reshape(cine.n_frames, -1).sum(axis=1)
        if not area.any():
            return None
        pick = sorted({int(np.argmax(area)), int(np.argmin(np.where(area > 0, area, area.max() + 1)))})
        found = self.views.predict(cine.frames[pick], seg.labels[pick], cine.fan_mask)
        return found.view, found.probability

    def score_many(self, paths: Iterable[str | Path]) -> pd.DataFrame:
        """Score files one after another; a file that fails gives a ``failed`` row.

        Returns:
            One row per path with the columns of ``results.csv``
            (:data:`echoquant.export.tables.RESULT_COLUMNS`).
        """
        from echoquant.export.tables import error_row, result_row, results_frame

        rows = []
        for p in paths:
            start = time.perf_counter()
            try:
                rows.append(result_row(self.score(p), elapsed_s=time.perf_counter() - start))
            except EchoquantError as exc:
                rows.append(error_row(p, exc))
        return results_frame(rows)


@functools.lru_cache(maxsize=4)
def _cached_analyzer(model: str | None, device: str, tta: bool, temporal_window: int,
                      batch_size: int | None) -> Analyzer:
    return Analyzer(model, device, tta=tta, temporal_window=temporal_window, batch_size=batch_size)


def score(source: str | Path | EchoCine, *, model: str | Path | None = None, device: str = "auto",
          tta: bool = False, temporal_window: int = 3, track: bool = True, max_beats: int | None = None,
          batch_size: int | None = None) -> EchoResult | MModeEchoResult:
    """Score one loop with a cached :class:`Analyzer` (the model loads once per process);
    an M-mode file gives an :class:`MModeEchoResult` (no network is loaded for it).

    Args:
        source: a DICOM/video path or an :class:`EchoCine`.
        model, device, tta, temporal_window, batch_size: see :class:`Analyzer`; each
            combination is loaded once and kept.
        track, max_beats: per-call measurement options.

    Returns:
        An :class:`EchoResult`, or an :class:`MModeEchoResult` for an M-mode strip.
    """
    if isinstance(source, MModeStrip) or (not isinstance(source, EchoCine) and has_mmode(source)):
        return score_mmode(source)  # no network is loaded for a strip
    if not isinstance(source, EchoCine):
        source = read_cine(source, require_loop=True)  # read here: the analyzer need not look for M-mode again
    analyzer = _cached_analyzer(None if model is None else str(model), device, tta, temporal_window, batch_size)
    return analyzer.score(source, track=track, max_beats=max_beats)


def score_study(paths: Iterable[str | Path], *, model: str | Path | None = None, device: str = "auto",
                tta: bool = False, temporal_window: int = 3, batch_size: int | None = None, track: bool = True) -> StudyResult:
    """Score the loops of one study and combine them: biplane LVEF and volumes from the best
    A4C and A2C loop, single plane when a view is missing (:mod:`echoquant.quant.study`).

    Args:
        paths: the study's loops (DICOM or video).
        model, device, tta, temporal_window, batch_size: see :class:`Analyzer` (loaded
            once per process and shared with :func:`score`).
        track: speckle tracking for GLS.

    Returns:
        A :class:`~echoquant.quant.study.StudyResult` (``.row()`` gives its ``studies.csv`` row).

    Raises:
        ValueError: no paths, or loops from more than one study (by Study UID, else
            patient and study date).
        echoquant.errors.InputError: a file cannot be read as an echo loop.
    """
    from echoquant.export.tables import result_row
    from echoquant.quant.study import StudyClip, study_key, study_result

    analyzer = _cached_analyzer(None if model is None else str(model), device, tta, temporal_window, batch_size)
    clips = []
    for p in paths:
        r = analyzer.score(p, track=track)
        clip = StudyClip.from_record({"row": result_row(r), "result": r.to_dict()})
        if clip is not None:
            clips.append(clip)
    if not clips:
        raise ValueError("score_study needs at least one loop, got none")
    keys = {study_key(c) for c in clips} - {None}
    if len(keys) > 1:
        raise ValueError(f"the loops belong to {len(keys)} studies ({sorted(keys)}); pass one study's loops")
    return study_result(keys.pop() if keys else "study", clips)
