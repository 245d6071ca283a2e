"""The projection's coarse cells: skipping what no framelet reaches changes nothing,
and the optional interpolated framelet coordinates stay within a stated tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from junocam.framelets import DARK_SAMPLES, PHOTOACTIVE_SAMPLES, Framelets
from junocam.metadata import from_website_json
from junocam.planet.pointing import ViewGeometry, view_from_ck
from junocam.planet.projection import (
    INTERPOLATION_TOLERANCE_PX,
    MapGrid,
    _Cells,
    map_grid_for,
    project_frame,
)
from junocam.planet.spice import frame_ephemeris
from junocam.simulate import (
    PlanetTexture,
    SimulationSpec,
    simulate_planet_frame,
    website_metadata,
)

pytest.importorskip("spiceypy")

from junocam.planet.simkernels import write_pass_kernels  # noqa: E402

#: what the interpolated framelet coordinates may differ from the exact ones (px)
STATED_TOLERANCE_PX = 0.05


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Framelets, ViewGeometry]:
    """Four RGB exposures of a textured planet on a synthetic pass."""
    folder = tmp_path_factory.mktemp("kernels")
    truth = write_pass_kernels(folder)
    spec = SimulationSpec(n_exposures=4, oversample=1, hot_pixels=0, seed=2)
    meta = from_website_json(website_metadata(spec, spec.true_spin()))
    view = view_from_ck(frame_ephemeris(meta, truth.kernels))
    sim = simulate_planet_frame(PlanetTexture.procedural((180, 360), seed=4), view, spec)
    return Framelets(sim.linear, spec.filters), view


def _grids(view: ViewGeometry) -> list[MapGrid]:
    bands = ("BLUE", "GREEN", "RED")
    from junocam.metadata import Filter

    fs = tuple(Filter(b) for b in bands)
    return [
        map_grid_for(view, p, 0.3, bands=fs) for p in ("orthographic", "polar", "equirectangular")
    ]


def test_skipping_unreachable_cells_gives_the_same_map(scene) -> None:  # type: ignore[no-untyped-def]
    framelets, view = scene
    for grid in _grids(view):
        every = project_frame(framelets, view, grid, coarse=0)
        culled = project_frame(framelets, view, grid)  # the default: cells of 8 px
        for b in every.bands:
            np.testing.assert_array_equal(every.masks[b], culled.masks[b])
            np.testing.assert_array_equal(every.bands[b], culled.bands[b])
            assert every.masks[b].sum() > 1000, grid.projection  # not vacuous
        np.testing.assert_array_equal(every.exposure, culled.exposure)
        for k, v in every.backplanes.as_dict().items():
            np.testing.assert_array_equal(v, culled.backplanes.as_dict()[k], err_msg=k)


def test_interpolated_framelet_coordinates_agree_with_the_exact_ones(scene) -> None:  # type: ignore[no-untyped-def]
    framelets, view = scene
    s_lo, s_hi = DARK_SAMPLES, DARK_SAMPLES + PHOTOACTIVE_SAMPLES - 1
    for grid in _grids(view):
        pts_grid, ok = grid.surface_points()
        idx = np.flatnonzero(ok)
        pts = pts_grid.reshape(-1, 3)[idx]
        # cells of 0.6 deg, as 8 px are at the frame's native ~0.07 deg/px
        cells = _Cells(grid.shape, idx, pts_grid, 2, interpolate=True)
        worst, n_interp, n_all = 0.0, 0, 0
        for i in range(view.n_exposures):
            for b in framelets.filters:
                node = cells.node_pixels(view, i, b)
                reach = cells.reach(node, 128, s_lo, s_hi)
                sub = cells.candidates([reach])
                cam = np.einsum("ij,jk->ik", pts[sub] - view.observer[i], view.camera_to_body[i])
                front = cam[:, 2] > 0
                sub, cam = sub[front], cam[front]
                s_i, l_i = cells.pixels(view, i, b, node, sub, cam, 0.17)
                s_x, l_x = view.camera.ray_to_pixel(cam, b)
                seen = (l_x >= 0) & (l_x <= 127) & (s_x >= s_lo) & (s_x <= s_hi)
                diff = np.hypot(s_i - s_x, l_i - l_x)[seen]
                worst = max(worst, float(diff.max(initial=0.0)))
                n_interp += int((diff > 0).sum())
                n_all += int(seen.sum())
        assert worst < STATED_TOLERANCE_PX, (grid.projection, worst)
        # thousands of seen pixels were interpolated (else this proves nothing)
        assert n_interp > 1000, (grid.projection, n_interp, n_all)
    assert INTERPOLATION_TOLERANCE_PX <= STATED_TOLERANCE_PX


def test_interpolated_map_matches_the_exact_map(scene) -> None:  # type: ignore[no-untyped-def]
    framelets, view = scene
    grid = _grids(view)[0]
    exact = project_frame(framelets, view, grid)
    interp = project_frame(framelets, view, grid, coarse=2, interpolate=True)
    for b in exact.bands:
        both = exact.masks[b] & interp.masks[b]
        # coverage differs at most at a few pixels on a framelet's very edge
        assert (exact.masks[b] != interp.masks[b]).sum() <= 0.001 * exact.masks[b].sum()
        scale = float(np.percentile(exact.bands[b][both], 99))
        assert np.abs(exact.bands[b][both] - interp.bands[b][both]).max() < 0.02 * scale
