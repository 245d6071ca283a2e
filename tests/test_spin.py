"""Spin and timing model: rotations, reference exposure, sense of the sweep."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from junocam.camera import CameraModel
from junocam.spin import (
    FK_SPIN_AXIS,
    INTERFRAME_DELTA,
    NOMINAL_SPIN_RATE,
    START_TIME_BIAS,
    SpinModel,
    exposure_offsets,
    rotation_matrix,
)

angles = st.floats(-2 * math.pi, 2 * math.pi, allow_nan=False)
small = st.floats(-0.02, 0.02, allow_nan=False)
axes = st.tuples(*(st.floats(-1.0, 1.0) for _ in range(3))).filter(
    lambda v: float(np.linalg.norm(v)) > 1e-3
)
spins = st.builds(
    SpinModel,
    turn_per_exposure=st.floats(-0.2, 0.2, allow_nan=False),
    tilt_y=small,
    tilt_z=small,
    reference_exposure=st.floats(0.0, 30.0, allow_nan=False),
)


@settings(max_examples=150, deadline=None)
@given(axis=axes, angle=angles)
def test_rotation_matrix_is_orthonormal(axis: tuple[float, float, float], angle: float) -> None:
    r = rotation_matrix(axis, angle)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-12)
    # the axis is left in place
    a = np.asarray(axis) / np.linalg.norm(axis)
    np.testing.assert_allclose(r @ a, a, atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(axis=axes, a=angles, b=angles)
def test_rotations_about_one_axis_compose(
    axis: tuple[float, float, float], a: float, b: float
) -> None:
    np.testing.assert_allclose(
        rotation_matrix(axis, a) @ rotation_matrix(axis, b),
        rotation_matrix(axis, a + b),
        atol=1e-12,
    )
    np.testing.assert_allclose(rotation_matrix(axis, -a), rotation_matrix(axis, a).T, atol=1e-12)


def test_rotation_matrix_is_right_handed_and_vectorised() -> None:
    np.testing.assert_allclose(
        rotation_matrix([0, 0, 2], np.pi / 2) @ [1, 0, 0], [0, 1, 0], atol=1e-15
    )
    np.testing.assert_allclose(
        rotation_matrix([1, 0, 0], np.pi / 2) @ [0, 1, 0], [0, 0, 1], atol=1e-15
    )
    stack = rotation_matrix([0, 1, 0], np.linspace(0, 1, 5))
    assert stack.shape == (5, 3, 3)
    np.testing.assert_allclose(stack[3], rotation_matrix([0, 1, 0], 0.75))


@settings(max_examples=150, deadline=None)
@given(spin=spins)
def test_reference_exposure_is_identity(spin: SpinModel) -> None:
    np.testing.assert_allclose(spin.rotation(spin.reference_exposure), np.eye(3), atol=1e-15)


@settings(max_examples=150, deadline=None)
@given(spin=spins, i=st.integers(0, 40), j=st.integers(0, 40))
def test_spin_rotations_compose(spin: SpinModel, i: int, j: int) -> None:
    # camera frame j -> sky -> camera frame i equals the turn of (j - i) exposures
    ri, rj = spin.rotation(i), spin.rotation(j)
    step = rotation_matrix(spin.axis, (j - i) * spin.turn_per_exposure)
    np.testing.assert_allclose(ri.T @ rj, step, atol=1e-12)
    # moving the reference only re-expresses the sky frame
    moved = spin.with_reference(spin.reference_exposure + 1.5)
    np.testing.assert_allclose(
        moved.rotation(i), spin.rotation(moved.reference_exposure).T @ ri, atol=1e-12
    )


def test_rotation_is_vectorised_over_exposures() -> None:
    spin = SpinModel(0.078, reference_exposure=2.0)
    stack = spin.rotation(np.arange(5))
    assert stack.shape == (5, 3, 3)
    for i in range(5):
        np.testing.assert_allclose(stack[i], spin.rotation(i))
    np.testing.assert_allclose(spin.angles(np.array([0, 2, 4])), [-0.156, 0.0, 0.156])


def test_axis_defaults_to_frames_kernel() -> None:
    spin = SpinModel(0.078)
    fk = np.asarray(FK_SPIN_AXIS) / np.linalg.norm(FK_SPIN_AXIS)
    np.testing.assert_allclose(spin.axis, fk, atol=1e-9)
    assert np.linalg.norm(spin.axis) == pytest.approx(1.0)
    # close to -X: about 0.13 degrees of tilt
    tilt = math.degrees(math.acos(-spin.axis[0]))
    assert 0.1 < tilt < 0.2
    assert not spin.fitted


def test_nominal_spin_and_rate() -> None:
    assert NOMINAL_SPIN_RATE == pytest.approx(2.0 * 2.0 * math.pi / 60.0)
    spin = SpinModel.nominal(0.372, reference_exposure=3.0)
    assert spin.turn_per_exposure == pytest.approx(NOMINAL_SPIN_RATE * 0.373)
    assert spin.reference_exposure == 3.0
    # about 116 detector pixels per exposure (CAMERA.md, issue 3)
    assert spin.turn_per_exposure * CameraModel().focal_px == pytest.approx(115.7, abs=0.1)
    assert spin.spin_rate(0.372) == pytest.approx(NOMINAL_SPIN_RATE)
    slower = SpinModel.nominal(0.372, spin_rate=0.99 * NOMINAL_SPIN_RATE)
    assert slower.spin_rate(0.372) * 60 / (2 * math.pi) == pytest.approx(1.98)


def test_exposure_offsets_follow_ik_timing() -> None:
    np.testing.assert_allclose(
        exposure_offsets(4, 0.38), START_TIME_BIAS + np.arange(4) * (0.38 + INTERFRAME_DELTA)
    )
    assert exposure_offsets(0, 0.38).size == 0
    assert (START_TIME_BIAS, INTERFRAME_DELTA) == (0.06188, 0.001)


@pytest.mark.parametrize("tilt", [(0.0, 0.0), (0.004, -0.003)])
def test_scene_moves_towards_minus_y_by_one_turn(tilt: tuple[float, float]) -> None:
    # a sky direction seen half a turn below the optical centre in exposure i is
    # seen half a turn above it (-Y) in exposure i + 1, at nearly the same sample
    cam = CameraModel()
    turn = 0.0776
    spin = SpinModel(turn, tilt_y=tilt[0], tilt_z=tilt[1], reference_exposure=1.0)
    half = cam.focal_px * math.tan(turn / 2)
    ray = cam.pixel_to_ray(np.array([cam.cx]), np.array([cam.cy("GREEN") + half]), "GREEN")
    sky = ray @ spin.rotation(0).T
    s1, l1 = cam.ray_to_pixel(sky @ spin.rotation(1), "GREEN")
    assert float(l1[0]) == pytest.approx(cam.cy("GREEN") - half, abs=0.05)
    assert float(s1[0]) == pytest.approx(cam.cx, abs=0.5)


def test_with_reference_copies() -> None:
    spin = SpinModel(0.07, tilt_y=0.001, fitted=True)
    moved = spin.with_reference(4)
    assert moved.reference_exposure == 4.0 and isinstance(moved.reference_exposure, float)
    assert (moved.turn_per_exposure, moved.tilt_y, moved.fitted) == (0.07, 0.001, True)
    assert spin.reference_exposure == 0.0
