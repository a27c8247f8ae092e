"""Method of disks and area-length against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from echoquant.geometry import area_length_volume_ml, method_of_disks, polygon_area, polyline_length


def truncated_ellipse(a: float, b: float, t: float, n: int = 800) -> np.ndarray:
    """Contour (x, y) of an ellipse of semi-axes a (along y) and b, apex at y=0,
    cut at y = a (1 + t); hinge -> apex -> hinge."""
    phi_b = np.arccos(-t)
    phi = np.concatenate([np.linspace(phi_b, 0, n), np.linspace(0, phi_b, n)[1:]])
    side = np.concatenate([-np.ones(n), np.ones(n - 1)])
    return np.stack([side * b * np.sin(phi), a * (1 - np.cos(phi))], axis=1)


def truncated_volume_ml(a: float, b: float, t: float) -> float:
    return np.pi * b * b * a * ((1 + t) - (1 + t**3) / 3) / 1000


@pytest.mark.parametrize("a,b,t", [(50, 22, 0.45), (40, 25, 0.3), (4, 1.8, 0.5), (60, 20, 0.6)])
def test_disks_match_truncated_spheroid(a, b, t):
    contour = truncated_ellipse(a, b, t)
    v = method_of_disks(contour, apex=np.array([0.0, 0.0])).volume_ml
    assert v == pytest.approx(truncated_volume_ml(a, b, t), rel=0.01)


def test_disks_match_prolate_spheroid():
    a, b = 45.0, 20.0
    contour = truncated_ellipse(a, b, 0.9999, n=4000)
    v = method_of_disks(contour).volume_ml
    assert v == pytest.approx(4 / 3 * np.pi * a * b * b / 1000, rel=0.01)


def test_disks_rotation_and_translation_invariant():
    c = truncated_ellipse(50, 22, 0.45)
    ang = np.radians(33)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    moved = c @ rot.T + np.array([12.0, -7.0])
    assert method_of_disks(moved).volume_ml == pytest.approx(method_of_disks(c).volume_ml, rel=1e-9)


def test_area_length_exact_for_prolate_spheroid():
    a, b = 45.0, 20.0
    contour = truncated_ellipse(a, b, 0.99999, n=6000)
    assert area_length_volume_ml(contour) == pytest.approx(4 / 3 * np.pi * a * b * b / 1000, rel=0.01)


def test_lvef_of_ellipse_pair_exact():
    ed, es = truncated_ellipse(50, 22, 0.45), truncated_ellipse(44, 17, 0.45)
    edv, esv = truncated_volume_ml(50, 22, 0.45), truncated_volume_ml(44, 17, 0.45)
    ef_true = 100 * (edv - esv) / edv
    v_ed = method_of_disks(ed, apex=np.zeros(2)).volume_ml
    v_es = method_of_disks(es, apex=np.zeros(2)).volume_ml
    assert 100 * (v_ed - v_es) / v_ed == pytest.approx(ef_true, abs=0.1)


def test_polygon_helpers():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float)
    assert polygon_area(square) == 4.0
    assert polyline_length(square) == 6.0


def test_degenerate_contour_rejected():
    with pytest.raises(ValueError, match="contour must be"):
        method_of_disks(np.zeros((2, 2)))
