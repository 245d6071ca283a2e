"""Closed loop (issue 3 item 6): simulate with a known spin, stitch, compare with truth.

Two simulated frames, each made and processed once per module:

* a colour Jupiter with a spin and axis tilt away from the nominal ones, to check
  that self-calibration recovers the turn per exposure from the nominal start;
* a neutral-grey textured sky (the same radiance in every band, no hot pixels),
  to measure band-to-band registration, seams against the truth rendered on the
  same grid, and the naive composite's colour fringes for comparison.

Run ``pytest -s tests/test_closed_loop.py`` to see the measured figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import grey_texture
from scipy import ndimage

from junocam.camera import CameraModel
from junocam.companding import decompand
from junocam.compose import naive_band_images, naive_band_offsets, shift_bands
from junocam.framelets import Framelets, split
from junocam.geometry import GeometryOptions, StitchedFrame, stitch_frame
from junocam.metadata import Filter
from junocam.quality import (
    covered_box,
    framelet_edge_distance,
    patch_shifts,
    phase_shift,
    seam_figure,
)
from junocam.simulate import ImageScene, JupiterScene, SimulationSpec, render_truth, simulate_frame
from junocam.stitch import CylinderGrid, StitchResult, stitch

RGB = (Filter.BLUE, Filter.GREEN, Filter.RED)
PAIRS = ((Filter.GREEN, Filter.BLUE), (Filter.GREEN, Filter.RED))


def rpm_turn(rpm: float, interframe_delay: float = 0.372) -> float:
    """Turn per exposure (rad) of a spin rate in rpm."""
    return rpm * 2.0 * math.pi / 60.0 * (interframe_delay + 0.001)


@dataclass
class Run:
    spec: SimulationSpec
    framelets: Framelets
    out: StitchedFrame


def simulate_and_stitch(scene: object, spec: SimulationSpec) -> Run:
    sim = simulate_frame(scene, spec)  # type: ignore[arg-type]
    fr = split(decompand(sim.strip, "SQROOT"), spec.filters)
    # fitted from the nominal 2 rpm and the frames-kernel tilt
    out = stitch_frame(fr, spec.interframe_delay, GeometryOptions())
    return Run(spec, fr, out)


@pytest.fixture(scope="module")
def jupiter() -> Run:
    spec = SimulationSpec(
        n_exposures=8,
        oversample=1,
        turn_per_exposure=rpm_turn(1.975),
        tilt_y=0.004,
        tilt_z=-0.003,
        seed=7,
    )
    return simulate_and_stitch(JupiterScene(radius_deg=9.0, seed=4), spec)


@dataclass
class GreyRun(Run):
    scene: ImageScene
    truth: np.ndarray
    fitted: StitchResult
    exact: StitchResult


@pytest.fixture(scope="module")
def grey() -> GreyRun:
    # equal band gains: the stitched bands are compared with one truth
    spec = SimulationSpec(
        n_exposures=8, oversample=1, hot_pixels=0, seed=3, band_gain=(1.0, 1.0, 1.0, 1.0)
    )
    scene = ImageScene(grey_texture(), fov_deg=80.0)
    run = simulate_and_stitch(scene, spec)
    fit = run.out.fit
    # one grid, built with the TRUE spin; the sky frame (camera frame at the middle
    # exposure) is the same for the true and the fitted model
    true = spec.true_spin()
    grid = CylinderGrid.covering(run.framelets, CameraModel(), true)
    fitted = stitch(run.framelets, fit.camera or CameraModel(), fit.spin, grid)
    exact = stitch(run.framelets, CameraModel(), true, grid)
    truth = render_truth(scene, grid, Filter.GREEN, oversample=2)
    return GreyRun(spec, run.framelets, run.out, scene, truth, fitted, exact)


# ---------------------------------------------------------------------------
# (a) spin self-calibration


@pytest.mark.parametrize("name", ["jupiter", "grey"])
def test_fitted_turn_within_0_05_percent(name: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(name)
    fit = run.out.fit
    true = run.spec.true_spin()
    nominal = fit.nominal.turn_per_exposure
    rel = fit.spin.turn_per_exposure / true.turn_per_exposure - 1.0
    print(
        f"\n[{name}] true turn {true.turn_per_exposure:.6f} rad "
        f"({(true.turn_per_exposure / nominal - 1) * 100:+.2f}% vs nominal), "
        f"fitted {fit.spin.turn_per_exposure:.6f} rad: error {rel * 100:+.4f}%; "
        f"tilt error y {fit.spin.tilt_y - true.tilt_y:+.2e} z {fit.spin.tilt_z - true.tilt_z:+.2e}"
        f" rad; residual {fit.residual_rms_px:.3f} px, band {fit.band_registration_px:.3f} px,"
        f" seam {fit.seam_rms_px:.3f} px, {fit.n_measurements} overlaps"
    )
    assert not fit.fallback
    assert fit.spin.fitted
    assert abs(rel) < 5e-4
    # the nominal start really was off
    assert abs(true.turn_per_exposure / nominal - 1.0) > 5e-3
    assert fit.residual_rms_px < 0.5


# ---------------------------------------------------------------------------
# (b) band-to-band registration of the stitched neutral scene


def common_mask(result: StitchResult) -> np.ndarray:
    return np.logical_and.reduce([result.masks[b] for b in RGB])


def test_band_registration_below_0_2_px(grey: GreyRun) -> None:
    bands = grey.out.result.bands
    mask = common_mask(grey.out.result)
    box = covered_box(mask)
    assert box is not None
    assert mask[box].size > 0.4 * mask.sum()  # a large share of the covered region
    # the measurement itself resolves a tenth of a pixel
    green = bands[Filter.GREEN][box]
    dr, dc = phase_shift(green, ndimage.shift(green, (0.12, -0.08), order=3, mode="nearest"))
    assert dr == pytest.approx(-0.12, abs=0.03) and dc == pytest.approx(0.08, abs=0.03)
    for ref, mov in PAIRS:
        dr, dc = phase_shift(bands[ref][box], bands[mov][box])
        local = patch_shifts(bands[ref], bands[mov], mask)
        print(
            f"\n[stitched] {mov.value} vs {ref.value}: whole covered region "
            f"({dr:+.3f}, {dc:+.3f}) px; {local.n} patches of {local.patch} px: "
            f"RMS {local.rms:.3f} px, max {local.max:.3f} px"
        )
        assert math.hypot(dr, dc) < 0.2
        assert local.n >= 20
        assert local.rms < 0.2


# ---------------------------------------------------------------------------
# (c) no seam: error at framelet boundaries no worse than elsewhere


def test_no_seam_against_truth(grey: GreyRun) -> None:
    spec, fit = grey.spec, grey.out.fit
    cam = fit.camera or CameraModel()
    for band in RGB:
        err = (grey.fitted.bands[band] - spec.dark_dn) / spec.full_well_dn - grey.truth
        err_exact = (grey.exact.bands[band] - spec.dark_dn) / spec.full_well_dn - grey.truth
        mask = grey.fitted.masks[band] & (grey.truth > 0)
        dist, count = framelet_edge_distance(
            grey.fitted.grid, cam, fit.spin, band, spec.n_exposures
        )
        assert count.max() >= 2  # framelets of one band do overlap
        fig = seam_figure(err, dist, mask)
        ref = seam_figure(err_exact, dist, mask)
        print(
            f"\n[seam] {band.value}: RMS error near framelet boundaries {fig.near_rms:.5f} "
            f"({fig.n_near} px), elsewhere {fig.far_rms:.5f} ({fig.n_far} px), ratio "
            f"{fig.ratio:.3f}; with the true geometry elsewhere {ref.far_rms:.5f}"
        )
        assert fig.n_near > 10_000 and fig.n_far > 100_000
        assert fig.ratio <= 1.5
        # and the fitted geometry is as good as the true one (no misplacement)
        assert fig.far_rms <= 1.05 * ref.far_rms


# ---------------------------------------------------------------------------
# (d) the naive composite's colour fringes, for comparison


def test_naive_composite_fringes_are_pixels(grey: GreyRun) -> None:
    naive = naive_band_images(grey.framelets, photoactive=True)
    offsets = naive_band_offsets(naive, interframe_delay=grey.spec.interframe_delay)
    aligned = shift_bands(naive, offsets)
    nmask = np.logical_and.reduce([np.isfinite(aligned[b]) for b in RGB])
    smask = common_mask(grey.out.result)
    for ref, mov in PAIRS:
        n = patch_shifts(aligned[ref], aligned[mov], nmask, step=64)
        s = patch_shifts(grey.out.result.bands[ref], grey.out.result.bands[mov], smask, step=64)
        print(
            f"\n[fringe] {mov.value} vs {ref.value}: naive RMS {n.rms:.2f} px "
            f"(max {n.max:.2f}, {n.n} patches), stitched RMS {s.rms:.3f} px "
            f"(max {s.max:.3f}, {s.n} patches)"
        )
        assert n.n >= 20
        assert n.rms > 1.0
        assert n.rms > 10.0 * s.rms
