"""Biplane method of disks from an apical 4-chamber and a 2-chamber clip of one study."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from echoquant.flags import make_flag
from echoquant.quant.contour import LVContour, N_PER_SIDE
from echoquant.quant.result import QuantResult
from echoquant.quant.volumes import biplane_volume_ml

__all__ = ["BiplaneResult", "biplane", "pair_by_study"]


@dataclass
class BiplaneResult:
    """Biplane EDV/ESV/LVEF of one study (first analysed beat of each view)."""

    edv_ml: float | None
    esv_ml: float | None
    lvef_pct: float | None
    flags: list[str]


def _contour(result: QuantResult, frame: int) -> LVContour | None:
    pts = result.contours_px[frame] if frame < len(result.contours_px) else None
    if pts is None:
        return None
    return LVContour(pts, pts[N_PER_SIDE], np.stack([pts[0], pts[-1]]), "stored")


def biplane(a4c: QuantResult, spacing4: tuple[float, float] | None, a2c: QuantResult,
            spacing2: tuple[float, float] | None) -> BiplaneResult:
    """Biplane volumes from the ED and ES contours of the first beat of each view.

    Both clips must be calibrated and have a beat; the views are assumed to be
    from the same study and heart rate (see :func:`pair_by_study`).
    """
    flags = []
    if spacing4 is None or spacing2 is None:
        flags.append(make_flag("volumes_withheld", "a clip of the pair has no trusted calibration"))
        return BiplaneResult(None, None, None, flags)
    if not a4c.beats or not a2c.beats:
        flags.append(make_flag("too_few_beats", "a clip of the pair has no analysed beat"))
        return BiplaneResult(None, None, None, flags)
    vols = []
    for phase in ("ed_frame", "es_frame"):
        c4 = _contour(a4c, getattr(a4c.beats[0], phase))
        c2 = _contour(a2c, getattr(a2c.beats[0], phase))
        if c4 is None or c2 is None:
            flags.append(make_flag("frames_without_lv", f"no contour at {phase} in one view"))
            return BiplaneResult(None, None, None, flags)
        vols.append(biplane_volume_ml(c4, spacing4, c2, spacing2))
    edv, esv = vols
    return BiplaneResult(edv, esv, 100.0 * (edv - esv) / edv if edv > 0 else None, flags)


def pair_by_study(items: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Pair A4C and A2C clips of the same study.

    Args:
        items: dicts with at least ``study_uid`` and ``view`` (e.g. rows of a results
            table, or ``{"study_uid":..., "view":..., "result":..., "spacing_mm":...}``).

    Returns:
        ``(a4c, a2c)`` pairs, the first clip of each view per study (in input order).
    """
    by_study: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for item in items:
        study, view = item.get("study_uid"), item.get("view")
        if study and view in ("A4C", "A2C"):
            by_study[study].setdefault(view, item)
    return [(v["A4C"], v["A2C"]) for v in by_study.values() if "A4C" in v and "A2C" in v]
