"""Map grids, projection of framelets onto them, photometric laws and the pipeline hook."""

from __future__ import annotations

import math

import numpy as np
import pytest

from junocam.camera import CameraModel
from junocam.errors import GeometryError
from junocam.framelets import Framelets
from junocam.metadata import Filter
from junocam.planet import JUPITER, photometric_factor, surface_point
from junocam.planet.pointing import ViewGeometry
from junocam.planet.projection import MapGrid, map_grid_for, project_frame


def test_equirectangular_pixel_centres_and_sidecar() -> None:
    g = MapGrid("equirectangular", 0.5, (20, 40), lon_left=100.0, lat_top=-60.0)
    lat, lon = g.latlon()
    assert lat[0, 0] == -60.25 and lon[0, 0] == 99.75 and lon[0, 1] == 99.25
    d = g.to_dict()
    assert d["lon_west_left_edge_deg"] == 100.0 and d["rows"] == 20 and d["cols"] == 40


@pytest.mark.parametrize("pole", ["north", "south"])
def test_polar_grid_is_azimuthal_equidistant(pole: str) -> None:
    g = MapGrid("polar", 1.0, (61, 61), pole=pole, center_lon=30.0)
    lat, lon = g.latlon()
    sign = 1 if pole == "north" else -1
    assert lat[30, 30] == pytest.approx(sign * 90.0, abs=1e-9)  # odd size: the pole
    # straight down from the centre: the central meridian, colatitude = distance
    assert lon[50, 30] == pytest.approx(30.0, abs=1.5)
    assert lat[50, 30] == pytest.approx(sign * (90 - 20.0), abs=1e-9)
    # seen from above the pole, west longitude runs clockwise in the north
    right = lon[30, 50]
    assert (right - 30.0) % 360 == pytest.approx(270.0 if pole == "north" else 90.0, abs=2.0)
    assert np.isnan(lat).sum() == 0  # 61 px at 1 deg reaches 30.5 deg colatitude


def test_orthographic_centre_and_disc() -> None:
    g = MapGrid("orthographic", 0.2, (1001, 1001), center_lat=-45.0, center_lon=200.0)
    lat, lon = g.latlon()
    assert lat[500, 500] == pytest.approx(-45.0, abs=0.2)
    assert lon[500, 500] == pytest.approx(200.0, abs=0.3)
    assert np.isnan(lat[0, 0])  # outside the disc
    # north is up: latitude grows upwards along the centre column
    assert lat[400, 500] > lat[500, 500] > lat[600, 500]


def test_bad_grids_are_refused() -> None:
    with pytest.raises(GeometryError, match="unknown projection"):
        MapGrid("mercator", 1.0, (10, 10))
    with pytest.raises(GeometryError, match="resolution"):
        MapGrid("polar", 0.0, (10, 10))
    with pytest.raises(GeometryError, match="pole"):
        MapGrid("polar", 1.0, (10, 10), pole="east")


def _nadir_view(lat: float, lon: float, alt: float, n: int = 3) -> ViewGeometry:
    """A camera straight above (lat, lon), boresight down, line direction north."""
    foot = surface_point(math.radians(lat), math.radians(lon))
    normal = foot / JUPITER.radii**2
    normal /= np.linalg.norm(normal)
    obs = foot + alt * normal
    z = -normal
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.stack([x, y, z], axis=1)
    return ViewGeometry(
        CameraModel(),
        np.repeat(obs[None], n, 0),
        np.repeat(m[None], n, 0),
        np.repeat(normal[None], n, 0),
    )


def test_project_frame_puts_a_pattern_where_it_belongs() -> None:
    view = _nadir_view(-30.0, 120.0, 40000.0, n=1)
    data = np.zeros((1, 1, 128, 1648), np.float32)
    data[0, 0, :, :] = np.arange(1648, dtype=np.float32)[None, :]  # brightness = sample
    fr = Framelets(data, (Filter.GREEN,))
    grid = map_grid_for(view, "equirectangular", 0.05, bands=(Filter.GREEN,))
    m = project_frame(fr, view, grid)
    seen = m.masks[Filter.GREEN]
    assert seen.sum() > 1000
    # every mapped pixel's value is the framelet sample its surface point projects to
    pts, ok = grid.surface_points()
    r, c = np.nonzero(seen)
    pick = np.random.default_rng(0).choice(r.size, 200, replace=False)
    s, _, vis = view.project(pts[r[pick], c[pick]], 0, Filter.GREEN)
    assert vis.all()
    np.testing.assert_allclose(m.bands[Filter.GREEN][r[pick], c[pick]], s, atol=0.02)
    # backplanes: emission small near nadir, latitude where the grid says
    bp = m.backplanes
    assert np.nanmin(bp.emission_deg) < 1.0
    lat, _ = grid.latlon()
    np.testing.assert_allclose(bp.lat_deg[seen], lat[seen], atol=1e-3)
    assert set(np.unique(m.exposure[seen])) == {0}


def test_project_frame_checks_exposures_and_emission() -> None:
    view = _nadir_view(0.0, 0.0, 40000.0, n=2)
    fr = Framelets(np.zeros((1, 1, 128, 1648), np.float32), (Filter.GREEN,))
    grid = MapGrid("equirectangular", 1.0, (10, 10), lon_left=5, lat_top=5)
    with pytest.raises(GeometryError, match="exposures"):
        project_frame(fr, view, grid)
    fr2 = Framelets(np.zeros((2, 1, 128, 1648), np.float32), (Filter.GREEN,))
    with pytest.raises(GeometryError, match="max_emission"):
        project_frame(fr2, view, grid, max_emission=0.0)


def test_photometric_laws() -> None:
    mu0 = np.array([1.0, 0.5, 0.5, 0.01, -0.2])
    mu = np.array([1.0, 1.0, 0.5, 1.0, 1.0])
    assert photometric_factor(mu0, mu, "lambert").tolist() == [1.0, 0.5, 0.5, 0.0, 0.0]
    ls = photometric_factor(mu0, mu, "lommel_seeliger")
    assert ls[:3] == pytest.approx([1.0, 2 * 0.5 / 1.5, 1.0])
    mn = photometric_factor(mu0, mu, "minnaert", k=0.8)
    assert mn[2] == pytest.approx(0.5**0.8 * 0.5 ** (-0.2))
    capped = photometric_factor(np.array([0.06]), np.array([1.0]), "lambert", max_gain=5)
    assert capped[0] == pytest.approx(0.2)
    with pytest.raises(GeometryError):
        photometric_factor(mu0, mu, "hapke")


def test_photometry_stage_divides_out_the_lighting_on_a_map() -> None:
    from junocam.decode import RawFrame
    from junocam.metadata import assumed_meta
    from junocam.pipeline import Pipeline
    from junocam.planet import backplanes
    from junocam.planet.projection import MapResult

    grid = MapGrid("equirectangular", 1.0, (60, 120), lon_left=120.0, lat_top=30.0)
    pts, ok = grid.surface_points()
    sun = np.array([1.0, 0.0, 0.0])
    bp = backplanes(pts, np.array([3e5, 0.0, 0.0]), sun)
    lit = np.nan_to_num(np.cos(np.radians(bp.incidence_deg)))
    bands = {
        b: (0.6 * np.clip(lit, 0, None)).astype(np.float32)
        for b in (Filter.BLUE, Filter.GREEN, Filter.RED)
    }
    masks = {b: ok.copy() for b in bands}
    result = MapResult(grid, bands, masks, bp, np.zeros(grid.shape, np.int16))
    frame = RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384, interframe_delay=0.372))
    p = Pipeline(
        [
            "stitch",
            ("photometry", {"model": "lambert", "min_mu0": 0.2}),
            ("compose", {"normalize": "full_scale"}),
        ]
    )
    out = p.run(frame, projector=lambda fr: result)
    g = out.bands[Filter.GREEN]
    well_lit = lit > 0.25
    assert np.allclose(g[well_lit], 0.6, atol=1e-4)  # flat after dividing by mu0
    assert not out.mask[lit < 0.1].any()
    # without a projector the stage says why it did nothing
    plain = Pipeline([("stitch", {"geometry": "naive"}), "photometry", "compose"]).run(frame)
    assert any("photometry: skipped" in n for n in plain.notes)
