"""Hearts with an infarct of known location, extent and kind, on an otherwise normal LV.

:func:`infarct_params` starts from a *normal* heart of a preset (normal LVEF and GLS,
every segment within 10 % of normal motion), gives one to three contiguous segments
(along the contour, so an infarct can wrap round the apex) the motion of scar, and
optionally a hypokinetic border-zone segment beside them. The remote myocardium keeps
the normal heart's longitudinal shortening and radial contraction: LVEF and GLS are
what that heart *then* has, rather than requested values that the solver would reach
by weakening the remote walls. Every segment's wall-motion class is therefore
unambiguous in the anatomy, and the exact class the truth reports
(:mod:`echoquant.synth.wallmotion`) follows from the motion.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from echoquant.synth.generate import CaseParams, sample_params
from echoquant.synth.heart import HeartMotion, Kinesis, LVShape, solve_motion

__all__ = ["INFARCT_KINESIS", "infarct_params"]

# Kinesis factor ranges (fraction of normal motion; negative = paradoxical) per kind.
INFARCT_KINESIS = {"akinetic": (-0.05, 0.08), "dyskinetic": (-0.4, -0.22), "hypokinetic": (0.3, 0.45)}


def infarct_params(preset: str, seed: int, *, infarct: bool = True, n_segments: int | None = None,
                   dyskinetic: bool | None = None) -> CaseParams:
    """A normal heart of ``preset`` with (or, ``infarct=False``, without) an infarct.

    Args:
        preset: generator preset (:data:`~echoquant.synth.generate.PRESETS`).
        seed: the case's seed.
        infarct: False gives the normal heart itself (the infarct-free control).
        n_segments: scar segments (1-3; drawn when None).
        dyskinetic: whether the scar moves paradoxically (drawn, 30 %, when None).

    Returns:
        The parameters; ``pathology`` is ``"infarct"`` or ``"normal"``.
    """
    base = sample_params(preset, seed, pathology="normal")
    if not infarct:
        return base
    rng = np.random.default_rng([seed, 19])
    n = int(n_segments or rng.integers(1, 4))
    if not 1 <= n <= 3:
        raise ValueError(f"n_segments must be 1-3, got {n}")
    start = int(rng.integers(0, 7 - n))
    core = list(range(start, start + n))
    dysk = bool(rng.uniform() < 0.3) if dyskinetic is None else dyskinetic
    k = np.asarray(base.kinesis, dtype=np.float64).copy()
    k[core] = rng.uniform(*INFARCT_KINESIS["dyskinetic" if dysk else "akinetic"], size=n)
    beside = [s for s in (start - 1, start + n) if 0 <= s < 6]
    if beside and rng.uniform() < 0.5:
        k[beside[int(rng.integers(0, len(beside)))]] = rng.uniform(*INFARCT_KINESIS["hypokinetic"])
    shape = LVShape(**{**base.shape, "thin_segments": tuple(core)})
    normal = solve_motion(shape, Kinesis(tuple(base.kinesis)), base.lvef_pct, base.gls_pct)
    lvef, gls = HeartMotion(shape, Kinesis(tuple(float(x) for x in k)), shortening=normal.shortening,
                            contraction=normal.contraction, decay_mm=normal.decay_mm).ef_gls()
    return replace(base, kinesis=tuple(float(x) for x in k), shape={**base.shape, "thin_segments": tuple(core)},
                   pathology="infarct", lvef_pct=float(lvef), gls_pct=float(gls))
