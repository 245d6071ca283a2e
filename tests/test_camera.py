"""The IK camera model: pixel <-> ray round trips, distortion, band geometry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from junocam.camera import IK_BAND_CY, IK_CX, IK_K1, IK_K2, CameraModel
from junocam.framelets import DARK_SAMPLES, PHOTOACTIVE_SAMPLES
from junocam.metadata import Filter

CAM = CameraModel()
BANDS = list(Filter)

#: Band boresights in JUNO_JUNOCAM from the IK (INS-6150#_BORESIGHT), CAMERA.md.
IK_BORESIGHTS = {
    Filter.BLUE: (0.00862523, -0.06371477, 0.99793088),
    Filter.GREEN: (0.00863288, 0.04084925, 0.99912803),
    Filter.RED: (0.00857099, 0.14442688, 0.98947835),
    Filter.METHANE: (0.00854687, -0.16805056, 0.98574133),
}
#: First CCD line of each band's framelet [ISIS addendum, CAMERA.md].
CCD_FIRST_LINE = {
    Filter.METHANE: 284.52,
    Filter.BLUE: 441.52,
    Filter.GREEN: 596.52,
    Filter.RED: 751.52,
}


def photoactive_grid(step: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Every photoactive pixel of a framelet (and the extreme edges), as 2-D arrays."""
    s = np.arange(DARK_SAMPLES, DARK_SAMPLES + PHOTOACTIVE_SAMPLES, step, dtype=np.float64)
    s = np.append(s, [DARK_SAMPLES - 0.5, DARK_SAMPLES + PHOTOACTIVE_SAMPLES - 0.5])
    ln = np.append(np.arange(0.0, 128.0, step), [-0.5, 127.5])
    return np.meshgrid(s, ln)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@pytest.mark.parametrize("band", BANDS, ids=lambda b: b.value)
def test_pixel_ray_pixel_round_trip_whole_photoactive_area(band: Filter) -> None:
    s, ln = photoactive_grid()
    rays = CAM.pixel_to_ray(s, ln, band)
    assert rays.shape == s.shape + (3,)
    s2, l2 = CAM.ray_to_pixel(rays, band)
    err = np.hypot(s2 - s, l2 - ln)
    assert float(err.max()) < 1e-3


@pytest.mark.parametrize("band", BANDS, ids=lambda b: b.value)
def test_ray_pixel_ray_round_trip(band: Filter) -> None:
    # directions spread over (and a little beyond) the band's field of view
    s, ln = photoactive_grid(step=7.0)
    rays = unit(CAM.pixel_to_ray(s + 0.37, ln + 0.21, band))
    rng = np.random.default_rng(1)
    rays = unit(rays + rng.normal(0.0, 2e-3, rays.shape))
    back = unit(CAM.pixel_to_ray(*CAM.ray_to_pixel(rays, band), band))
    angle_px = np.linalg.norm(back - rays, axis=-1) * CAM.focal_px
    assert float(angle_px.max()) < 1e-3


def test_round_trip_with_band_focal_scales() -> None:
    cam = CameraModel(band_scale=(1.0003, 0.9998, 1.0, 1.0012))
    s, ln = photoactive_grid(step=5.0)
    for band in BANDS:
        s2, l2 = cam.ray_to_pixel(cam.pixel_to_ray(s, ln, band), band)
        assert float(np.hypot(s2 - s, l2 - ln).max()) < 1e-3


@settings(max_examples=200, deadline=None)
@given(
    s=st.floats(DARK_SAMPLES - 0.5, DARK_SAMPLES + PHOTOACTIVE_SAMPLES - 0.5),
    ln=st.floats(-0.5, 127.5),
    band=st.sampled_from(BANDS),
)
def test_round_trip_property(s: float, ln: float, band: Filter) -> None:
    s2, l2 = CAM.ray_to_pixel(CAM.pixel_to_ray(np.array([s]), np.array([ln]), band), band)
    assert abs(float(s2[0]) - s) < 1e-3
    assert abs(float(l2[0]) - ln) < 1e-3


def test_ik_constants() -> None:
    assert CAM.focal_px == pytest.approx(10.95637 / 0.0074)
    assert CAM.focal_px == pytest.approx(1480.59, abs=0.01)
    assert IK_CX == CAM.cx == 814.21
    assert (IK_K1, IK_K2) == (CAM.k1, CAM.k2)
    for band in BANDS:
        assert CAM.cy(band) == IK_BAND_CY[band] == CAM.cy(band.value)
    # every band's optical centre is the same CCD line (600)
    for band, first in CCD_FIRST_LINE.items():
        assert first + CAM.cy(band) == pytest.approx(600.0)
    assert CAM.sample_range == (23.0, 1630.0)


@pytest.mark.parametrize("band", BANDS, ids=lambda b: b.value)
def test_optical_centre_is_undistorted_boresight(band: Filter) -> None:
    ray = CAM.pixel_to_ray(np.array([CAM.cx]), np.array([CAM.cy(band)]), band)[0]
    np.testing.assert_allclose(ray, [0.0, 0.0, CAM.focal_px], atol=1e-9)


@pytest.mark.parametrize("band", BANDS, ids=lambda b: b.value)
def test_ik_band_boresight_lands_at_framelet_centre(band: Filter) -> None:
    # the IK boresights point at sample 827, line 64 of each band's framelet
    s, ln = CAM.ray_to_pixel(np.array(IK_BORESIGHTS[band]), band)
    assert float(s) == pytest.approx(827.0, abs=0.01)
    assert float(ln) == pytest.approx(64.0, abs=0.01)


def test_distortion_is_barrel_of_the_right_size() -> None:
    r = np.linspace(1.0, 1100.0, 500)
    xd, yd = CAM.distort(r, np.zeros_like(r))
    np.testing.assert_array_equal(yd, 0.0)
    shrink = r - xd
    # K1 < 0: points are pulled towards the centre, more so further out
    assert np.all(shrink > 0)
    assert np.all(np.diff(xd) > 0), "distortion must stay monotonic (invertible)"
    assert shrink[0] < 1e-6
    # about 21.6 px at r = 800 and a few tens of pixels at the CCD corners
    assert float(CAM.distort(np.array([800.0]), np.array([0.0]))[0][0]) == pytest.approx(
        800.0 * (1 + IK_K1 * 800.0**2 + IK_K2 * 800.0**4)
    )
    assert 20.0 < 800.0 - float(CAM.distort(np.array([800.0]), np.array([0.0]))[0][0]) < 23.0


@pytest.mark.parametrize("band", BANDS, ids=lambda b: b.value)
def test_distortion_at_framelet_corners(band: Filter) -> None:
    s0, s1 = CAM.sample_range
    s = np.array([s0, s1, s0, s1])
    ln = np.array([0.0, 0.0, 127.0, 127.0])
    xd, yd = s - CAM.cx, ln - CAM.cy(band)
    xu, yu = CAM.undistort(xd, yd)
    grow = np.hypot(xu, yu) - np.hypot(xd, yd)
    assert np.all((grow > 15.0) & (grow < 40.0))
    # radial: the direction from the centre is kept
    np.testing.assert_allclose(np.arctan2(yu, xu), np.arctan2(yd, xd), atol=1e-12)


def test_distort_undistort_are_inverse_arrays() -> None:
    rng = np.random.default_rng(0)
    xu = rng.uniform(-900, 900, (50, 40))
    yu = rng.uniform(-700, 700, (50, 40))
    xd, yd = CAM.distort(xu, yu)
    assert xd.shape == yd.shape == (50, 40)
    xu2, yu2 = CAM.undistort(xd, yd)
    assert float(np.max(np.hypot(xu2 - xu, yu2 - yu))) < 1e-5


def test_behind_the_camera_is_nan() -> None:
    rays = np.array([[0.1, 0.2, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    s, ln = CAM.ray_to_pixel(rays, "GREEN")
    assert np.isnan(s[:2]).all() and np.isnan(ln[:2]).all()
    assert np.isfinite(s[2]) and np.isfinite(ln[2])
    _, _, ok = CAM.ray_to_focal(rays)
    assert ok.tolist() == [False, False, True]


def test_rays_are_in_camera_frame_axes() -> None:
    # +X along increasing sample, +Y down the CCD (towards red), +Z the boresight
    right = CAM.pixel_to_ray(np.array([CAM.cx + 100.0]), np.array([CAM.cy("GREEN")]), "GREEN")[0]
    down = CAM.pixel_to_ray(np.array([CAM.cx]), np.array([CAM.cy("GREEN") + 100.0]), "GREEN")[0]
    assert right[0] > 0 and abs(right[1]) < 1e-12 and right[2] > 0
    assert down[1] > 0 and abs(down[0]) < 1e-12
    # the red stripe looks further +Y than the methane stripe
    red = CAM.pixel_to_ray(np.array([827.0]), np.array([64.0]), "RED")[0]
    methane = CAM.pixel_to_ray(np.array([827.0]), np.array([64.0]), "METHANE")[0]
    assert red[1] > 0 > methane[1]


def test_band_focal_scale() -> None:
    cam = CameraModel(band_scale=(1.0, 1.0, 1.0, 1.001))
    assert cam.focal_for("RED") == pytest.approx(cam.focal_px * 1.001)
    assert cam.focal_for(None) == cam.focal_px
    assert not cam.uniform_focal and CAM.uniform_focal
    # a longer focal length pushes off-axis pixels outwards
    ray = unit(CAM.pixel_to_ray(np.array([1500.0]), np.array([64.0]), "RED"))
    s_long, _ = cam.ray_to_pixel(ray, "RED")
    assert float(s_long[0]) > 1500.0
