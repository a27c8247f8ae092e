"""The measurement result: per-frame curves, per-beat values, summary, landmarks, flags."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["BeatResult", "QuantResult", "json_safe"]


def json_safe(x: Any) -> Any:
    """JSON-safe copy: arrays to lists, numpy scalars to Python, NaN and inf to None."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, np.ndarray):
        return json_safe(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(x, np.integer):
        return int(x)
    return x


@dataclass
class BeatResult:
    """Values of one beat (ED -> ES, next ED when in the loop).

    Volumes are None without trusted calibration; strain values None when
    tracking was not run or failed QC. ``gls_pct`` is the Lagrangian strain of the
    tracked endocardial line held on the segmented border (tracking gives the
    material points, segmentation the border); ``gls_tracking_only_pct`` the same
    line from tracking alone, for comparison; ``gls_contour_pct`` the change of the
    segmented contour's length.
    """

    ed_frame: int
    es_frame: int
    next_ed_frame: int | None
    lvef_pct: float | None
    edv_ml: float | None
    esv_ml: float | None
    gls_pct: float | None
    gls_contour_pct: float | None
    gls_midwall_pct: float | None
    time_to_peak_ms: float | None
    regional_strain_pct: dict[str, float] = field(default_factory=dict)
    gls_tracking_only_pct: float | None = None
    fb_failure: float | None = None
    # Segmentation uncertainty of this beat (see echoquant.quant.intervals): LVEF points,
    # fractions of EDV/ESV, and GLS points between tracked-line and contour strain.
    lvef_seg_spread_pct: float | None = None
    edv_seg_spread_frac: float | None = None
    esv_seg_spread_frac: float | None = None
    gls_method_spread_pct: float | None = None
    # Short-axis loops (echoquant.quant.sax): cavity areas (mm², None without calibration),
    # fractional area change and how much it moves with the border's probability level.
    eda_mm2: float | None = None
    esa_mm2: float | None = None
    fac_pct: float | None = None
    fac_seg_spread_pct: float | None = None
    # FAC from the segmented areas alone, kept when fac_pct comes from the tracked border.
    fac_seg_pct: float | None = None
    # Parasternal dimensions (PLAX: echoquant.quant.plax; SAX: echoquant.quant.saxmotion),
    # mm (None uncalibrated; FS is a ratio and always given), named as M-mode names them.
    lvidd_mm: float | None = None
    lvids_mm: float | None = None
    fs_pct: float | None = None
    ivsd_mm: float | None = None
    ivss_mm: float | None = None
    lvpwd_mm: float | None = None
    lvpws_mm: float | None = None
    lv_length_mm: float | None = None
    lv_length_es_mm: float | None = None
    # Short-axis mechanics: circumferential (tracking) and radial (wall thickness) strain,
    # per segment circumferential strain and thickening, ED epicardial area (for LV mass).
    gcs_pct: float | None = None
    grs_pct: float | None = None
    segment_circumferential_strain_pct: dict[str, float | None] = field(default_factory=dict)
    segment_thickening_pct: dict[str, float | None] = field(default_factory=dict)
    epi_eda_mm2: float | None = None

    def take_larger_fs(self, lvid_ed: float | None, lvid_es_tracked: float | None) -> bool:
        """Take FS and LVIDs from a tracked end-systolic LVID where that gives the larger FS
        (the parasternal rule of :mod:`echoquant.quant.sax`: segmentation and tracking
        both only under-read a contraction); ``lvid_ed`` in the tracked LVID's unit."""
        if not lvid_ed or lvid_es_tracked is None or self.fs_pct is None:
            return False
        fs = 100.0 * (lvid_ed - lvid_es_tracked) / lvid_ed
        if fs <= self.fs_pct:
            return False
        self.fs_pct = fs
        self.lvids_mm = None if self.lvidd_mm is None else self.lvidd_mm * (1.0 - fs / 100.0)
        return True


@dataclass
class QuantResult:
    """Everything measured on one loop.

    Attributes:
        summary: ``lvef_pct, edv_ml, esv_ml, gls_pct, gls_contour_pct, gls_midwall_pct,
            lvef_sd_pct, gls_sd_pct, n_beats, heart_rate_bpm_measured,
            regional_strain_pct`` (median over beats; None when withheld); 95 %
            intervals ``lvef_ci_low/high, gls_ci_low/high, edv_ci_low/high,
            esv_ci_low/high`` (units of their value); the view measured (``view``,
            ``view_source``, ``view_probability``) and the LV-view gate's features
            (``lv_view``).
        beats: per-beat values.
        curves: per-frame curves: volume (``volume_ml`` or ``volume_px3``), long axis,
            contour length, strain curves of the analysed beats (``strain_frames`` gives
            their frame indices).
        landmarks: ``apex_px (T, 2)``, ``hinges_px (T, 2, 2)``, NaN where missing.
        flags: ``"code: reason"`` strings (see :mod:`echoquant.flags`).
        segment_names: names of the six regional segments in contour order.
    """

    summary: dict[str, Any]
    beats: list[BeatResult]
    curves: dict[str, np.ndarray]
    landmarks: dict[str, np.ndarray]
    flags: list[str]
    segment_names: tuple[str, ...]
    contours_px: list[np.ndarray | None] = field(default_factory=list, repr=False)

    @property
    def lvef_pct(self) -> float | None:
        return self.summary.get("lvef_pct")

    @property
    def gls_pct(self) -> float | None:
        return self.summary.get("gls_pct")

    @property
    def ed_frames(self) -> list[int]:
        return [b.ed_frame for b in self.beats]

    @property
    def es_frames(self) -> list[int]:
        return [b.es_frame for b in self.beats]

    def to_dict(self, contours: bool = False) -> dict[str, Any]:
        """JSON-serialisable dict; per-frame contours only when asked (they are large)."""
        out = {
            "summary": self.summary,
            "beats": [asdict(b) for b in self.beats],
            "curves": self.curves,
            "landmarks": self.landmarks,
            "flags": self.flags,
            "segment_names": list(self.segment_names),
        }
        out["beat_contours_px"] = self.beat_contours()
        if contours:
            out["contours_px"] = self.contours_px
        return json_safe(out)

    def beat_contours(self) -> list[dict[str, Any]]:
        """The ED and ES contours (``(x, y)`` pixels, 0.01 px) of each measured beat: small
        enough for every clip record, and what study-level biplane volumes are made from."""
        def pts(frame: int) -> list | None:
            c = self.contours_px[frame] if frame < len(self.contours_px) else None
            return None if c is None else np.round(np.asarray(c, dtype=np.float64), 2).tolist()

        return [{"ed_frame": b.ed_frame, "es_frame": b.es_frame, "ed": pts(b.ed_frame), "es": pts(b.es_frame)}
                for b in self.beats]
