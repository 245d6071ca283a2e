"""GIS-ready GeoTIFF maps (issue 16, point 6), read back with rasterio and PROJ.

Every check goes from a pixel through the file's own geotransform and CRS (as GDAL
read it back from the GeoTIFF keys) to latitude/longitude, and compares with the JSON
sidecar's grid (:meth:`MapGrid.latlon`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from junocam.cli import main
from junocam.maps.geotiff import (
    GEOTIFF_FORMATS,
    body_name,
    georeference,
    write_colour_geotiff,
    write_float_geotiff,
)
from junocam.planet.projection import MapGrid
from junocam.planet.spheroid import Ellipsoid

rasterio = pytest.importorskip("rasterio")
pyproj = pytest.importorskip("pyproj")

JUPITER_OGRAPHIC = "IAU_2015:59901"  # Jupiter (2015) / Ographic: west-positive longitude


def file_latlon(path: Path) -> tuple[np.ndarray, np.ndarray, object]:
    """Planetographic latitude and west longitude of every pixel centre, from the
    GeoTIFF's geotransform and CRS only; and the CRS (pyproj)."""
    with rasterio.open(path) as ds:
        crs = pyproj.CRS.from_wkt(ds.crs.to_wkt())
        t = ds.transform
        rows, cols = np.mgrid[0 : ds.height, 0 : ds.width] + 0.5
    x = t.c + cols * t.a + rows * t.b
    y = t.f + cols * t.d + rows * t.e
    geog = crs.geodetic_crs if crs.is_projected else crs
    if crs.is_projected:
        x, y = pyproj.Transformer.from_crs(crs, geog, always_xy=True).transform(x, y)
    lon_east, lat = x, y
    with np.errstate(invalid="ignore"):  # NaN off an orthographic disc
        return lat, np.mod(-lon_east, 360.0), crs


def pixel_error(grid: MapGrid, lat: np.ndarray, lon_west: np.ndarray) -> float:
    """Largest distance (pixels) between the file's and the grid's pixel centres."""
    glat, glon = grid.latlon()
    # every pixel on the planet has a place, but for centres grazing an orthographic
    # limb, where PROJ's inverse and the grid's ray intersection may round either way
    # (off the planet, beyond a polar map's equator or a map's pole, the grid has NaN)
    missing = np.isfinite(glat) & ~np.isfinite(lat)
    assert missing.sum() <= 1e-3 * np.isfinite(glat).sum(), missing.sum()
    ok = np.isfinite(glat) & np.isfinite(lat)
    dlat = lat[ok] - glat[ok]
    dlon = (lon_west[ok] - glon[ok] + 180.0) % 360.0 - 180.0
    if grid.projection == "equirectangular":
        return float(max(np.abs(dlat).max(), np.abs(dlon).max()) / grid.resolution)
    # back to pixels with the grid's own inverse: compares positions, not angles
    r, c = grid.to_pixel(lat[ok], lon_west[ok])
    rows, cols = np.nonzero(ok)
    return float(np.hypot(r - rows, c - cols).max())


GRIDS = [
    MapGrid("equirectangular", 1.0, (180, 360)),
    MapGrid("equirectangular", 0.25, (80, 120), lon_left=200.0, lat_top=-10.0),
    MapGrid("polar", 0.5, (200, 200), pole="north", center_lon=30.0),
    MapGrid("polar", 0.5, (200, 200), pole="south", center_lon=200.0),
    MapGrid("orthographic", 0.4, (240, 240), center_lat=-35.0, center_lon=120.0),
    MapGrid("orthographic", 0.5, (200, 200), center_lat=90.0, center_lon=0.0),
]


@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: f"{g.projection}-{g.pole}-{g.center_lat}")
def test_geotransform_matches_the_grid(grid: MapGrid, tmp_path: Path) -> None:
    lat, lon = grid.latlon()
    p = tmp_path / "planes.tif"
    write_float_geotiff(p, {"lat_deg": lat, "lon_west_deg": lon}, grid)
    flat, flon, crs = file_latlon(p)
    err = pixel_error(grid, flat, flon)
    assert err < 0.01, err
    # the same places in the IAU's own planetographic CRS (west longitude), as PROJ
    # converts for any other map of Jupiter: a polar map overlays an equirectangular one
    geog = crs.geodetic_crs if crs.is_projected else crs
    to_iau = pyproj.Transformer.from_crs(geog, pyproj.CRS(JUPITER_OGRAPHIC))  # lat, lon W
    ok = np.isfinite(flat)
    lat_first = geog.axis_info[0].direction == "north"  # WKT1 read back: lon, lat
    args = (flat[ok], -flon[ok]) if lat_first else (-flon[ok], flat[ok])
    ilat, ilon_west = to_iau.transform(*args)
    assert np.abs(ilat - flat[ok]).max() < 1e-9
    assert np.abs((ilon_west - flon[ok] + 180) % 360 - 180).max() < 1e-9
    # the planes themselves are where the geotransform says (NaN off the planet)
    with rasterio.open(p) as ds:
        back = ds.read(1)
        assert math.isnan(ds.nodata)
    assert np.array_equal(np.isnan(back), np.isnan(lat))
    # the ellipsoid as GDAL read it from the file
    assert crs.ellipsoid.semi_major_metre == pytest.approx(71_492_000.0)
    if grid.projection == "polar":  # the documented sphere carrying planetographic latitudes
        assert crs.ellipsoid.semi_minor_metre == pytest.approx(71_492_000.0)
        assert "planetographic" in crs.geodetic_crs.datum.name
    else:
        assert crs.ellipsoid.semi_minor_metre == pytest.approx(66_854_000.0, abs=1e-3)
        assert crs.datum.name == "Jupiter (2015)"


@settings(max_examples=25, deadline=None)
@given(
    res=st.sampled_from([0.1, 0.37, 1.0, 2.5]),
    lon_left=st.floats(0.0, 360.0),
    lat_top=st.floats(-60.0, 90.0),
)
def test_equirectangular_transform_is_exact_anywhere(
    res: float, lon_left: float, lat_top: float
) -> None:
    grid = MapGrid("equirectangular", res, (12, 17), lon_left=lon_left, lat_top=lat_top)
    t = georeference(grid).transform
    rows, cols = np.mgrid[0:12, 0:17] + 0.5
    lat = t[3] + rows * t[5]
    lon_west = np.mod(-(t[0] + cols * t[1]), 360.0)
    glat, glon = grid.latlon()
    ok = np.isfinite(glat)
    assert np.abs(lat - glat)[ok].max() < 0.01 * res
    assert np.abs((lon_west - glon + 180) % 360 - 180)[ok].max() < 0.01 * res


def test_file_crs_converts_exactly_to_the_iau_code(tmp_path: Path) -> None:
    """East-positive in the file, the IAU's west-positive planetographic CRS after PROJ."""
    grid = MapGrid("equirectangular", 1.0, (180, 360))
    p = tmp_path / "m.tif"
    write_colour_geotiff(p, np.zeros((180, 360, 3)), np.ones((180, 360)), grid)
    with rasterio.open(p) as ds:
        crs = pyproj.CRS.from_wkt(ds.crs.to_wkt())
        x, y = ds.transform.c + 100.5, ds.transform.f - 30.5  # pixel (30, 100) centre
    iau = pyproj.CRS.from_user_input(JUPITER_OGRAPHIC)
    lat, lon_west = pyproj.Transformer.from_crs(crs, iau).transform(y, x)
    glat, glon = grid.latlon()
    assert lat == pytest.approx(glat[30, 100]) and lon_west % 360 == pytest.approx(glon[30, 100])


def test_colour_map_nodata_and_bits(tmp_path: Path) -> None:
    grid = MapGrid("polar", 1.0, (64, 64), pole="south")
    rgb = np.random.default_rng(1).random((64, 64, 3)).astype(np.float32)
    cover = np.zeros((64, 64), bool)
    cover[10:40, 5:50] = True
    for fmt, bits in GEOTIFF_FORMATS.items():
        p = tmp_path / f"{fmt}.tif"
        write_colour_geotiff(p, rgb, cover, grid, bits=bits, tags={"recipe": "x"})
        with rasterio.open(p) as ds:
            assert ds.count == 4 and ds.dtypes[0] == f"uint{bits}"
            assert ds.colorinterp[3].name == "alpha"
            assert np.array_equal(ds.dataset_mask() > 0, cover)  # nodata = no coverage
            red = ds.read(1).astype(np.float64) / (2**bits - 1)
            assert np.abs(red - rgb[..., 0])[cover].max() <= 0.5 / (2**bits - 1) + 1e-6
            assert ds.tags()["JUNOCAM_RECIPE"] == "x"


def test_grey_colour_map_and_write_errors(tmp_path: Path) -> None:
    from junocam.errors import OutputError

    grid = MapGrid("equirectangular", 1.0, (30, 40))
    cover = np.zeros((30, 40), bool)
    cover[5:20] = True
    write_colour_geotiff(tmp_path / "g.tif", np.full((30, 40), 0.5), cover, grid)
    with rasterio.open(tmp_path / "g.tif") as ds:
        assert ds.count == 2 and [c.name for c in ds.colorinterp] == ["gray", "alpha"]
        assert np.array_equal(ds.dataset_mask() > 0, cover)
    with pytest.raises(OutputError, match="do not match the grid"):
        write_colour_geotiff(tmp_path / "x.tif", np.zeros((3, 3, 3)), cover, grid)
    with pytest.raises(OutputError, match="x.tif"):  # no such folder: one clear error
        write_float_geotiff(tmp_path / "no" / "x.tif", {"a": np.zeros((30, 40))}, grid)


def test_other_bodies_iau_datum_or_radii() -> None:
    """Ganymede's IAU 2015 datum is used; a triaxial Io, absent from the IAU's
    planetographic CRSs, gets a datum built from its radii."""
    ganymede = MapGrid("equirectangular", 1.0, (180, 360), body=Ellipsoid(2631.2, 2631.2, 2631.2))
    g = georeference(ganymede, "ganymede")
    assert g.datum_source == "IAU_2015:50301"
    io = MapGrid("polar", 1.0, (100, 100), body=Ellipsoid(1829.4, 1819.4, 1815.7))
    i = georeference(io, "IO")
    crs = pyproj.CRS.from_wkt(i.crs_wkt)
    assert i.datum_source == "sphere of the equatorial radius of radii" and "triaxial" in i.note
    polar = georeference(MapGrid("polar", 1.0, (10, 10)))
    assert polar.datum_source == "sphere of the equatorial radius of IAU_2015:59901"
    eq = georeference(MapGrid("equirectangular", 1.0, (180, 360), body=io.body), "IO")
    ell = pyproj.CRS.from_wkt(eq.crs_wkt).ellipsoid
    assert ell.semi_major_metre == pytest.approx(1_829_400.0)
    assert ell.semi_minor_metre == pytest.approx(1_815_700.0)
    assert crs.name.startswith("Io ")
    assert i.transform[1] == pytest.approx(math.radians(1.0) * 1_829_400.0)
    # a body name carried by the grid (the target-body work) is picked up
    assert body_name(ganymede) == "JUPITER"


@pytest.fixture(scope="module")
def synthetic_pass(tmp_path_factory: pytest.TempPathFactory):
    from junocam.metadata import Filter
    from junocam.simulate import PlanetTexture, SimulationSpec, simulate_pass_frames

    spec = SimulationSpec(filters=(Filter.GREEN, Filter.RED), n_exposures=4, oversample=1)
    return simulate_pass_frames(
        tmp_path_factory.mktemp("pass"),
        offsets_s=(0.0, 60 / 1.99),
        frame=spec,
        texture=PlanetTexture.procedural((90, 180)),
    )


def kernel_args(truth) -> list[str]:
    return [a for p in truth.kernels.paths for a in ("--kernels", str(p))]


@pytest.mark.parametrize("projection", ["equirectangular", "polar", "orthographic"])
def test_map_command_writes_geotiffs(synthetic_pass, tmp_path: Path, projection: str) -> None:
    truth, pngs = synthetic_pass
    res = CliRunner().invoke(
        main,
        [
            "map",
            str(pngs[0]),
            *kernel_args(truth),
            "--navigate",
            "ck",
            "--projection",
            projection,
            "--resolution",
            "1.0",
            "--format",
            "geotiff16",
            "--bands",
            "--backplanes",
            "-p",
            "true-color",
            "-o",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    side_path = next(tmp_path.glob("*-true-color.json"))
    side = json.loads(side_path.read_text())
    names = sorted(Path(p).name for p in side["outputs"])
    stem = side_path.name.removesuffix("-true-color.json")
    # the sidecar lists the files written before it
    assert names == sorted(
        f"{stem}{s}" for s in ("-true-color.tif", "-green.tif", "-red.tif", "-backplanes.tif")
    )
    grid = MapGrid.from_dict(side["grid"])
    colour = side_path.with_suffix(".tif")
    lat, lon, crs = file_latlon(colour)
    assert pixel_error(grid, lat, lon) < 0.01
    with rasterio.open(colour) as ds:
        tags = ds.tags()
        assert ds.dtypes[0] == "uint16" and ds.count == 4
        alpha = ds.read(4)
        t = ds.transform
    assert tags["JUNOCAM_PRODUCT_ID"] == side["product_id"]
    assert json.loads(tags["JUNOCAM_KERNELS"]) == side["kernels"]
    assert tags["JUNOCAM_RECIPE"] == "true-color"
    assert tags["JUNOCAM_RECIPE_DIGEST"] == side["pipeline_digest"]
    assert MapGrid.from_dict(json.loads(tags["JUNOCAM_GRID"])) == grid
    with rasterio.open(tmp_path / f"{stem}-backplanes.tif") as ds:
        planes = {d: ds.read(i + 1) for i, d in enumerate(ds.descriptions)}
        assert ds.transform == t and math.isnan(ds.nodata)
    seen = np.isfinite(planes["exposure"])
    assert 0 < seen.sum() < seen.size  # partly covered: there is nodata to mark
    glat, glon = grid.latlon()
    # the backplanes' latitudes are the grid's, pixel for pixel
    assert np.allclose(planes["lat_deg"][seen], glat[seen], atol=1e-3)
    with rasterio.open(tmp_path / f"{stem}-green.tif") as ds:
        green = ds.read(1)
        assert ds.dtypes[0] == "float32" and ds.units[0] == "linear DN"
    with rasterio.open(tmp_path / f"{stem}-red.tif") as ds:
        red = ds.read(1)
    assert np.all(np.isnan(green[~seen])) and np.nanmax(green) > 0
    # the colour map's nodata (alpha 0): where not every band has data
    every = np.isfinite(green) & np.isfinite(red)
    colour = alpha > 0
    assert colour.sum() > 100 and not np.any(colour & ~every)


def test_globe_renders_a_geotiff_map(synthetic_pass, tmp_path: Path) -> None:
    truth, pngs = synthetic_pass
    args = ["map", str(pngs[0]), *kernel_args(truth), "--navigate", "ck", "--resolution", "2"]
    res = CliRunner().invoke(main, [*args, "--format", "geotiff", "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    colour = next(tmp_path.glob("*-map-equirectangular-*.tif"))
    out = tmp_path / "globe.png"
    res = CliRunner().invoke(
        main, ["globe", str(colour), "--view", "-60,0", "--size", "64", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 0


def test_mosaic_geotiff(synthetic_pass, tmp_path: Path) -> None:
    truth, pngs = synthetic_pass
    res = CliRunner().invoke(
        main,
        [
            "mosaic",
            *map(str, pngs),
            *kernel_args(truth),
            "--navigate",
            "ck",
            "--resolution",
            "1.5",
            "--format",
            "geotiff",
            "--bands",
            "-o",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    side = json.loads(next(tmp_path.glob("mosaic-polar-*.json")).read_text())
    assert {Path(p).name for p in side["outputs"]} >= {
        "mosaic-polar-backplanes.tif",
        "mosaic-polar-green.tif",
        "mosaic-polar-red.tif",
    }
    grid = MapGrid.from_dict(side["grid"])
    colour = next(tmp_path.glob("mosaic-polar-*.tif"))
    lat, lon, _ = file_latlon(colour)
    assert pixel_error(grid, lat, lon) < 0.01
    with rasterio.open(colour) as ds:
        assert ds.dtypes[0] == "uint8"
        assert "mosaic of" in ds.tags()["JUNOCAM_PRODUCT_ID"]
        cover = ds.dataset_mask() > 0
    with rasterio.open(tmp_path / "mosaic-polar-backplanes.tif") as ds:
        assert ds.descriptions[:2] == ("coverage", "source")
        coverage = ds.read(1)
    # colour where every band has data, inside the frames' coverage; nodata elsewhere
    assert cover.sum() > 100 and not np.any(cover & ~(coverage > 0))
    with rasterio.open(tmp_path / "mosaic-polar-green.tif") as ds:
        green = ds.read(1)
        assert ds.units[0] == "linear DN" and ds.tags()["JUNOCAM_BAND"] == "GREEN"
    assert np.all(np.isnan(green[coverage == 0])) and np.nanmax(green) > 0
    assert not (tmp_path / "mosaic-polar-backplanes.npz").exists()


def test_missing_gis_extra_is_one_line(monkeypatch, tmp_path: Path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "rasterio", None)  # import fails as if not installed
    for cmd in ("map", "mosaic"):
        res = CliRunner().invoke(
            main,
            [cmd, "f.png", "--kernels", str(tmp_path), "--format", "geotiff", "-o", str(tmp_path)],
        )
        assert res.exit_code == 1
        lines = res.output.strip().splitlines()
        assert lines == [
            "error: --format geotiff: GeoTIFF maps need rasterio and pyproj: "
            "pip install 'junocam[gis]'"
        ]


def test_real_pj43_frame_geotiff(shared_junocam: Path, tmp_path: Path) -> None:
    """A real PJ43 frame (navigated on its limb with the predicted SPK, no CK) as a
    GeoTIFF map: Jupiter's IAU 2015 ellipsoid and the sidecar's grid read back."""
    pytest.importorskip("spiceypy")
    product = "JNCE_2022186_43C00080_V01"
    png = next((shared_junocam / "raw" / product).glob("*.png"))
    k = shared_junocam / "kernels"
    res = CliRunner().invoke(
        main,
        [
            "map",
            str(png),
            "--kernels",
            str(k / "kmgill_spk_2022_pj43_pj44"),
            "--kernels",
            str(k / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc"),
            "--resolution",
            "1.0",
            "--format",
            "geotiff",
            "--backplanes",
            "-o",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    side_path = next(tmp_path.glob(f"{product}-map-equirectangular-*.json"))
    side = json.loads(side_path.read_text())
    grid = MapGrid.from_dict(side["grid"])
    colour = side_path.with_suffix(".tif")
    lat, lon, crs = file_latlon(colour)
    assert pixel_error(grid, lat, lon) < 0.01
    assert crs.ellipsoid.semi_major_metre / 1000 == pytest.approx(71_492.0)
    assert crs.ellipsoid.semi_minor_metre / 1000 == pytest.approx(66_854.0)
    with rasterio.open(colour) as ds:
        tags = ds.tags()
        cover = ds.dataset_mask() > 0
    assert tags["JUNOCAM_PRODUCT_ID"] == product and tags["JUNOCAM_DATUM"] == JUPITER_OGRAPHIC
    assert any("kmgill_spk" in p for p in json.loads(tags["JUNOCAM_KERNELS"]))
    assert 1000 < cover.sum() < cover.size
    with rasterio.open(tmp_path / f"{product}-map-equirectangular-backplanes.tif") as ds:
        planes = {d: ds.read(i + 1) for i, d in enumerate(ds.descriptions)}
    seen = np.isfinite(planes["exposure"])
    assert np.nanmax(planes["lat_deg"][seen]) < 0  # the southern frame lands in the south
    assert np.allclose(planes["lat_deg"][seen], lat[seen], atol=1e-3)


def test_mosaic_bands_without_geotiff(synthetic_pass, tmp_path: Path) -> None:
    """``mosaic --bands`` in the image formats: 16-bit TIFFs scaled by the sidecar's
    ``band_scale``, like ``map --bands``."""
    import tifffile

    truth, pngs = synthetic_pass
    args = ["mosaic", *map(str, pngs), *kernel_args(truth), "--navigate", "ck"]
    res = CliRunner().invoke(main, [*args, "--resolution", "2", "--bands", "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    side = json.loads(next(tmp_path.glob("mosaic-polar-*.json")).read_text())
    assert side["band_scale"] > 0
    green = tifffile.imread(tmp_path / "mosaic-polar-green.tif")
    assert green.dtype == np.uint16 and green.max() > 0
    assert (tmp_path / "mosaic-polar-backplanes.npz").is_file()
