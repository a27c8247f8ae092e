"""The systolic fraction over time: how far from ED to ES the heart is at each instant."""

from __future__ import annotations

import numpy as np

__all__ = ["systolic_fraction", "beat_starts"]


def _ease(x: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero slope at both ends (half cosine)."""
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def systolic_fraction(phase: np.ndarray, es_phase: float, *, hold: float = 0.06, rapid: float = 0.17,
                      gap: float = 0.02) -> np.ndarray:
    """Systolic fraction ``f`` (0 at ED, 1 at ES) at a phase of the cycle (0..1).

    Systole rises smoothly to ES; isovolumic relaxation holds; rapid filling takes
    most of the volume back, diastasis a little more, the atrial kick the rest.
    Zero slope at ED and ES, so the frames nearest to them hold the extreme volumes.

    Args:
        phase: phase(s) of the cardiac cycle, in [0, 1).
        es_phase: phase of end-systole (0.3-0.5).
        hold: isovolumic relaxation, where f stays 1 (0: ES is a single instant).
        rapid: length of rapid filling (phase units).
        gap: least diastasis between rapid filling and the atrial kick.
    """
    p = np.mod(np.asarray(phase, dtype=np.float64), 1.0)
    ivr = es_phase + hold
    rapid_end = ivr + rapid
    kick_start = max(rapid_end + gap, 0.85)
    f = np.empty_like(p)
    sys = p < es_phase
    f[sys] = _ease(p[sys] / es_phase)
    hold = (p >= es_phase) & (p < ivr)
    f[hold] = 1.0
    rapid = (p >= ivr) & (p < rapid_end)
    f[rapid] = 1.0 - 0.75 * _ease((p[rapid] - ivr) / (rapid_end - ivr))
    dias = (p >= rapid_end) & (p < kick_start)
    f[dias] = 0.25 - 0.05 * (p[dias] - rapid_end) / max(kick_start - rapid_end, 1e-9)
    kick = p >= kick_start
    f[kick] = 0.2 * (1.0 - _ease((p[kick] - kick_start) / (1.0 - kick_start)))
    return f


def beat_starts(duration_s: float, rr_s: np.ndarray, start_phase: float) -> np.ndarray:
    """ED times (s) of the beats that start within ``[0, duration_s]``.

    Args:
        duration_s: loop length.
        rr_s: RR interval of successive beats (cycled if shorter than needed).
        start_phase: phase of the first frame within the first beat.
    """
    t = -start_phase * rr_s[0]
    starts = []
    i = 0
    while t <= duration_s + 1e-9:
        starts.append(t)
        t += rr_s[i % len(rr_s)]
        i += 1
    return np.asarray(starts)
