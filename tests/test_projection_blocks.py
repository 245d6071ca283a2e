"""The interpolating projection (``project_frame(..., interpolate=True)``, what
``junocam map`` uses): framelet coordinates within a stated bound of the exact inverse
mapping, the same coverage, the same latitude/longitude/incidence backplanes.

Framelets whose values are their own sample (or line) coordinate make the map show,
at every pixel, the framelet coordinate the projection sampled: bilinear sampling of a
linear ramp returns the coordinate itself, so the difference of two maps is the
difference of their inverse mappings, in framelet pixels.
"""

from __future__ import annotations

import numpy as np
import pytest

from junocam.framelets import PHOTOACTIVE_SAMPLES, Framelets
from junocam.metadata import Filter, from_website_json
from junocam.planet.pointing import ViewGeometry, view_from_ck
from junocam.planet.projection import (
    INTERPOLATION_TOLERANCE_PX,
    MapGrid,
    map_grid_for,
    project_frame,
)
from junocam.planet.spice import frame_ephemeris
from junocam.simulate import SimulationSpec, website_metadata

pytest.importorskip("spiceypy")

from junocam.planet.simkernels import write_pass_kernels  # noqa: E402

#: what the interpolated framelet coordinates may differ from the exact ones (px)
STATED_TOLERANCE_PX = 0.05
BANDS = (Filter.BLUE, Filter.GREEN, Filter.RED)


@pytest.fixture(scope="module")
def view(tmp_path_factory: pytest.TempPathFactory) -> ViewGeometry:
    """Six RGB exposures of a synthetic perijove pass."""
    folder = tmp_path_factory.mktemp("kernels")
    truth = write_pass_kernels(folder)
    spec = SimulationSpec(n_exposures=6, oversample=1, hot_pixels=0, seed=2)
    meta = from_website_json(website_metadata(spec, spec.true_spin()))
    return view_from_ck(frame_ephemeris(meta, truth.kernels))


def _ramps(n_exposures: int, axis: str) -> Framelets:
    """Framelets whose every pixel holds its own sample (or line) coordinate."""
    lines, samples = 128, 1648
    if axis == "sample":
        one = np.broadcast_to(np.arange(samples, dtype=np.float32)[None, :], (lines, samples))
    else:
        one = np.broadcast_to(np.arange(lines, dtype=np.float32)[:, None], (lines, samples))
    data = np.broadcast_to(one, (n_exposures, len(BANDS), lines, samples))
    return Framelets(np.ascontiguousarray(data), BANDS)


def _one_exposure(view: ViewGeometry, i: int) -> ViewGeometry:
    keep = slice(i, i + 1)
    return ViewGeometry(
        view.camera, view.observer[keep], view.camera_to_body[keep], view.sun[keep], view.body
    )


def _grids(view: ViewGeometry, resolution: float) -> list[MapGrid]:
    return [map_grid_for(view, p, resolution, bands=BANDS) for p in ("orthographic", "polar")]


def test_interpolated_coordinates_stay_within_the_stated_bound(view: ViewGeometry) -> None:
    worst, n_moved, n_seen = 0.0, 0, 0
    sq = 0.0
    # three times the frame's finest ground pixel (0.06 deg)
    for grid in _grids(view, 0.18):
        for i in (0, 2):
            one = _one_exposure(view, i)
            for axis in ("sample", "line"):
                ramps = _ramps(1, axis)
                exact = project_frame(ramps, one, grid)
                fast = project_frame(ramps, one, grid, interpolate=True)
                for b in BANDS:
                    both = exact.masks[b] & fast.masks[b]
                    # the clamped framelet edges aside, where a ramp is not linear
                    if axis == "sample":
                        both &= (exact.bands[b] > 24) & (exact.bands[b] < PHOTOACTIVE_SAMPLES)
                    d = np.abs(exact.bands[b][both].astype(np.float64) - fast.bands[b][both])
                    worst = max(worst, float(d.max(initial=0.0)))
                    sq += float((d * d).sum())
                    n_moved += int((d > 1e-4).sum())
                    n_seen += int(both.sum())
                    # coverage: at most a few pixels on a framelet's very edge
                    assert (exact.masks[b] != fast.masks[b]).sum() <= 0.002 * exact.masks[b].sum()
    rms = (sq / max(n_seen, 1)) ** 0.5
    assert worst < STATED_TOLERANCE_PX, (worst, rms)
    assert rms < STATED_TOLERANCE_PX / 10, (worst, rms)
    # many thousands of pixels were interpolated, not computed exactly
    assert n_moved > 10000, (n_moved, n_seen)
    assert INTERPOLATION_TOLERANCE_PX <= STATED_TOLERANCE_PX


def test_interpolated_projection_keeps_coverage_and_backplanes(view: ViewGeometry) -> None:
    ramps = _ramps(view.n_exposures, "line")
    for grid in [*_grids(view, 0.3), map_grid_for(view, "equirectangular", 0.3, bands=BANDS)]:
        exact = project_frame(ramps, view, grid)
        fast = project_frame(ramps, view, grid, interpolate=True)
        for b in BANDS:
            assert exact.masks[b].sum() > 2000, grid.projection  # not vacuous
            assert (exact.masks[b] != fast.masks[b]).sum() <= 0.002 * exact.masks[b].sum()
        ex, fa = exact.backplanes.as_dict(), fast.backplanes.as_dict()
        for key in ("lat_deg", "lon_west_deg", "incidence_deg"):
            np.testing.assert_array_equal(np.isnan(ex[key]), np.isnan(fa[key]), err_msg=key)
            d = np.abs(ex[key] - fa[key])
            if key == "lon_west_deg":
                d = np.minimum(d, 360 - d)
            assert np.nanmax(d) < 1e-4, (grid.projection, key)
        seen = np.isfinite(ex["emission_deg"]) & np.isfinite(fa["emission_deg"])
        for key in ("emission_deg", "phase_deg"):
            # the cosines averaged over the views (an angle near 0 is ill-conditioned
            # in its cosine, hence the cosine): the same almost everywhere; where
            # framelets overlap, the feather weights move with the interpolated
            # coordinates and so does the weighted mean, a little
            c_ex = np.cos(np.radians(ex[key][seen].astype(np.float64)))
            c_fa = np.cos(np.radians(fa[key][seen].astype(np.float64)))
            d = np.abs(c_ex - c_fa)
            assert d.max() < 1e-3, (grid.projection, key, d.max())
            assert np.percentile(d, 99) < 1e-4, (grid.projection, key)
        rel = np.abs(exact.range_km - fast.range_km)[seen] / exact.range_km[seen]
        assert rel.max() < 1e-3 and np.percentile(rel, 99) < 1e-4
        agree = (exact.exposure == fast.exposure).mean()
        assert agree > 0.999, (grid.projection, agree)


@pytest.mark.parametrize("coarse", [4, 6, 16])
def test_blocks_of_other_sizes_stay_within_the_bound(view: ViewGeometry, coarse: int) -> None:
    grid = map_grid_for(view, "orthographic", 0.24, bands=BANDS)
    one = _one_exposure(view, 1)
    for axis in ("sample", "line"):
        ramps = _ramps(1, axis)
        exact = project_frame(ramps, one, grid)
        fast = project_frame(ramps, one, grid, coarse=coarse, interpolate=True)
        for b in BANDS:
            both = exact.masks[b] & fast.masks[b]
            assert both.sum() > 2000
            if axis == "sample":
                both &= (exact.bands[b] > 24) & (exact.bands[b] < PHOTOACTIVE_SAMPLES)
            d = np.abs(exact.bands[b][both].astype(np.float64) - fast.bands[b][both])
            assert d.max() < STATED_TOLERANCE_PX, (coarse, axis, b, d.max())
            assert (exact.masks[b] != fast.masks[b]).sum() <= 0.002 * exact.masks[b].sum()
