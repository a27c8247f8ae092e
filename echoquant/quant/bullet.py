"""Two-view volumes and LV mass of preclinical studies: the bullet method and the
area-length mass, from a short-axis area and a long-axis length.

- **Bullet (hemi-ellipsoid-cylinder) volume**: ``V = 5/6 A L``, with ``A`` the
  mid-papillary short-axis endocardial area and ``L`` the long-axis length (mid-annulus
  to endocardial apex) of the same phase: EDV from EDA and the ED length, ESV from ESA
  and the ES length. It is exact for its model solid, a cylinder of height ``L/2``
  capped by a half prolate ellipsoid of height ``L/2`` (``pi r^2 L/2 + 2/3 pi r^2 L/2 =
  5/6 pi r^2 L``); for a half ellipsoid of height ``L`` it gives 5/4 of the volume.
- **Area-length LV mass** (ASE; Reichek, Schiller; in mice Collins et al., Physiol
  Genomics 2003 and the 2-D method validated against necropsy by Kiatchoosakun et
  al., Hypertension 2002): ``M = 1.05 * 5/6 * [A_epi (L + t) - A_endo L]`` at ED, with
  ``t = sqrt(A_epi / pi) - sqrt(A_endo / pi)`` the mean wall thickness, ``A_epi`` the
  SAX epicardial area (cavity plus myocardium), ``A_endo`` the SAX endocardial area
  and 1.05 g/mL the density of myocardium. The same geometry and density for rodents
  (in mg: mm^3 x 1.05 mg/mm^3) and humans (g).
"""

from __future__ import annotations

import math

__all__ = ["MYOCARDIAL_DENSITY_MG_PER_MM3", "area_length_mass_mg", "bullet_volume_ml"]

MYOCARDIAL_DENSITY_MG_PER_MM3 = 1.05  # = 1.05 g/mL


def bullet_volume_ml(area_mm2: float, length_mm: float) -> float:
    """``5/6 A L`` in mL (area in mm², length in mm)."""
    if area_mm2 < 0 or length_mm < 0:
        raise ValueError(f"area and length must be >= 0, got {area_mm2} mm2 and {length_mm} mm")
    return 5.0 / 6.0 * area_mm2 * length_mm / 1000.0


def area_length_mass_mg(epi_area_mm2: float, endo_area_mm2: float, length_mm: float) -> float:
    """Area-length LV mass in mg (see the module docstring)."""
    if not 0 <= endo_area_mm2 <= epi_area_mm2 or length_mm <= 0:
        raise ValueError("need 0 <= endocardial area <= epicardial area and a positive length, got "
                         f"A_endo={endo_area_mm2} mm2, A_epi={epi_area_mm2} mm2, L={length_mm} mm")
    t = math.sqrt(epi_area_mm2 / math.pi) - math.sqrt(endo_area_mm2 / math.pi)
    myocardium_mm3 = 5.0 / 6.0 * (epi_area_mm2 * (length_mm + t) - endo_area_mm2 * length_mm)
    return MYOCARDIAL_DENSITY_MG_PER_MM3 * myocardium_mm3
