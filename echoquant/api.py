"""The scoring API: ``from echoquant import score, Analyzer``.

A thin door: :class:`Analyzer` chains the reader, the segmentation
:class:`~echoquant.segment.predictor.Predictor` and :func:`~echoquant.quant.quantify`;
the CLI and the Hydra ``infer`` task call the same objects.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from echoquant.errors import EchoquantError
from echoquant.io import read_echo
from echoquant.io.acquisition import AcquisitionTable
from echoquant.io.cine import EchoCine
from echoquant.io.mmode import MModeStrip, read_mmode
from echoquant.io.species import loop_species
from echoquant.quant import quantify
from echoquant.quant.mmode import measure_mmode
from echoquant.quant.study import StudyResult
from echoquant.results import EchoResult, MModeEchoResult
from echoquant.segment.result import LV_CAVITY, Segmentation

__all__ = ["Analyzer", "EchoResult", "MModeEchoResult", "score", "score_mmode", "score_study"]

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
                 batch_size: int | None = None, view_model: str | Path | None = None, find_views: bool = True,
                 acquisition_table: str | Path | AcquisitionTable | None = None, prefer_table: bool = False) -> None:
        from echoquant.segment.predictor import Predictor
        from echoquant.segment.views import ViewClassifier

        # The table is read first: a broken table fails before the model loads.
        self.acquisition = (acquisition_table if isinstance(acquisition_table, AcquisitionTable) or acquisition_table
                            is None else AcquisitionTable.read(acquisition_table))
        self.prefer_table = prefer_table
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
        path = None
        if not isinstance(source, (EchoCine, MModeStrip)):
            path = str(source)
            source = read_echo(source, require_loop=True)
        if isinstance(source, MModeStrip):
            return score_mmode(source)
        cine = source
        if self.acquisition is not None:
            cine = self.acquisition.apply(cine, prefer_table=self.prefer_table)
        seg = self.predictor.predict(cine)
        # "weights": the bundle that segmented this loop (the default model routes rodents to its rodent weights)
        settings = {"weights": seg.model, "found_view": self._find_view(cine, seg),
                    "track": self.track if track is None else track,
                    "max_beats": self.max_beats if max_beats is None else max_beats,
                    "frame_times_ms": None if cine.frame_times_ms is None else cine.frame_times_ms.tolist()}
        quant = quantify(cine, seg, track=settings["track"], max_beats=settings["max_beats"],
                         found_view=settings["found_view"])
        return EchoResult(quant=quant, lv_masks=seg.labels == LV_CAVITY, cine_info=cine.summary(), meta=cine.meta,
                          input_flags=list(cine.flags), model=self.model_name,
                          path=path or cine.meta.source_path, segmentation=seg, settings=settings)

    def _find_view(self, cine: EchoCine, seg: Segmentation) -> tuple[str, float] | None:
        """The apical view of a human loop whose header names none, from its largest-
        and smallest-cavity frames (ED- and ES-like); None for rodent loops (the
        classifier knows human apical views only) and when the header has the view."""
        species = loop_species(cine)[0]
        if self.views is None or cine.meta.view or species != "human":
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
          batch_size: int | None = None, acquisition_table: str | Path | AcquisitionTable | None = None,
          prefer_table: bool = False) -> EchoResult | MModeEchoResult:
    """Score one loop with a cached :class:`Analyzer` (the model loads once per process);
    an M-mode file gives an :class:`MModeEchoResult` (no network is loaded for it).

    Args:
        source: a DICOM/video/TIFF path or an :class:`EchoCine`.
        model, device, tta, temporal_window, batch_size: see :class:`Analyzer`; each
            combination is loaded once and kept.
        track, max_beats: per-call measurement options.
        acquisition_table: a side table (CSV path or :class:`AcquisitionTable`) with
            what the file lacks: spacing, frame rate, species, view, subject, timepoint
            (:mod:`echoquant.io.acquisition`).
        prefer_table: the table's values win over the header's.

    Returns:
        An :class:`EchoResult`, or an :class:`MModeEchoResult` for an M-mode strip.
    """
    if not isinstance(source, (EchoCine, MModeStrip)):
        source = read_echo(source, require_loop=True)  # header parsed once, routed by content
    if isinstance(source, MModeStrip):
        return score_mmode(source)  # no network is loaded for a strip
    if acquisition_table is not None:
        table = acquisition_table if isinstance(acquisition_table, AcquisitionTable) else \
            AcquisitionTable.read(acquisition_table)
        source = table.apply(source, prefer_table=prefer_table)
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
