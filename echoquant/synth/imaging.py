"""B-mode image formation from moving point scatterers.

Each frame: scatterers (complex amplitude with the round-trip phase of their exact
range, so speckle changes as tissue moves by fractions of a wavelength) are splatted
into a beam grid (range x beam), convolved with the point-spread function (Gaussian
envelope, axial and lateral), attenuated, mixed with electronic noise, amplified by
an imperfect time-gain compensation, log-compressed and scan-converted to the screen.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

__all__ = ["Probe", "ImagingParams", "BeamGrid", "Imager"]


@dataclass(frozen=True)
class Probe:
    """Transducer geometry.

    Attributes:
        kind: ``"phased"`` (sector; beams fan out from the origin) or ``"linear"``
            (parallel beams, rectangular image).
        depth_mm: imaging depth.
        half_angle_deg: half opening of a phased sector.
        width_mm: aperture width of a linear array.
        frequency_mhz: centre frequency (sets the speckle phase).
        axial_res_mm: axial PSF sigma.
        lateral_res: lateral PSF sigma (radians for phased, mm for linear).
        window_top_mm: depth of the first image row (high-frequency linear arrays show
            a window from 1-2 mm down, not from the probe face).
    """

    kind: str
    depth_mm: float
    half_angle_deg: float = 40.0
    width_mm: float = 14.0
    frequency_mhz: float = 2.5
    axial_res_mm: float = 0.35
    lateral_res: float = 0.012
    window_top_mm: float = 0.0

    def to_beam(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World (x, z) mm to (range mm, beam coordinate)."""
        if self.kind == "phased":
            return np.hypot(x, z), np.arctan2(x, z)
        return z, x

    @property
    def beam_extent(self) -> tuple[float, float]:
        if self.kind == "phased":
            h = np.radians(self.half_angle_deg)
            return -h, h
        return -self.width_mm / 2, self.width_mm / 2


@dataclass(frozen=True)
class ImagingParams:
    """Case-level image-quality settings (drawn at random per case)."""

    gain_db: float = 0.0
    dynamic_range_db: float = 55.0
    attenuation_db_per_mm: float = 0.05
    tgc_compensation: float = 0.85
    noise_db: float = -45.0
    gamma: float = 1.0
    clutter: float = 0.3
    clutter_depth_mm: float = 25.0
    reverberation: float = 0.0
    shadow_beam: float | None = None
    shadow_width: float = 0.0
    shadow_depth_mm: float = 0.0
    lateral_dropout: float = 0.5
    brightness: float = 1.0


@dataclass(frozen=True)
class BeamGrid:
    """Sampling of the beam data."""

    n_range: int
    n_beams: int
    range_step_mm: float
    beam_start: float
    beam_step: float


class Imager:
    """Forms frames for one probe, one screen geometry and one set of image settings.

    Args:
        probe: the transducer.
        settings: image-quality settings.
        canvas: ``(H, W)`` of the screen.
        spacing_mm: screen pixel size (isotropic).
        origin_px: ``(row, col)`` of the probe origin on the screen.
        rng: random generator (noise).
    """

    def __init__(
        self,
        probe: Probe,
        settings: ImagingParams,
        canvas: tuple[int, int],
        spacing_mm: float,
        origin_px: tuple[float, float],
        rng: np.random.Generator,
    ) -> None:
        self.probe, self.settings, self.canvas = probe, settings, canvas
        self.spacing_mm, self.origin_px, self.rng = spacing_mm, origin_px, rng
        b0, b1 = probe.beam_extent
        dr = probe.axial_res_mm / 1.5
        db = probe.lateral_res / 1.5
        self.grid = BeamGrid(int(probe.depth_mm / dr) + 2, int((b1 - b0) / db) + 2, dr, b0, db)
        self.k2 = 2.0 * 2.0 * np.pi * probe.frequency_mhz / 1.54  # round-trip wavenumber, rad/mm
        self._map_rows, self._map_cols, self.sector = self._scan_conversion_maps()
        r = np.arange(self.grid.n_range) * dr
        s = settings
        att = 10 ** (-s.attenuation_db_per_mm * r / 20.0)
        self._atten = att[:, None]
        tgc = 10 ** ((s.tgc_compensation * s.attenuation_db_per_mm * r + s.gain_db) / 20.0)
        self._tgc = tgc[:, None]
        self._noise_amp = 10 ** (s.noise_db / 20.0)
        self._ref: float | None = None
        self._shadow = self._shadow_map()

    # -- geometry --------------------------------------------------------------------

    def world_to_px(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World mm to screen ``(col, row)`` pixels (float)."""
        return x / self.spacing_mm + self.origin_px[1], z / self.spacing_mm + self.origin_px[0]

    def _scan_conversion_maps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = self.canvas
        rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
        x = (cols - self.origin_px[1]) * self.spacing_mm
        z = (rows - self.origin_px[0]) * self.spacing_mm
        r, b = self.probe.to_beam(x, z)
        b0, b1 = self.probe.beam_extent
        sector = (r <= self.probe.depth_mm) & (b >= b0) & (b <= b1) & (z >= self.probe.window_top_mm)
        map_r = (r / self.grid.range_step_mm).astype(np.float32)
        map_b = ((b - self.grid.beam_start) / self.grid.beam_step).astype(np.float32)
        return map_r, map_b, sector

    def _shadow_map(self) -> np.ndarray | None:
        s = self.settings
        if s.shadow_beam is None or s.shadow_width <= 0:
            return None
        g = self.grid
        beams = g.beam_start + np.arange(g.n_beams) * g.beam_step
        r = np.arange(g.n_range) * g.range_step_mm
        across = np.exp(-0.5 * ((beams - s.shadow_beam) / s.shadow_width) ** 2)
        along = 1.0 / (1.0 + np.exp(-(r - s.shadow_depth_mm) / 2.0))
        return 1.0 - 0.8 * along[:, None] * across[None, :]

    # -- one frame -------------------------------------------------------------------

    def beam_data(self, x: np.ndarray, z: np.ndarray, amp: np.ndarray) -> np.ndarray:
        """Complex baseband beam data (range x beam) of scatterers at world (x, z)."""
        g = self.grid
        r, b = self.probe.to_beam(x, z)
        fr = r / g.range_step_mm
        fb = (b - g.beam_start) / g.beam_step
        ok = (fr >= 0) & (fr < g.n_range - 1) & (fb >= 0) & (fb < g.n_beams - 1)
        fr, fb, r, a = fr[ok], fb[ok], r[ok], amp[ok]
        # a * exp(-i k2 r) as its real and imaginary parts (the same values as the complex
        # exponential, a fifth faster), the splat weights applied to each.
        phase = self.k2 * r
        w_re, w_im = a * np.cos(phase), -(a * np.sin(phase))
        i0, j0 = np.floor(fr), np.floor(fb)
        dr, db = fr - i0, fb - j0
        base = i0.astype(np.int64) * g.n_beams + j0.astype(np.int64)
        size = g.n_range * g.n_beams
        re, im = np.zeros(size), np.zeros(size)
        for offset, w in ((0, (1 - dr) * (1 - db)), (g.n_beams, dr * (1 - db)), (1, (1 - dr) * db),
                          (g.n_beams + 1, dr * db)):
            idx = base + offset
            re += np.bincount(idx, weights=w_re * w, minlength=size)
            im += np.bincount(idx, weights=w_im * w, minlength=size)
        data = (re + 1j * im).reshape(g.n_range, g.n_beams)
        # PSF: Gaussian envelope; sigma = 1.5 grid steps in both directions.
        for axis in (0, 1):
            data = gaussian_filter1d(data.real, 1.5, axis=axis) + 1j * gaussian_filter1d(data.imag, 1.5, axis=axis)
        return data

    def to_screen(self, data: np.ndarray) -> np.ndarray:
        """Attenuate, add noise, compensate, log-compress and scan-convert to uint8."""
        s = self.settings
        data = data * self._atten
        if self._shadow is not None:
            data = data * self._shadow
        if s.reverberation > 0:
            # A faint copy of the near field at twice its depth.
            n = data.shape[0] // 2
            data[n : 2 * n] += s.reverberation * data[: 2 * n : 2][: data[n : 2 * n].shape[0]]
        noise = self.rng.normal(size=data.shape) + 1j * self.rng.normal(size=data.shape)
        data = data + self._noise_amp * noise
        env = np.abs(data) * self._tgc
        db = 20.0 * np.log10(env + 1e-12)
        if self._ref is None:
            # Fix the reference on the first frame, before gain, so that brightness does
            # not flicker and the gain setting really darkens or brightens the image.
            self._ref = float(np.percentile(db, 99.7)) - s.gain_db
        img = np.clip((db - self._ref + s.dynamic_range_db) / s.dynamic_range_db, 0.0, 1.0) ** s.gamma
        polar = (img * 255.0 * s.brightness).astype(np.float32)
        screen = cv2.remap(polar, self._map_cols, self._map_rows, interpolation=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        screen[~self.sector] = 0
        return np.clip(screen + 0.5, 0, 255).astype(np.uint8)
