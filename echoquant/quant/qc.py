"""Quality control: each check returns flags with reasons; failing values are withheld."""

from __future__ import annotations

import numpy as np

from echoquant.flags import make_flag

__all__ = ["MAX_CI_WIDTH", "PLAUSIBLE", "check_interval_width", "check_jitter", "check_foreshortening", "plausible", "check_confidence"]

# Plausible ranges; outside them a value is withheld, not reported.
PLAUSIBLE = {
    "lvef_pct": (5.0, 90.0),
    "gls_pct": (-35.0, 5.0),
    "edv_ml_human": (15.0, 600.0),
    "edv_ml_rodent": (0.005, 3.0),
    "fac_pct": (3.0, 90.0),
}


# Widest 95 % interval (points) with which a clip's value still informs: beyond ±25
# points the value cannot tell a normal heart from a failing one, and the clip is
# flagged and excluded from cohort statistics. On CAMUS valid a half-width above 25
# points flagged 2 % of the Good/Medium-quality clips, above 20 points 14 % (docs/qc.md,
# "What a QC flag on interval width would buy"): the limit removes hopeless clips (an
# interval clipped at 0 and 100 is always beyond it), not merely uncertain ones.
MAX_CI_WIDTH = {"lvef_pct": 50.0, "fac_pct": 50.0}


def check_interval_width(summary: dict) -> list[str]:
    """``interval_too_wide`` when the 95 % interval of LVEF (or FAC) is wider than
    :data:`MAX_CI_WIDTH`."""
    for key, limit in MAX_CI_WIDTH.items():
        name = key.split("_")[0]
        lo, hi = summary.get(f"{name}_ci_low"), summary.get(f"{name}_ci_high")
        if summary.get(key) is not None and lo is not None and hi is not None and hi - lo > limit:
            return [make_flag("interval_too_wide", (
                f"the 95% interval of {name.upper()} is {lo:.0f}-{hi:.0f} ({hi - lo:.0f} points wide, > {limit:g}): "
                "the clip cannot inform; excluded from statistics (check the view, e.g. a hidden mitral valve)"))]
    return []


def plausible(name: str, value: float | None, key: str | None = None) -> tuple[float | None, list[str]]:
    """Return the value, or None with an ``implausible_*`` flag when outside its range."""
    if value is None or not np.isfinite(value):
        return None, []
    lo, hi = PLAUSIBLE[key or name]
    if lo <= value <= hi:
        return float(value), []
    return None, [make_flag(f"implausible_{name.split('_')[0]}",
                            f"{name} = {value:.3g} is outside {lo:g}..{hi:g}; withheld")]


def check_jitter(volume: np.ndarray, smooth: np.ndarray, stroke: float) -> list[str]:
    """Frame-to-frame jitter of the volume curve relative to the stroke volume."""
    ok = np.isfinite(volume) & np.isfinite(smooth)
    if stroke <= 0 or ok.sum() < 5:
        return []
    rms = float(np.sqrt(np.mean((volume[ok] - smooth[ok]) ** 2)))
    if rms > 0.12 * stroke:
        return [make_flag("jitter", f"volume curve jitters by {100 * rms / stroke:.0f}% of the stroke volume "
                                    "frame to frame; segmentation is unstable")]
    return []


def check_foreshortening(long_axis: np.ndarray, eds: list[int], ess: list[int]) -> list[str]:
    """Long-axis behaviour: too much systolic shortening or ED lengths that vary
    between beats suggest a foreshortened or moving view."""
    flags = []
    for ed, es in zip(eds, ess):
        if np.isfinite(long_axis[ed]) and np.isfinite(long_axis[es]) and long_axis[ed] > 0:
            ratio = long_axis[es] / long_axis[ed]
            if ratio < 0.7:
                flags.append(make_flag("foreshortening", f"long axis shortens by {100 * (1 - ratio):.0f}% ED->ES "
                                                         "(more than 30%); the apex may be foreshortened"))
                break
    ed_len = long_axis[eds][np.isfinite(long_axis[eds])] if eds else np.array([])
    if len(ed_len) >= 2 and (ed_len.max() - ed_len.min()) > 0.1 * ed_len.mean():
        flags.append(make_flag("view_unstable", "ED long-axis length varies by more than 10% between beats"))
    return flags


def check_confidence(confidence: np.ndarray | None, frames: list[int], threshold: float = 0.7) -> list[str]:
    """Mean LV probability at the measured frames."""
    if confidence is None or not frames:
        return []
    c = float(np.mean(confidence[frames]))
    if c < threshold:
        return [make_flag("low_confidence", f"mean LV probability {c:.2f} at ED/ES frames (< {threshold})")]
    return []
