"""95 % intervals on LVEF, GLS, EDV and ESV.

Each interval combines three sources of error, as independent terms of a variance:

* **beat-to-beat spread**: the standard error of the median over the measured beats
  (``SD / sqrt(n)``; zero for a single beat);
* **segmentation uncertainty** of this loop: how much the value moves when the LV
  border is drawn at a probability of 0.75 or 0.25 instead of 0.5
  (:data:`~echoquant.segment.result.AREA_LEVELS`; a sure network's border hardly
  moves), and for GLS how far the tracked-line strain and the contour-length strain
  disagree; scaled by a factor ``k``;
* a **floor**: the method's error that no per-loop signal shows (the model's bias on
  a kind of image it was not trained on, the single-plane geometry).

``k`` and the floor of each quantity (:data:`INTERVAL_MODELS`) were fitted so that
the intervals cover the truth in about 93 % of cases (90-100 % on every fit set) on
data with known truth: CAMUS valid patients with odd numbers (LVEF and volumes
against the expert masks, same method) and a generated fit suite (LVEF, GLS,
volumes); they are checked on the even patients and on the generated held-out suite
(``scripts/calibrate_qc.py``, ``docs/qc.md``). The segmentation term carries most of
the width: a fixed floor wide enough for real images would over-cover the easier
generated ones.
They belong to the shipped model; re-run the calibration after retraining.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echoquant.segment.result import AREA_LEVELS

__all__ = ["IntervalModel", "INTERVAL_MODELS", "Z95", "as_finite", "finite_median", "finite_sd", "interval",
           "level_volumes", "lvef_spread", "volume_spread"]

Z95 = 1.959964


@dataclass(frozen=True)
class IntervalModel:
    """``half-width = 1.96 * sqrt(se_beats^2 + (k * u_seg)^2 + floor^2)``; for volumes all
    three terms are fractions of the value (``relative``)."""

    k: float
    floor: float
    relative: bool = False


# Fitted by ``scripts/calibrate_qc.py report`` for models echoquant_lv_unet (segmentation)
# on 2026-11-30: see docs/qc.md for the coverage each gives.
INTERVAL_MODELS = {
    "lvef_pct": IntervalModel(k=5.5, floor=3.0),
    "gls_pct": IntervalModel(k=1.75, floor=0.25),
    "edv_ml": IntervalModel(k=0.0, floor=0.075, relative=True),
    "esv_ml": IntervalModel(k=1.5, floor=0.045, relative=True),
    # FAC (short-axis loops, issue 32): fitted on 16 generated mouse/rat SAX loops with exact
    # FAC (coverage 94 %), checked on 16 others (94 %, median half-width 4.1 points; FAC MAE
    # 2.04 there) by `python scripts/calibrate_fac.py --n 8` (2026-12-07, session 9, refitted
    # for the default model's rodent weights; before: k 2.75, floor 2 with the shared weights,
    # k 2.25, floor 1.75 on segmented areas). LVEF's model (k 5.5, floor 3) gives FAC intervals
    # 1.8x wider (coverage 100 %).
    "fac_pct": IntervalModel(k=1.0, floor=2.0),
}
_MID = AREA_LEVELS.index(0.5)


def level_volumes(volume: float, areas: np.ndarray | None) -> np.ndarray | None:
    """The volume with the border drawn at each probability level: ``V * (A_level / A_0.5) ** 1.5``
    (a shape scaled in both image axes and, by rotation, in the third); None without areas."""
    if areas is None or not np.all(np.isfinite(areas)) or areas[_MID] <= 0:
        return None
    return volume * (np.asarray(areas, dtype=np.float64) / areas[_MID]) ** 1.5


def lvef_spread(edv: float, esv: float, ed_areas: np.ndarray | None, es_areas: np.ndarray | None) -> float | None:
    """LVEF points by which the value moves when both borders are drawn at another
    probability level (the same level at ED and ES: a network that draws wide draws
    wide in both)."""
    v_ed, v_es = level_volumes(edv, ed_areas), level_volumes(esv, es_areas)
    if v_ed is None or v_es is None or edv <= 0 or np.any(v_ed <= 0):
        return None
    ef = 100.0 * (1.0 - v_es / v_ed)
    return float(np.max(np.abs(ef - 100.0 * (1.0 - esv / edv))))


def volume_spread(volume: float, areas: np.ndarray | None) -> float | None:
    """Largest relative change of a volume between probability levels (a fraction)."""
    v = level_volumes(volume, areas)
    if v is None or volume <= 0:
        return None
    return float(np.max(np.abs(v / volume - 1.0)))


def _finite(values: list[float | None]) -> np.ndarray:
    return np.array([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)


def as_finite(value: object) -> float | None:
    """``value`` as a float when it is a finite number (a table cell, say), else None."""
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def finite_median(values: list[float | None]) -> float | None:
    """Median of the finite values (per-beat values with None where unmeasured); None if none."""
    v = _finite(values)
    return float(np.median(v)) if len(v) else None


def finite_sd(values: list[float | None]) -> float | None:
    """Sample SD of the finite values; None with fewer than two."""
    v = _finite(values)
    return float(np.std(v, ddof=1)) if len(v) >= 2 else None


def interval(value: float | None, beat_values: list[float | None], spreads: list[float | None],
             model: IntervalModel, bounds: tuple[float, float] | None = None) -> tuple[float | None, float | None]:
    """The 95 % interval around a summary value.

    Args:
        value: the reported value (median over beats); None gives ``(None, None)``.
        beat_values: the per-beat values it summarises.
        spreads: per-beat segmentation uncertainty (same unit as the value, or a
            fraction of it for a ``relative`` model); their median is used.
        model: the calibrated ``k`` and floor.
        bounds: clip the interval to these limits (e.g. 0..100 % for LVEF).

    Returns:
        ``(low, high)``.
    """
    if value is None or not np.isfinite(value):
        return None, None
    beats, seg = _finite(beat_values), _finite(spreads)
    scale = abs(value) if model.relative else 1.0
    se_beats = float(np.std(beats, ddof=1) / np.sqrt(len(beats))) / scale if len(beats) >= 2 and scale > 0 else 0.0
    u = float(np.median(seg)) if len(seg) else 0.0
    half = Z95 * float(np.sqrt(se_beats**2 + (model.k * u) ** 2 + model.floor**2)) * scale
    lo, hi = value - half, value + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return float(lo), float(hi)
