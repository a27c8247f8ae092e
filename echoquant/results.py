"""What the scoring API returns: one result per loop (:class:`EchoResult`) or M-mode
strip (:class:`MModeEchoResult`).

Its own module, below both doors, so that the API (:mod:`echoquant.api`, which makes
them) and the tables (:mod:`echoquant.export.tables`, which write them) each import
these types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from echoquant import __version__
from echoquant.flags import passes_qc
from echoquant.io.cine import CineMeta
from echoquant.quant.mmode import MModeResult
from echoquant.quant.result import QuantResult
from echoquant.segment.result import Segmentation

__all__ = ["EchoResult", "MModeEchoResult", "MMODE_METHOD"]

# The M-mode measurement is a tracer, not a network: its name in the results' model column.
MMODE_METHOD = "mmode-dp-tracer"


@dataclass
class EchoResult:
    """What echoquant measured on one loop.

    Attributes:
        quant: the full measurement (curves, per-beat values, landmarks, flags).
        lv_masks: ``(T, H, W)`` bool LV cavity on the cine's own pixel grid.
        cine_info: the loop's description (:meth:`EchoCine.summary`, no pixels).
        meta: identifiers and acquisition facts.
        input_flags: flags raised while reading the loop.
        model: name of the segmentation model.
        path: source file, when scored from a file.
        segmentation: the network's segmentation the values were measured on (kept so
            that a reader's corrections can be re-measured without the network,
            :mod:`echoquant.export.clipstate`).
        settings: how it was measured: ``weights`` (the bundle that segmented the loop),
            ``found_view``, ``track``, ``max_beats`` and the
            loop's ``frame_times_ms`` (the rest of the loop's facts are in ``cine_info``).
    """

    quant: QuantResult
    lv_masks: np.ndarray = field(repr=False)
    mode = "2d"  # a B-mode loop (MModeEchoResult.mode is "mmode")
    cine_info: dict[str, Any] = field(repr=False)
    meta: CineMeta = field(repr=False)
    input_flags: list[str]
    model: str
    path: str | None = None
    segmentation: Segmentation | None = field(default=None, repr=False)
    settings: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def lvef_pct(self) -> float | None:
        return self.quant.summary.get("lvef_pct")

    @property
    def edv_ml(self) -> float | None:
        return self.quant.summary.get("edv_ml")

    @property
    def esv_ml(self) -> float | None:
        return self.quant.summary.get("esv_ml")

    @property
    def gls_pct(self) -> float | None:
        return self.quant.summary.get("gls_pct")

    @property
    def lvef_ci(self) -> tuple[float | None, float | None]:
        """95 % interval of LVEF (%) (see :mod:`echoquant.quant.intervals`)."""
        return self._ci("lvef")

    @property
    def gls_ci(self) -> tuple[float | None, float | None]:
        """95 % interval of GLS (%)."""
        return self._ci("gls")

    @property
    def edv_ci(self) -> tuple[float | None, float | None]:
        """95 % interval of EDV (mL)."""
        return self._ci("edv")

    @property
    def esv_ci(self) -> tuple[float | None, float | None]:
        """95 % interval of ESV (mL)."""
        return self._ci("esv")

    @property
    def wmsi(self) -> float | None:
        """Wall motion score index, 1 (normal) to 4 (see :mod:`echoquant.quant.wallmotion`)."""
        return self.quant.summary.get("wmsi")

    @property
    def akinetic_extent_pct(self) -> float | None:
        """ED endocardial length of akinetic or dyskinetic segments, % of the assessable length."""
        return self.quant.summary.get("akinetic_extent_pct")

    @property
    def wall_motion(self) -> dict[str, str]:
        """Each segment's wall-motion class by segment name (``"not_assessable"`` where not seen well)."""
        return {m["name"]: m["wall_motion"] for m in self.quant.summary.get("wall_motion") or []}

    def _ci(self, name: str) -> tuple[float | None, float | None]:
        return self.quant.summary.get(f"{name}_ci_low"), self.quant.summary.get(f"{name}_ci_high")

    @property
    def ed_frames(self) -> list[int]:
        return self.quant.ed_frames

    @property
    def es_frames(self) -> list[int]:
        return self.quant.es_frames

    @property
    def qc_flags(self) -> list[str]:
        """Reader flags, then measurement flags (``"code: reason"``)."""
        return list(dict.fromkeys(self.input_flags + self.quant.flags))

    @property
    def qc_pass(self) -> bool:
        """LVEF (FAC for a short axis) was measured and no flag excludes the clip from statistics."""
        measured = self.lvef_pct is not None or self.quant.summary.get("fac_pct") is not None
        return measured and passes_qc(self.qc_flags)

    def to_dict(self, contours: bool = False) -> dict[str, Any]:
        """JSON-serialisable description: loop, summary, beats, curves, flags."""
        out = self.quant.to_dict(contours=contours)
        out.pop("flags")
        return {
            "path": self.path,
            "model": self.model,
            "echoquant_version": __version__,
            "cine": self.cine_info,
            "ed_frames": self.ed_frames,
            "es_frames": self.es_frames,
            "qc_flags": self.qc_flags,
            "qc_pass": self.qc_pass,
            **out,
        }


@dataclass
class MModeEchoResult:
    """What echoquant measured on one M-mode strip.

    Attributes:
        quant: the measurement (:class:`~echoquant.quant.mmode.MModeResult`).
        strip_info: the strip's description (:meth:`MModeStrip.summary`, no pixels).
        meta: identifiers and acquisition facts.
        input_flags: flags raised while reading the strip.
        path: source file, when scored from a file.
    """

    quant: MModeResult
    strip_info: dict[str, Any] = field(repr=False)
    meta: CineMeta = field(repr=False)
    input_flags: list[str]
    path: str | None = None
    model: str = MMODE_METHOD
    mode = "mmode"

    def __getattr__(self, name: str) -> Any:
        # Summary values as attributes: result.fs_pct, result.lvidd_mm, ...
        summary = self.__dict__.get("quant").summary if "quant" in self.__dict__ else {}
        if name in _MMODE_VALUES:
            return summary.get(name)
        raise AttributeError(name)

    @property
    def qc_flags(self) -> list[str]:
        """Reader flags, then measurement flags (``"code: reason"``)."""
        return list(dict.fromkeys(self.input_flags + self.quant.flags))

    @property
    def qc_pass(self) -> bool:
        """FS was measured and no flag excludes the strip from statistics."""
        return self.quant.summary.get("fs_pct") is not None and passes_qc(self.qc_flags)

    def to_dict(self) -> dict[str, Any]:
        out = self.quant.to_dict()
        out.pop("flags")
        return {"path": self.path, "mode": self.mode, "model": self.model, "echoquant_version": __version__,
                "strip": self.strip_info, "qc_flags": self.qc_flags, "qc_pass": self.qc_pass, **out}


_MMODE_VALUES = ("lvidd_mm", "lvids_mm", "ivsd_mm", "ivss_mm", "lvpwd_mm", "lvpws_mm", "fs_pct",
                 "lvef_teichholz_pct", "edv_teichholz_ml", "esv_teichholz_ml", "lv_mass_g", "lv_mass_mg",
                 "heart_rate_bpm_measured", "n_beats", "species")
