"""Ultrasound regions (SequenceOfUltrasoundRegions) and pixel calibration.

A scanner writes one region per panel of its screen: the 2D tissue image, a colour
flow box, a spectral Doppler strip, an ECG trace, sometimes a dummy region. Only a
2D tissue (or colour-flow) region measured in cm calibrates the image, and only if
its bounds lie inside the frame: a file resampled after its tags were written keeps
the old bounds and the old pixel size, and would be measured in wrong millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from echoquant.flags import make_flag
from echoquant.io.cine import SectorBox

__all__ = ["UltrasoundRegion", "Calibration", "parse_regions", "calibrate"]

# DICOM PS3.3 C.8.5.5.1: RegionSpatialFormat, RegionDataType, PhysicalUnits.
SPATIAL_2D = 1
SPATIAL_WAVEFORM = 4
DATA_TISSUE = 1
DATA_COLOR_FLOW = 2
DATA_ECG = 0x0A
UNIT_CM = 3
UNIT_SECONDS = 4

# A tissue pixel smaller than 1 µm or larger than 5 mm is no echo image.
_MIN_DELTA_MM = 1e-3
_MAX_DELTA_MM = 5.0


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of SequenceOfUltrasoundRegions, in pixel and physical units."""

    spatial_format: int
    data_type: int
    x0: int
    y0: int
    x1: int
    y1: int
    units_x: int | None
    units_y: int | None
    delta_x: float | None
    delta_y: float | None

    @property
    def box(self) -> SectorBox:
        """The region as an exclusive-stop pixel box (see :meth:`inside` for clipping)."""
        return SectorBox(self.y0, self.x0, self.y1 + 1, self.x1 + 1)

    def clipped_box(self, rows: int, cols: int) -> SectorBox:
        """The box clipped to a ``rows x cols`` frame."""
        b = self.box
        return SectorBox(b.row_start, b.col_start, min(b.row_stop, rows), min(b.col_stop, cols))

    @property
    def area_px(self) -> int:
        return max(0, self.x1 - self.x0 + 1) * max(0, self.y1 - self.y0 + 1)

    def inside(self, rows: int, cols: int) -> bool:
        """Whether the region's bounds lie within a ``rows x cols`` frame.

        Several scanners write the last bound as the frame size itself (one past the
        last pixel); that single pixel of overshoot is accepted and clipped.
        """
        return 0 <= self.x0 < self.x1 <= cols and 0 <= self.y0 < self.y1 <= rows

    @property
    def is_2d_image(self) -> bool:
        return self.spatial_format == SPATIAL_2D and self.data_type in (DATA_TISSUE, DATA_COLOR_FLOW)

    @property
    def is_ecg(self) -> bool:
        return self.data_type == DATA_ECG


@dataclass(frozen=True)
class Calibration:
    """Result of choosing the calibration of a file.

    Attributes:
        spacing_mm: ``(row, col)`` mm per pixel, or None when missing or untrusted.
        source: ``"UltrasoundRegion"``, ``"PixelSpacing"`` or None.
        region: the tissue region used for spacing and the sector, if any.
        flags: what was missing or suspicious.
    """

    spacing_mm: tuple[float, float] | None
    source: str | None
    region: UltrasoundRegion | None
    flags: tuple[str, ...] = ()


def _int_or_none(value: object) -> int | None:
    try:
        return None if value is None else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _float_or_none(value: object) -> float | None:
    try:
        return None if value is None else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def parse_regions(ds: Dataset) -> list[UltrasoundRegion]:
    """Read SequenceOfUltrasoundRegions; items without bounds are skipped."""
    regions: list[UltrasoundRegion] = []
    for item in ds.get("SequenceOfUltrasoundRegions", None) or []:
        bounds = [
            _int_or_none(item.get(k))
            for k in (
                "RegionLocationMinX0",
                "RegionLocationMinY0",
                "RegionLocationMaxX1",
                "RegionLocationMaxY1",
            )
        ]
        if any(b is None for b in bounds):
            continue
        x0, y0, x1, y1 = (int(b) for b in bounds)  # type: ignore[arg-type]
        regions.append(
            UltrasoundRegion(
                spatial_format=_int_or_none(item.get("RegionSpatialFormat")) or 0,
                data_type=_int_or_none(item.get("RegionDataType")) or 0,
                x0=x0,
                y0=y0,
                x1=x1,
                y1=y1,
                units_x=_int_or_none(item.get("PhysicalUnitsXDirection")),
                units_y=_int_or_none(item.get("PhysicalUnitsYDirection")),
                delta_x=_float_or_none(item.get("PhysicalDeltaX")),
                delta_y=_float_or_none(item.get("PhysicalDeltaY")),
            )
        )
    return regions


def _region_spacing(region: UltrasoundRegion) -> tuple[float, float] | None:
    """``(row, col)`` mm per pixel of a region measured in cm, else None."""
    if region.units_x != UNIT_CM or region.units_y != UNIT_CM:
        return None
    if region.delta_x is None or region.delta_y is None:
        return None
    dx_mm, dy_mm = abs(region.delta_x) * 10.0, abs(region.delta_y) * 10.0
    if not (_MIN_DELTA_MM <= dx_mm <= _MAX_DELTA_MM and _MIN_DELTA_MM <= dy_mm <= _MAX_DELTA_MM):
        return None
    return (dy_mm, dx_mm)


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    value = ds.get("PixelSpacing", None)
    try:
        row, col = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    if not (_MIN_DELTA_MM <= row <= _MAX_DELTA_MM and _MIN_DELTA_MM <= col <= _MAX_DELTA_MM):
        return None
    return (row, col)


def calibrate(ds: Dataset, regions: list[UltrasoundRegion], rows: int, cols: int) -> Calibration:
    """Choose the pixel calibration of an image.

    Order: the largest 2D tissue region (cm units) whose bounds lie inside the
    frame; else PixelSpacing; else nothing. A tissue region that lies outside the
    frame makes the whole file's calibration untrusted, PixelSpacing included,
    since the pixels were resampled after the tags were written.

    Args:
        ds: the header.
        regions: parsed ultrasound regions.
        rows: frame height in pixels.
        cols: frame width in pixels.

    Returns:
        The chosen :class:`Calibration`.
    """
    image_regions = [r for r in regions if r.is_2d_image]
    # Tissue before colour flow: a colour box is a sub-window of the tissue image.
    image_regions.sort(key=lambda r: (r.data_type != DATA_TISSUE, -r.area_px))
    flags: list[str] = []
    outside = [r for r in image_regions if not r.inside(rows, cols)]
    inside = [r for r in image_regions if r.inside(rows, cols)]
    if outside and not inside:
        r = outside[0]
        return Calibration(
            None,
            None,
            None,
            (
                make_flag(
                    "calibration_untrusted",
                    f"ultrasound region bounds x{r.x0}-{r.x1}, y{r.y0}-{r.y1} lie outside the "
                    f"{cols}x{rows} frame (the image was resampled after its tags were "
                    "written); volumes are not reported in mL",
                ),
            ),
        )
    tissue = [r for r in inside if r.data_type == DATA_TISSUE]
    if len(tissue) > 1:
        flags.append(
            make_flag(
                "multiple_tissue_regions",
                f"{len(tissue)} 2D tissue regions; the largest one is analysed",
            )
        )
    for region in inside:
        spacing = _region_spacing(region)
        if spacing is not None:
            if abs(spacing[0] - spacing[1]) > 1e-6 * max(spacing):
                flags.append(
                    make_flag(
                        "anisotropic_pixels",
                        f"row {spacing[0]:.5g} mm, col {spacing[1]:.5g} mm",
                    )
                )
            return Calibration(spacing, "UltrasoundRegion", region, tuple(flags))
    region = inside[0] if inside else None
    if region is not None:
        flags.append(
            make_flag(
                "region_units_not_cm",
                f"tissue region has units x={region.units_x}, y={region.units_y} "
                "(3 = cm expected); region not used for calibration",
            )
        )
    spacing = _pixel_spacing(ds)
    if spacing is not None:
        return Calibration(spacing, "PixelSpacing", region, tuple(flags))
    flags.append(
        make_flag(
            "calibration_missing",
            "no ultrasound region in cm and no PixelSpacing; volumes are not reported in mL",
        )
    )
    return Calibration(None, None, region, tuple(flags))
