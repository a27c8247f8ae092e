"""The fast paths of issue 17 give the results of the straightforward code they replaced."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path as MplPath
from scipy import ndimage

from echoquant.quant.contour import extract_contour, extract_contours
from echoquant.quant.masks import clean_masks, largest_component, mask_box
from echoquant.segment.predictor import _keep_largest_region
from echoquant.synth import generate_case, sample_params
from echoquant.synth.generate import _centres_inside
from echoquant.synth.heart import HeartMotion, Kinesis, LVShape


def _blobs(rng: np.random.Generator, shape=(3, 60, 80)) -> np.ndarray:
    return ndimage.binary_opening(ndimage.gaussian_filter(rng.normal(size=shape), (0, 3, 3)) > 0.3)


def _naive_clean(masks: np.ndarray) -> np.ndarray:
    """The former per-frame, whole-frame clean-up with scipy's labelling."""
    def each(stack):
        out = []
        for m in stack:
            lab, n = ndimage.label(m)
            if n > 1:
                sizes = np.bincount(lab.ravel())
                sizes[0] = 0
                m = lab == int(np.argmax(sizes))
            out.append(ndimage.binary_fill_holes(m))
        return np.stack(out)
    out = each(masks)
    votes = out[:-2].astype(np.uint8) + out[1:-1] + out[2:]
    return each(np.concatenate([out[:1], votes >= 2, out[-1:]]))


def test_clean_masks_in_the_box_equals_the_whole_frame() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        m = _blobs(rng)
        assert np.array_equal(clean_masks(m), _naive_clean(m))
    assert not clean_masks(np.zeros((4, 10, 10), bool)).any()


def test_mask_box_starts_even_and_holds_every_pixel() -> None:
    m = np.zeros((2, 50, 60), bool)
    m[1, 13:20, 27:31] = True
    rows, cols = mask_box(m, margin=2)
    assert rows.start % 2 == 0 and cols.start % 2 == 0
    assert m[:, rows, cols].sum() == m.sum()
    assert mask_box(np.zeros((3, 5, 5), bool)) is None


def test_contours_in_the_box_equal_the_whole_frame() -> None:
    case = generate_case(sample_params("human_a4c", 11), only_frames=[0, 5, 10])
    cavity, la = case.labels[[0, 5, 10]] == 1, case.labels[[0, 5, 10]] == 3
    hint = np.array([case.labels.shape[2] / 2, 10.0])
    boxed = extract_contours(cavity, la, hint)
    for t, c in enumerate(boxed):
        whole = extract_contour(cavity[t], la[t] if la[t].any() else None, hint)
        assert c is not None and whole is not None and c.landmark_source == whole.landmark_source
        np.testing.assert_allclose(c.points, whole.points, atol=1e-9)


def test_keep_largest_region_matches_largest_component() -> None:
    rng = np.random.default_rng(5)
    for m in _blobs(rng, (10, 50, 70)):
        labels = np.where(m, 1, 0).astype(np.uint8)
        _keep_largest_region(labels, 1)
        assert np.array_equal(labels == 1, largest_component(m))


def test_scanline_rasteriser_matches_point_in_polygon() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        k = int(rng.integers(5, 40))
        angle = np.sort(rng.uniform(0, 2 * np.pi, k))
        radius = rng.uniform(5, 20, k)
        pts = np.stack([30 + radius * np.cos(angle), 25 + radius * np.sin(angle)], axis=1) + rng.uniform(0, 1, 2)
        rows, cols = slice(0, 50), slice(3, 60)
        rr, cc = np.mgrid[rows, cols]
        want = MplPath(pts).contains_points(np.stack([cc.ravel(), rr.ravel()], axis=1)).reshape(rr.shape)
        assert np.array_equal(_centres_inside(pts, rows, cols), want)


@pytest.mark.parametrize("f", [0.0, 0.3, 1.0])
def test_heart_motion_is_linear_in_the_systolic_fraction(f: float) -> None:
    motion = HeartMotion(LVShape(a_mm=55.0, b_mm=22.0), Kinesis((1.0, 0.5, 0.0, 1.0, 1.0, -0.2)))
    rng = np.random.default_rng(1)
    u, v = rng.uniform(-10, 100, 500), rng.uniform(-40, 40, 500)
    du, dv = motion.unit_displacement(u, v)
    u2, v2 = motion.displace(u, v, f)
    np.testing.assert_array_equal(u2, u + f * du)
    np.testing.assert_array_equal(v2, v + f * dv)


def test_inside_polygon_equals_matplotlib_on_every_point() -> None:
    from echoquant.synth.scene import inside_polygon

    rng = np.random.default_rng(5)
    t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    r = 3.0 + 0.8 * np.sin(3 * t) + 0.2 * rng.normal(size=t.size)  # a non-convex star
    poly = np.stack([1.5 + r * np.cos(t), -2.0 + r * np.sin(t)], axis=1)
    pts = rng.uniform(-8, 8, size=(20000, 2))
    pts[:90] = poly  # vertices themselves: the boundary case
    got = inside_polygon(poly, pts)
    assert 0 < got.sum() < len(pts) // 2
    np.testing.assert_array_equal(got, MplPath(poly).contains_points(pts))


def test_beam_data_equals_the_complex_exponential_splat() -> None:
    """Beam data from cos/sin splat weights: the values of the complex-exponential form."""
    from scipy.ndimage import gaussian_filter1d

    from echoquant.synth.imaging import Imager, ImagingParams, Probe

    rng = np.random.default_rng(6)
    imager = Imager(Probe("linear", depth_mm=10.0, width_mm=12.0, frequency_mhz=40.0, axial_res_mm=0.05,
                          lateral_res=0.06), ImagingParams(), (120, 140), 0.09, (0.0, 70.0), rng)
    x, z, a = rng.uniform(-6, 6, 40000), rng.uniform(0, 10, 40000), rng.uniform(0, 1, 40000)
    got = imager.beam_data(x, z, a)
    g = imager.grid
    r, b = imager.probe.to_beam(x, z)
    fr, fb = r / g.range_step_mm, (b - g.beam_start) / g.beam_step
    ok = (fr >= 0) & (fr < g.n_range - 1) & (fb >= 0) & (fb < g.n_beams - 1)
    want = np.zeros((g.n_range, g.n_beams), dtype=complex)
    w = a[ok] * np.exp(-1j * imager.k2 * r[ok])
    i0, j0 = np.floor(fr[ok]).astype(int), np.floor(fb[ok]).astype(int)
    dr, db = fr[ok] - i0, fb[ok] - j0
    for di, dj, f in ((0, 0, (1 - dr) * (1 - db)), (1, 0, dr * (1 - db)), (0, 1, (1 - dr) * db), (1, 1, dr * db)):
        np.add.at(want, (i0 + di, j0 + dj), w * f)
    for axis in (0, 1):
        want = gaussian_filter1d(want.real, 1.5, axis=axis) + 1j * gaussian_filter1d(want.imag, 1.5, axis=axis)
    assert np.abs(want).max() > 0.1
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_keep_freed_memory_applies_on_glibc_and_can_be_turned_off(monkeypatch) -> None:
    import sys

    from echoquant._memory import keep_freed_memory

    monkeypatch.setenv("ECHOQUANT_SYSTEM_MALLOC", "1")
    assert keep_freed_memory() is False
    monkeypatch.delenv("ECHOQUANT_SYSTEM_MALLOC")
    if sys.platform.startswith("linux"):
        import platform

        assert keep_freed_memory() is (platform.libc_ver()[0] == "glibc")
