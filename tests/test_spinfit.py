"""Unit tests of the spin self-calibration's parts (the closed loops are elsewhere).

The fit measures CCD correspondences between overlapping framelets
(tests/test_matching.py) and solves for the model on those exactly; these tests pin
the solver and the fit's modes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from junocam.camera import CameraModel
from junocam.framelets import split
from junocam.metadata import Filter
from junocam.spin import SpinModel
from junocam.spinfit import (
    _match_offsets,
    _Matches,
    _parameters,
    _solve,
)
from junocam.stitch import CylinderGrid

RGB = ["BLUE", "GREEN", "RED"]
BANDS = list(Filter)


def _frame(n_exposures: int = 6):
    return split(np.zeros((n_exposures * 384, 1648), np.float32), RGB)


def _true_matches(spin: SpinModel, camera: CameraModel, n: int = 300, seed: int = 0) -> _Matches:
    """CCD points of framelet a and where framelet b sees the same sky, under a model."""
    rng = np.random.default_rng(seed)
    exp_a = rng.integers(0, 5, n)
    gap = rng.integers(0, 3, n)
    band_a = rng.choice([BANDS.index(Filter(b)) for b in RGB], n)
    band_b = rng.choice([BANDS.index(Filter(b)) for b in RGB], n)
    gap[(gap == 0) & (band_a == band_b)] = 1
    exp_b = exp_a + gap
    sample_a = rng.uniform(200, 1450, n)
    line_a = rng.uniform(5, 122, n)
    sample = np.empty((n, 2))
    line = np.empty((n, 2))
    for k in range(n):
        ray = camera.pixel_to_ray(sample_a[k : k + 1], line_a[k : k + 1], BANDS[band_a[k]])
        sky = ray @ spin.rotation(float(exp_a[k])).T
        s, ln = camera.ray_to_pixel(sky @ spin.rotation(float(exp_b[k])), BANDS[band_b[k]])
        sample[k] = sample_a[k], s[0]
        line[k] = line_a[k], ln[0]
    return _Matches(
        exposure=np.stack([exp_a, exp_b], axis=1),
        band=np.stack([band_a, band_b], axis=1),
        sample=sample,
        line=line,
        weight=np.full((n, 2), 100.0),
    )


def test_solver_recovers_the_model_from_nominal_in_one_call() -> None:
    # the point of solving on correspondences: no re-measuring is needed to converge
    true_cam = replace(CameraModel(), band_scale=(1.0, 0.9993, 1.0, 1.0011))
    true = SpinModel(0.07745, tilt_y=-0.0031, tilt_z=0.0042, reference_exposure=2.5)
    nominal = SpinModel.nominal(0.372, reference_exposure=2.5)
    m = _true_matches(true, true_cam)
    grid = CylinderGrid.covering(_frame(), CameraModel(), nominal, margin=24)
    params = _parameters(_frame(), nominal, band_scale=True)
    start = _match_offsets(m, nominal, CameraModel(), grid)
    assert np.max(np.abs(start)) > 2.0  # the nominal model is pixels off
    spin, cam, left = _solve(m, params, CameraModel(), nominal, CameraModel(), nominal, grid)
    assert spin.turn_per_exposure == pytest.approx(true.turn_per_exposure, rel=2e-6)
    assert spin.tilt_y == pytest.approx(true.tilt_y, abs=2e-5)
    assert spin.tilt_z == pytest.approx(true.tilt_z, abs=2e-5)
    assert cam.band_scale == pytest.approx(true_cam.band_scale, abs=2e-6)
    assert np.max(np.abs(left)) < 2e-3


def test_solver_shrugs_off_gross_outliers() -> None:
    true = SpinModel(0.0779, reference_exposure=2.5)
    nominal = SpinModel.nominal(0.372, reference_exposure=2.5)
    m = _true_matches(true, CameraModel(), seed=3)
    bad = m.sample.copy()
    bad[::10, 1] += 25.0  # one match in ten is a moving cloud or a cosmic ray
    m = replace(m, sample=bad)
    grid = CylinderGrid.covering(_frame(), CameraModel(), nominal, margin=24)
    params = _parameters(_frame(), nominal, band_scale=False)
    spin, _, left = _solve(m, params, CameraModel(), nominal, CameraModel(), nominal, grid)
    assert spin.turn_per_exposure == pytest.approx(true.turn_per_exposure, rel=2e-4)
    good = np.ones(len(left), bool)
    good[::10] = False
    assert np.median(np.abs(left[good])) < 0.01


def test_preview_fit_on_half_scale_only_still_recovers_the_turn() -> None:
    from junocam.companding import decompand
    from junocam.geometry import fit_frame_spin
    from junocam.simulate import ImageScene, SimulationSpec, simulate_frame

    rng = np.random.default_rng(5)
    tex = sum(s * ndimage.gaussian_filter(rng.standard_normal((1200, 1200)), s) for s in (2, 6))
    tex = np.clip(0.45 + 0.12 * (tex - tex.mean()) / tex.std(), 0.02, 1.0).astype(np.float32)
    spec = SimulationSpec(
        n_exposures=6,
        oversample=1,
        hot_pixels=0,
        seed=2,
        turn_per_exposure=1.985 * 2 * np.pi / 60 * 0.373,
        band_gain=(1.0, 1.0, 1.0, 1.0),
    )
    sim = simulate_frame(ImageScene(tex, fov_deg=80.0), spec)
    fr = split(decompand(sim.strip, "SQROOT"), spec.filters)
    true = spec.true_spin().turn_per_exposure
    fits = [fit_frame_spin(fr, spec.interframe_delay, preview=p) for p in (False, True)]
    for fit in fits:
        assert not fit.fallback
        assert abs(fit.spin.turn_per_exposure / true - 1.0) < 5e-4
    # the preview's own residuals are in full-scale pixels, measured at half scale
    assert fits[1].residual_rms_px < 0.3
