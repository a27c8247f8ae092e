"""Which animal a loop shows: from its header or side table, else inferred from the field
of view and the heart or frame rate (and flagged as inferred).

Segmentation (which weights to use) and quantification (which plausibility bounds apply)
ask the same question of the same loop, so the answer lives with the reader.
"""

from __future__ import annotations

import numpy as np

from echoquant.flags import make_flag
from echoquant.io.cine import EchoCine

__all__ = ["HR_BOUNDS_BPM", "cine_depth_mm", "loop_species", "resolve_species", "species_bounds"]

# Physiological heart-rate bounds.
HR_BOUNDS_BPM = {"human": (30.0, 200.0), "rodent": (250.0, 750.0)}


def species_bounds(fps: float | None, heart_rate_bpm: float | None) -> tuple[str, tuple[float, float]]:
    """Which heart-rate bounds apply: from the recorded heart rate, else the frame
    rate (loops above 100 fps are small-animal loops)."""
    if heart_rate_bpm is not None:
        kind = "rodent" if heart_rate_bpm >= 240 else "human"
    else:
        kind = "rodent" if (fps or 0) >= 100 else "human"
    return kind, HR_BOUNDS_BPM[kind]


def resolve_species(meta_species: str | None, meta_source: str | None, fps: float | None,
                    heart_rate_bpm: float | None, depth_mm: float | None) -> tuple[str, str, list[str]]:
    """The loop's species (``mouse``, ``rat`` or ``human``), where it came from
    (``header``, ``table``, ``inferred``) and a flag when it was inferred.

    Inferred from the field of view (depth of the image: a mouse heart is imaged at
    8-15 mm, a rat's at 15-30 mm, a human's at 120-200 mm) and else from the heart or
    frame rate (:func:`species_bounds`); a rodent without a depth is taken as a mouse
    when its heart rate is above 450 bpm."""
    if meta_species:
        return meta_species, meta_source or "header", []
    kind, _ = species_bounds(fps, heart_rate_bpm)
    if depth_mm is not None:
        species = "human" if depth_mm >= 40 else ("mouse" if depth_mm < 16 else "rat")
        why = f"a {depth_mm:.0f} mm deep image"
    else:
        species = "human" if kind == "human" else ("mouse" if (heart_rate_bpm or 500) > 450 else "rat")
        why = (f"a heart rate of {heart_rate_bpm:.0f} bpm" if heart_rate_bpm else
               f"{fps:.0f} frames/s" if fps else "no rate (assumed human)")
    return species, "inferred", [make_flag("species_inferred", (
        f"no species in the header or an acquisition table: {species} from {why}; give PatientSpeciesDescription "
        "or a 'species' column (--acquisition-table)"))]


def cine_depth_mm(cine: EchoCine) -> float | None:
    """Depth of the imaged region (first to last row of the scan sector) in mm; None
    without a calibration."""
    rows = np.flatnonzero(cine.fan_mask.any(axis=1))
    if not cine.spacing_mm or not len(rows):
        return None
    return float((rows[-1] - rows[0] + 1) * cine.spacing_mm[0])


def loop_species(cine: EchoCine, species: str | None = None) -> tuple[str, str, list[str]]:
    """:func:`resolve_species` for a loop; ``species`` (a caller's word) wins over the
    header and is recorded as ``given``."""
    return resolve_species(species or cine.meta.species, "given" if species else cine.meta.species_source,
                           cine.fps, cine.heart_rate_bpm, cine_depth_mm(cine))
