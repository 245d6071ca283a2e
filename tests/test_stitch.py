"""Output grids and the inverse-mapping stitcher (no data files needed)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from junocam.camera import CameraModel
from junocam.errors import GeometryError
from junocam.framelets import DARK_SAMPLES, PHOTOACTIVE_SAMPLES, Framelets
from junocam.geometry import GeometryOptions, stitch_frame
from junocam.metadata import Filter
from junocam.spin import SpinModel, rotation_matrix
from junocam.stitch import (
    CylinderGrid,
    PerspectiveGrid,
    brightness_centroid,
    feather_weight,
    framelet_footprints,
    perspective_grid_for,
    stitch,
)

CAM = CameraModel()
SPIN = SpinModel(0.0776, tilt_y=0.003, tilt_z=-0.002, reference_exposure=1.0)

FILTER_SETS = {
    "methane": ("METHANE",),
    "single-red": ("RED",),
    "single-blue": ("BLUE",),
    "red+blue": ("RED", "BLUE"),
    "rgb": ("BLUE", "GREEN", "RED"),
    "four": ("BLUE", "GREEN", "RED", "METHANE"),
}


def framelets(
    filters: Sequence[str],
    n_exposures: int = 3,
    values: Sequence[float] | None = None,
    lines: int = 128,
) -> Framelets:
    """Constant float32 framelets: band k is ``values[k]`` (default 10, 20, ...)."""
    flt = tuple(Filter.parse(f) for f in filters)
    vals = values if values is not None else [10.0 * (k + 1) for k in range(len(flt))]
    data = np.empty((n_exposures, len(flt), lines, 1648), np.float32)
    data[:] = np.asarray(vals, np.float32)[None, :, None, None]
    return Framelets(data=data, filters=flt)


def ramp_framelets(filters: Sequence[str], n_exposures: int, axis: str) -> Framelets:
    """Framelets whose value is their own sample (or line) coordinate."""
    fr = framelets(filters, n_exposures)
    if axis == "sample":
        fr.data[:] = np.arange(1648, dtype=np.float32)
    else:
        fr.data[:] = np.arange(128, dtype=np.float32)[:, None]
    return fr


# ---------------------------------------------------------------------------
# grids


@pytest.fixture(scope="module")
def cylinder() -> CylinderGrid:
    return CylinderGrid.covering(framelets(["BLUE", "GREEN", "RED"], 3), CAM, SPIN)


@settings(max_examples=100, deadline=None)
@given(u=st.floats(0.0, 1.0), v=st.floats(0.0, 1.0))
def test_cylinder_rays_to_pixel_round_trip(cylinder: CylinderGrid, u: float, v: float) -> None:
    r = np.array(u * (cylinder.shape[0] - 1))
    c = np.array(v * (cylinder.shape[1] - 1))
    r2, c2 = cylinder.to_pixel(cylinder.rays_at(r, c))
    assert abs(float(r2) - float(r)) < 1e-6
    assert abs(float(c2) - float(c)) < 1e-6


def test_cylinder_rays_whole_grid(cylinder: CylinderGrid) -> None:
    rays = cylinder.rays(slice(None, None, 7), slice(None, None, 11))
    assert rays.shape == (math.ceil(cylinder.shape[0] / 7), math.ceil(cylinder.shape[1] / 11), 3)
    np.testing.assert_allclose(np.linalg.norm(rays, axis=-1), 1.0, atol=1e-12)
    r, c = cylinder.to_pixel(rays)
    rr, cc = np.meshgrid(
        np.arange(cylinder.shape[0])[::7], np.arange(cylinder.shape[1])[::11], indexing="ij"
    )
    assert float(np.max(np.abs(r - rr))) < 1e-6
    assert float(np.max(np.abs(c - cc))) < 1e-6


def test_cylinder_covering_holds_every_framelet(cylinder: CylinderGrid) -> None:
    # at the centre one output pixel is one detector pixel
    assert cylinder.scale == pytest.approx(CAM.focal_px)
    assert cylinder.shape[1] > PHOTOACTIVE_SAMPLES
    s0, s1 = CAM.sample_range
    for i in range(3):
        for band in ("BLUE", "GREEN", "RED"):
            s, ln = np.meshgrid([s0, (s0 + s1) / 2, s1], [0.0, 64.0, 127.0])
            rays = CAM.pixel_to_ray(s, ln, band) @ SPIN.rotation(i).T
            rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
            r, c = cylinder.to_pixel(rays)
            assert np.all((r >= 0) & (r <= cylinder.shape[0] - 1))
            assert np.all((c >= 0) & (c <= cylinder.shape[1] - 1))


def test_a_turn_about_the_spin_axis_is_a_row_shift(cylinder: CylinderGrid) -> None:
    rays = cylinder.rays(slice(100, 400, 50), slice(100, 1500, 200))
    r0, c0 = cylinder.to_pixel(rays)
    r1, c1 = cylinder.to_pixel(rays @ rotation_matrix(SPIN.axis, 0.01).T)
    np.testing.assert_allclose(r1 - r0, 0.01 * cylinder.scale, atol=1e-6)
    np.testing.assert_allclose(c1, c0, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    direction=st.tuples(
        st.floats(-1.0, 1.0), st.floats(-1.0, 1.0), st.floats(0.2, 1.0)
    ),  # in front of the camera
    fov=st.floats(1.0, 120.0),
    roll=st.floats(-180.0, 180.0),
    u=st.floats(0.0, 1.0),
    v=st.floats(0.0, 1.0),
)
def test_perspective_rays_to_pixel_round_trip(
    direction: tuple[float, float, float], fov: float, roll: float, u: float, v: float
) -> None:
    grid = PerspectiveGrid.looking_at(direction, fov, (201, 301), roll_deg=roll)
    rot = np.asarray(grid.rotation).reshape(3, 3)
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-12)
    r, c = np.array(u * 200.0), np.array(v * 300.0)
    r2, c2 = grid.to_pixel(grid.rays_at(r, c))
    assert abs(float(r2) - float(r)) < 1e-6
    assert abs(float(c2) - float(c)) < 1e-6


def test_perspective_grid_geometry() -> None:
    d = np.array([0.1, -0.2, 1.0])
    grid = PerspectiveGrid.looking_at(d, fov_deg=30.0, size=(101, 201))
    centre = grid.rays_at(np.array(50.0), np.array(100.0))
    np.testing.assert_allclose(centre, d / np.linalg.norm(d), atol=1e-12)
    # the columns span the field of view
    left = grid.rays_at(np.array(50.0), np.array(100.0 - 100.5))
    right = grid.rays_at(np.array(50.0), np.array(100.0 + 100.5))
    assert math.degrees(math.acos(float(left @ right))) == pytest.approx(30.0, abs=1e-6)
    rays = grid.rays(slice(None), slice(None))
    assert rays.shape == (101, 201, 3)
    np.testing.assert_allclose(np.linalg.norm(rays, axis=-1), 1.0, atol=1e-12)
    # behind the virtual camera is NaN
    r, c = grid.to_pixel(-rays[:2, :2])
    assert np.isnan(r).all() and np.isnan(c).all()


def test_perspective_default_orientation_is_like_a_framelet() -> None:
    grid = PerspectiveGrid.looking_at([0, 0, 1], fov_deg=20.0, size=(101, 101))
    below = grid.rays_at(np.array(80.0), np.array(50.0))
    right = grid.rays_at(np.array(50.0), np.array(80.0))
    assert below[1] > 0 and abs(below[0]) < 1e-12  # rows run along +Y (down the CCD)
    assert right[0] > 0 and abs(right[1]) < 1e-12  # columns run along +X (samples)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"direction": [0, 0, 0], "fov_deg": 10.0, "size": (10, 10)},
        {"direction": [0, np.nan, 1], "fov_deg": 10.0, "size": (10, 10)},
        {"direction": [0, 0, 1], "fov_deg": 0.0, "size": (10, 10)},
        {"direction": [0, 0, 1], "fov_deg": 170.0, "size": (10, 10)},
        {"direction": [0, 0, 1], "fov_deg": 10.0, "size": (0, 10)},
    ],
)
def test_perspective_bad_inputs(kwargs: dict) -> None:
    with pytest.raises(GeometryError):
        PerspectiveGrid.looking_at(**kwargs)


# ---------------------------------------------------------------------------
# stitching


@pytest.mark.parametrize("name", sorted(FILTER_SETS))
def test_constant_scene_is_constant_where_covered(name: str) -> None:
    fr = framelets(FILTER_SETS[name], n_exposures=3)
    grid = CylinderGrid.covering(fr, CAM, SPIN)
    out = stitch(fr, CAM, SPIN, grid)
    assert set(out.bands) == set(fr.filters) == set(out.masks)
    for k, band in enumerate(fr.filters):
        img, mask = out.bands[band], out.masks[band]
        assert img.dtype == np.float32 and img.shape == grid.shape
        assert mask.dtype == bool and 0.3 < mask.mean() < 1.0
        np.testing.assert_allclose(img[mask], 10.0 * (k + 1), rtol=1e-6)
        assert np.all(img[~mask] == 0)
        # bands are also reachable by name
        assert out.bands[band.value] is img
        assert band.value in out.bands


def test_constant_scene_on_perspective_grid_and_cubic() -> None:
    fr = framelets(["BLUE", "GREEN", "RED"], n_exposures=3)
    grid = PerspectiveGrid.looking_at([0.0, 0.05, 1.0], fov_deg=40.0, size=(300, 400))
    for order in (1, 3):
        out = stitch(fr, CAM, SPIN, grid, order=order)
        for k, band in enumerate(fr.filters):
            mask = out.masks[band]
            assert mask.any()
            np.testing.assert_allclose(out.bands[band][mask], 10.0 * (k + 1), rtol=1e-5)


@pytest.mark.parametrize("axis", ["sample", "line"])
def test_samples_are_taken_where_the_geometry_says(axis: str) -> None:
    # each framelet holds its own pixel coordinate: the stitch must return the
    # feather-weighted mean of the coordinates the camera and spin models predict
    fr = ramp_framelets(["GREEN", "METHANE"], 3, axis)
    grid = CylinderGrid.covering(fr, CAM, SPIN)
    out = stitch(fr, CAM, SPIN, grid)
    for band in fr.filters:
        acc = np.zeros(grid.shape)
        wsum = np.zeros(grid.shape)
        for fs in framelet_footprints(fr, CAM, SPIN, grid, bands=[band]):
            rays = grid.rays(fs.rows, fs.cols) @ SPIN.rotation(fs.exposure)
            s, ln = CAM.ray_to_pixel(rays, band)
            expect = s if axis == "sample" else ln
            acc[fs.rows, fs.cols] += np.where(fs.valid, expect * fs.weights, 0.0)
            wsum[fs.rows, fs.cols] += fs.weights
        mask = out.masks[band]
        np.testing.assert_array_equal(mask, wsum > 0)
        expected = acc[mask] / wsum[mask]
        assert float(np.max(np.abs(out.bands[band][mask] - expected))) < 2e-3


def test_masks_and_footprints_agree() -> None:
    fr = framelets(["BLUE", "GREEN", "RED"], n_exposures=2)
    grid = CylinderGrid.covering(fr, CAM, SPIN)
    out = stitch(fr, CAM, SPIN, grid)
    s0, s1 = CAM.sample_range
    rays = grid.rays(slice(None), slice(None))
    for band in fr.filters:
        covered = np.zeros(grid.shape, bool)
        for i in range(fr.n_exposures):
            s, ln = CAM.ray_to_pixel(rays @ SPIN.rotation(i), band)
            with np.errstate(invalid="ignore"):
                covered |= (s >= s0) & (s <= s1) & (ln >= 0) & (ln <= 127)
        np.testing.assert_array_equal(out.masks[band], covered)
        for fs in framelet_footprints(fr, CAM, SPIN, grid, bands=[band]):
            assert fs.band is band
            assert np.all(fs.weights[~fs.valid] == 0) and np.all(fs.weights[fs.valid] > 0)
            assert np.all(fs.weights <= 1.0)


def test_trim_lines_shrink_coverage() -> None:
    fr = framelets(["RED"], n_exposures=2)
    grid = CylinderGrid.covering(fr, CAM, SPIN)
    full = stitch(fr, CAM, SPIN, grid).masks["RED"]
    trimmed = stitch(fr, CAM, SPIN, grid, trim_lines=4).masks["RED"]
    assert trimmed.sum() < full.sum()
    assert not np.any(trimmed & ~full)


def test_nothing_in_view_gives_empty_masks() -> None:
    fr = framelets(["BLUE", "GREEN", "RED"], n_exposures=2)
    grid = PerspectiveGrid.looking_at([0.0, 0.0, -1.0], fov_deg=20.0, size=(50, 60))
    out = stitch(fr, CAM, SPIN, grid)
    for band in fr.filters:
        assert not out.masks[band].any()
        assert np.all(out.bands[band] == 0)


def test_band_subset() -> None:
    fr = framelets(["BLUE", "GREEN", "RED", "METHANE"], n_exposures=2)
    grid = CylinderGrid.covering(fr, CAM, SPIN)
    out = stitch(fr, CAM, SPIN, grid, bands=["green", "METHANE"])
    assert set(out.bands) == {Filter.GREEN, Filter.METHANE}


@pytest.mark.parametrize("name", sorted(FILTER_SETS))
@pytest.mark.parametrize("grid", ["cylinder", "perspective"])
def test_stitch_frame_handles_every_filter_set(name: str, grid: str) -> None:
    fr = framelets(FILTER_SETS[name], n_exposures=3)
    # a bright target so the perspective grid has something to centre on
    fr.data[1, :, 40:90, 700:900] *= 5.0
    opts = GeometryOptions(grid=grid, fit_spin=False, scale=0.25)
    out = stitch_frame(fr, 0.372, opts)
    assert out.fit.fallback
    assert set(out.bands) == set(fr.filters)
    for k, band in enumerate(fr.filters):
        mask = out.masks[band]
        assert mask.any()
        vals = out.bands[band][mask]
        assert vals.min() >= 10.0 * (k + 1) * (1 - 1e-5)
        assert vals.max() <= 50.0 * (k + 1) * (1 + 1e-5)


def test_stitch_frame_with_explicit_turn_needs_no_timing() -> None:
    fr = framelets(["METHANE"], n_exposures=2)
    out = stitch_frame(fr, None, GeometryOptions(turn_per_exposure=0.078, scale=0.25))
    assert out.result.spin.turn_per_exposure == 0.078
    assert out.result.spin.reference_exposure == 0.5


def test_stitch_frame_black_frame_falls_back_with_warning() -> None:
    fr = framelets(["BLUE", "GREEN", "RED"], n_exposures=3, values=[0.0, 0.0, 0.0])
    with pytest.warns(UserWarning, match="nominal"):
        out = stitch_frame(fr, 0.372, GeometryOptions(scale=0.25))
    assert out.fit.fallback
    assert out.result.spin.turn_per_exposure == pytest.approx(
        SpinModel.nominal(0.372).turn_per_exposure
    )


# ---------------------------------------------------------------------------
# errors and helpers


def test_geometry_errors() -> None:
    fr = framelets(["RED"], n_exposures=2)
    grid = CylinderGrid.covering(fr, CAM, SPIN)
    with pytest.raises(GeometryError, match="order"):
        stitch(fr, CAM, SPIN, grid, order=2)
    summed = framelets(["RED"], n_exposures=2, lines=64)
    with pytest.raises(GeometryError, match="64 lines"):
        stitch(summed, CAM, SPIN, grid)
    with pytest.raises(GeometryError, match="INTERFRAME_DELAY"):
        stitch_frame(fr, None)
    with pytest.raises(GeometryError):
        brightness_centroid(np.zeros((10, 10), np.float32))
    with pytest.raises(GeometryError):
        brightness_centroid(np.ones((10, 10), np.float32), np.zeros((10, 10), bool))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"grid": "mercator"},
        {"scale": 0.0},
        {"scale": 9.0},
        {"order": 2},
        {"fov_deg": 0.0},
        {"fov_deg": 180.0},
        {"size": 8},
        {"feather": -1.0},
        {"feather": 100.0},
        {"trim_lines": 17},
    ],
)
def test_geometry_options_are_checked(kwargs: dict) -> None:
    with pytest.raises(GeometryError):
        GeometryOptions(**kwargs)


def test_feather_weight() -> None:
    lines = np.arange(128, dtype=np.float64)
    w = feather_weight(lines, 128, 8.0)
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, w[::-1])  # symmetric about the framelet centre
    assert np.all(np.diff(w[:64]) >= 0)  # rising towards the centre
    assert np.all(w[8:120] == 1.0) and 0 < w[0] < 0.05
    assert np.all(feather_weight(lines, 128, 0.0) == 1.0)


def test_brightness_centroid_and_perspective_grid_for() -> None:
    fr = framelets(["RED"], n_exposures=3, values=[1.0])
    fr.data[1, 0, 40:90, 700:760] = 100.0
    cyl = CylinderGrid.covering(fr, CAM, SPIN)
    out = stitch(fr, CAM, SPIN, cyl)
    img = out.bands["RED"]
    r, c, radius = brightness_centroid(img, out.masks["RED"])
    assert img[int(round(r)), int(round(c))] > 50
    assert 20 < radius < 60
    pg = perspective_grid_for(cyl, img, out.masks["RED"])
    view = stitch(fr, CAM, SPIN, pg)
    # the target fills the middle of the virtual camera
    h, w = pg.shape
    assert view.bands["RED"][h // 2, w // 2] > 50
    fixed = perspective_grid_for(cyl, img, out.masks["RED"], fov_deg=10.0, size=64)
    assert fixed.shape == (64, 64)


def test_no_warning_on_plain_stitch() -> None:
    fr = framelets(["GREEN"], n_exposures=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stitch(fr, CAM, SPIN, CylinderGrid.covering(fr, CAM, SPIN))


def test_dark_columns_are_not_used() -> None:
    fr = framelets(["GREEN"], n_exposures=2, values=[5.0])
    fr.data[..., :DARK_SAMPLES] = 1e6
    fr.data[..., DARK_SAMPLES + PHOTOACTIVE_SAMPLES :] = 1e6
    grid = CylinderGrid.covering(fr, CAM, SPIN)
    out = stitch(fr, CAM, SPIN, grid)
    np.testing.assert_allclose(out.bands["GREEN"][out.masks["GREEN"]], 5.0)


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(2, 40),
    w=st.integers(2, 60),
    seed=st.integers(0, 2**32 - 1),
    precision=st.sampled_from([np.float64, np.float32]),
)
def test_box_bilinear_is_the_clipping_bilinear_in_range(h: int, w: int, seed: int, precision: type):
    """The stitch's whole-box interpolation (coordinates known to be in the image)
    gives :func:`bilinear`'s numbers: bit for bit from float64 coordinates, and from
    float32 ones (the shared map's) the same as bilinear of those float32 values."""
    from junocam.stitch import _bilinear_in_range, bilinear

    rng = np.random.default_rng(seed)
    img = rng.normal(1000.0, 300.0, (h, w)).astype(np.float32)
    line = rng.uniform(0.0, h - 1.0, (7, 9)).astype(precision)
    sample = rng.uniform(0.0, w - 1.0, (7, 9)).astype(precision)
    line[0, :3] = [0.0, h - 1.0, h - 1.0]  # the edges, where the cell is clamped
    sample[0, :3] = [w - 1.0, 0.0, w - 1.0]
    want = bilinear(img, line, sample)
    got = _bilinear_in_range(img, line.copy(), sample.copy())
    assert got.dtype == np.float32 and got.shape == line.shape
    if precision is np.float64:
        np.testing.assert_array_equal(got, want)
    else:  # bilinear works in float64 from the same float32 coordinates
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-3)
