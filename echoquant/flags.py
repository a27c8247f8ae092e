"""Quality flags shared by every stage.

A flag is a plain string ``"code: reason"`` so that it survives CSV, JSON and logs
unchanged; ``code`` is stable and machine-readable, ``reason`` is for people.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["EXCLUDING_CODES", "make_flag", "flag_code", "has_flag", "passes_qc"]

# Flags after which a clip's values must not enter cohort statistics: the view, the
# segmentation or the beat detection is not trustworthy. Other flags (a missing
# calibration, unnamed segments) withhold single values, not the clip.
EXCLUDING_CODES = frozenset({
    "too_few_beats", "foreshortening", "view_unstable", "low_confidence", "jitter", "color_doppler", "no_lv_view",
    "no_lv", "interval_too_wide",
})


def make_flag(code: str, reason: str) -> str:
    """Build a flag string.

    Args:
        code: stable snake_case name, e.g. ``"timing_missing"``.
        reason: what was seen and what was done about it.

    Returns:
        ``"code: reason"``.
    """
    if not code or ":" in code or " " in code:
        raise ValueError(f"flag code must be a non-empty snake_case word, got {code!r}")
    return f"{code}: {reason}"


def flag_code(flag: str) -> str:
    """Return the code part of a flag string."""
    return flag.split(":", 1)[0].strip()


def has_flag(flags: Iterable[str], code: str) -> bool:
    """Whether any flag in ``flags`` has the given code."""
    return any(flag_code(f) == code for f in flags)


def passes_qc(flags: Iterable[str]) -> bool:
    """Whether none of ``flags`` excludes the clip (see :data:`EXCLUDING_CODES`)."""
    return not any(flag_code(f) in EXCLUDING_CODES for f in flags)
