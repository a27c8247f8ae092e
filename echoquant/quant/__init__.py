"""Quantification: contours, volumes, LVEF, ED/ES and beats, strain, QC."""

from __future__ import annotations

from echoquant.quant.biplane import BiplaneResult, biplane, pair_by_study
from echoquant.quant.contour import LVContour, extract_contour
from echoquant.quant.cycle import Beat, detect_beats
from echoquant.quant.pipeline import quantify, segment_names_for
from echoquant.quant.result import BeatResult, QuantResult
from echoquant.quant.volumes import biplane_volume_ml, frame_volumes

__all__ = [
    "Beat", "BeatResult", "BiplaneResult", "LVContour", "QuantResult",
    "biplane", "biplane_volume_ml", "pair_by_study", "detect_beats", "extract_contour", "frame_volumes", "quantify", "segment_names_for",
]
