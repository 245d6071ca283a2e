"""GIS-ready map files: GeoTIFF with the body's coordinate reference system.

``junocam map`` and ``junocam mosaic`` write GeoTIFF with ``--format geotiff`` (8-bit
colour) or ``--format geotiff16`` (16-bit colour): the colour map, every band's linear
map (``map --bands``) and the backplanes, each georeferenced so that QGIS, GDAL, ISIS
or the Ames Stereo Pipeline place it on the body. Needs the optional ``gis`` extra
(``pip install 'junocam[gis]'``: rasterio, which brings GDAL, and pyproj).

Coordinate reference system (CRS)
---------------------------------
The maps' latitudes are planetographic (the angle of the surface normal, i.e. geodetic
latitude on the body's spheroid). The CRS's datum is the IAU 2015 one from PROJ's
database (``IAU_2015`` authority, PROJ 8.2+) when PROJ has a planetographic CRS for the
body whose spheroid matches the map's radii (e.g. ``IAU_2015:59901`` for Jupiter);
otherwise a datum built from the map's radii (``a`` equatorial, ``c`` polar, km).

Longitudes in the files are **east-positive**, as GIS tools expect (the IAU's
planetographic CRSs of Jupiter and its moons count longitude westwards, which most GIS
software does not display the right way round). The map's System III west longitude
is ``lon_west = -lon_east mod 360``; PROJ converts between the file's CRS and the IAU
code exactly (same datum), and the file's tags say so.

Projections:

* ``equirectangular``: a geographic CRS in degrees; the geotransform is exact
  (``lon_east = x0 + (col) * res``, ``lat = lat_top - (row) * res`` at pixel edges).
* ``polar``: the map's distance from the centre is linear in planetographic
  colatitude, which no standard projection on an oblate spheroid is; the file's CRS is
  an azimuthal equidistant projection on a sphere of the equatorial radius whose
  latitudes *are* the planetographic latitudes (the datum's name says so). PROJ
  converts between datums of one body without changing latitude and longitude, so the
  polar map overlays the equirectangular one exactly; the geotransform is exact.
* ``orthographic``: PROJ's ellipsoidal orthographic projection (EPSG method 9840) is
  the map's own construction (points projected along the normal at the centre onto
  the tangent plane), so the file is georeferenced exactly here too; off the disc is
  nodata.

Nodata: the colour map has an alpha band (0 where no exposure saw the ground); the
float maps use NaN. Tags (GDAL metadata) carry the product id, kernels, recipe,
junocam version, the grid (as in the JSON sidecar), and the conventions above.

Check a file with GDAL: ``gdalinfo map.tif`` prints the CRS, origin, pixel size and
tags.

Examples
--------
A small equirectangular map of Jupiter, written and read back with rasterio:

>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> import rasterio
>>> grid = MapGrid("equirectangular", 2.0, (10, 20), lon_left=40.0, lat_top=10.0)
>>> rgb = np.full((10, 20, 3), 0.5, np.float32)
>>> mask = np.ones((10, 20), bool)
>>> mask[:, :5] = False
>>> path = Path(tempfile.mkdtemp()) / "m.tif"
>>> write_colour_geotiff(path, rgb, mask, grid, bits=8, tags={"PRODUCT_ID": "X"})
>>> with rasterio.open(path) as ds:
...     (ds.transform.c, ds.transform.f), ds.count, ds.tags()["JUNOCAM_PRODUCT_ID"]
((-40.0, 10.0), 4, 'X')
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import OutputError
from ..output import atomic_write
from ..planet.projection import MapGrid

__all__ = [
    "GEOTIFF_FORMATS",
    "GIS_HINT",
    "BACKPLANE_UNITS",
    "Georeference",
    "require_gis",
    "body_name",
    "georeference",
    "write_colour_geotiff",
    "write_float_geotiff",
]

#: ``--format`` choices of ``map``/``mosaic`` that write GeoTIFF, and the colour bits.
GEOTIFF_FORMATS = {"geotiff": 8, "geotiff16": 16}

#: What to do when the GIS extra is missing.
GIS_HINT = "GeoTIFF maps need rasterio and pyproj: pip install 'junocam[gis]'"

#: Units of the backplanes' GeoTIFF bands.
BACKPLANE_UNITS = {
    "lat_deg": "degree (planetographic)",
    "lon_west_deg": "degree (west)",
    "incidence_deg": "degree",
    "emission_deg": "degree",
    "phase_deg": "degree",
    "exposure": "exposure index",
    "range_km": "km",
    "coverage": "frames",
    "source": "frame index",
}

_DEG = 'ANGLEUNIT["degree",0.0174532925199433]'
_M = 'LENGTHUNIT["metre",1]'


def require_gis() -> None:
    """Raise :class:`~junocam.errors.OutputError` with the install hint when rasterio or
    pyproj is missing.

    Examples
    --------
    >>> require_gis()  # both are installed here
    """
    try:
        import pyproj  # noqa: F401
        import rasterio  # noqa: F401
    except ImportError:
        raise OutputError(GIS_HINT) from None


def body_name(grid: MapGrid) -> str:
    """The name of the map's body, upper case (JUPITER unless the grid names another).

    Reads a ``target`` attribute of the grid or a ``name`` of its body when they exist.

    Examples
    --------
    >>> body_name(MapGrid("polar", 1.0, (4, 4)))
    'JUPITER'
    """
    for value in (getattr(grid, "target", None), getattr(grid.body, "name", None)):
        if isinstance(value, str) and value.strip():
            return value.strip().upper()
    return "JUPITER"


@dataclass(frozen=True)
class Georeference:
    """Where a map's pixels are on the body, for GIS.

    Attributes
    ----------
    crs_wkt : str
        The CRS as WKT2 (longitude east-positive).
    transform : tuple of 6 float
        GDAL geotransform ``(x0, dx, 0, y0, 0, dy)``: pixel edge ``(col, row)`` is at
        CRS coordinates ``(x0 + col * dx, y0 + row * dy)`` (degrees for the
        equirectangular map, metres otherwise).
    datum_source : str
        ``IAU_2015:<code>`` when the datum is the IAU's, else ``radii``; for a polar
        map ``sphere of the equatorial radius of <that>``.
    note : str
        The conventions in one paragraph (stored as a tag).
    """

    crs_wkt: str
    transform: tuple[float, float, float, float, float, float]
    datum_source: str
    note: str


def _wrap180(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def _iau_datum(name: str, a_m: float, c_m: float) -> tuple[str, str] | None:
    """The IAU 2015 planetographic datum WKT of ``name`` if its spheroid matches."""
    from pyproj import CRS
    from pyproj.database import query_crs_info
    from pyproj.enums import PJType

    wanted = f"{name.title()} (2015) / Ographic"
    for info in query_crs_info(auth_name="IAU_2015", pj_types=[PJType.GEOGRAPHIC_2D_CRS]):
        if info.name != wanted:
            continue
        crs = CRS.from_authority("IAU_2015", info.code)
        ell = crs.ellipsoid
        if ell is None or crs.datum is None:
            return None
        if abs(ell.semi_major_metre - a_m) > 500.0 or abs(ell.semi_minor_metre - c_m) > 500.0:
            return None  # the map's radii (from the PCK) differ from the IAU's
        return crs.datum.to_wkt(), f"IAU_2015:{info.code}"
    return None


def _radii_datum(name: str, a_m: float, c_m: float) -> str:
    title = name.title()
    inv_f = 0.0 if a_m == c_m else a_m / (a_m - c_m)
    return (
        f'DATUM["{title} (radii {a_m / 1000:g} x {c_m / 1000:g} km)",'
        f'ELLIPSOID["{title}",{a_m!r},{inv_f!r},{_M}]],'
        f'PRIMEM["Reference Meridian",0,{_DEG}]'
    )


def _geog(name: str, datum: str) -> str:
    return (
        f'GEOGCRS["{name}",{datum},CS[ellipsoidal,2],'
        f'AXIS["geodetic latitude (Lat)",north,ORDER[1],{_DEG}],'
        f'AXIS["geodetic longitude (Lon)",east,ORDER[2],{_DEG}]]'
    )


def _base(name: str, datum: str) -> str:
    return f'BASEGEOGCRS["{name}",{datum},{_DEG}]'


def _projected(name: str, base: str, method: str, code: int, lat0: float, lon0: float) -> str:
    return (
        f'PROJCRS["{name}",{base},'
        f'CONVERSION["{method}",METHOD["{method}",ID["EPSG",{code}]],'
        f'PARAMETER["Latitude of natural origin",{lat0!r},{_DEG},ID["EPSG",8801]],'
        f'PARAMETER["Longitude of natural origin",{lon0!r},{_DEG},ID["EPSG",8802]],'
        f'PARAMETER["False easting",0,{_M},ID["EPSG",8806]],'
        f'PARAMETER["False northing",0,{_M},ID["EPSG",8807]]],'
        f'CS[Cartesian,2],AXIS["easting (E)",east,ORDER[1],{_M}],'
        f'AXIS["northing (N)",north,ORDER[2],{_M}]]'
    )


def georeference(grid: MapGrid, body: str | None = None) -> Georeference:
    """The CRS and geotransform of a map grid (needs pyproj).

    Parameters
    ----------
    grid : MapGrid
    body : str, optional
        The body's name (default: :func:`body_name` of the grid).

    Returns
    -------
    Georeference

    Examples
    --------
    >>> g = georeference(MapGrid("equirectangular", 0.5, (360, 720)))
    >>> g.transform, g.datum_source
    ((0.0, 0.5, 0.0, 90.0, 0.0, -0.5), 'IAU_2015:59901')
    >>> from pyproj import CRS
    >>> round(CRS.from_wkt(g.crs_wkt).ellipsoid.semi_minor_metre)
    66854000
    """
    name = (body or body_name(grid)).upper()
    a_m, c_m = float(grid.body.a) * 1000.0, float(grid.body.c) * 1000.0
    found = _iau_datum(name, a_m, c_m)
    datum, source = found if found else (_radii_datum(name, a_m, c_m), "radii")
    title = f"{name.title()} planetographic, east longitude"
    res = grid.resolution
    rows, cols = grid.shape
    lon_rule = "System III west longitude = -east longitude mod 360"
    if name != "JUPITER":
        lon_rule = "west longitude = -east longitude mod 360"
    triaxial = ""
    if abs(float(grid.body.b) - float(grid.body.a)) > 1e-6:
        triaxial = (
            f" The body is triaxial (b = {float(grid.body.b):g} km); the CRS's spheroid "
            f"uses a = {a_m / 1000:g} km and c = {c_m / 1000:g} km."
        )
    if grid.projection == "equirectangular":
        crs = _geog(title, datum)
        x0 = _wrap180(-grid.lon_left)
        transform = (x0, res, 0.0, grid.lat_top, 0.0, -res)
        note = (
            f"Geographic CRS in degrees: planetographic latitude, east-positive longitude "
            f"({lon_rule}). Exact affine transform of the map grid."
        )
    elif grid.projection == "polar":
        sphere = (
            f'DATUM["{name.title()} polar map: planetographic latitudes on a sphere",'
            f'ELLIPSOID["{name.title()} equatorial sphere",{a_m!r},0,{_M}]],'
            f'PRIMEM["Reference Meridian",0,{_DEG}]'
        )
        sign = 1.0 if grid.pole == "north" else -1.0
        # the map's central meridian points down: PROJ's north polar projection has
        # its natural-origin meridian pointing down, the south one pointing up
        lon0 = _wrap180(-grid.center_lon + (0.0 if sign > 0 else 180.0))
        crs = _projected(
            f"{name.title()} {grid.pole} polar map (azimuthal equidistant)",
            _base(f"{name.title()} planetographic on a sphere", sphere),
            "Azimuthal Equidistant",
            1125,
            90.0 * sign,
            lon0,
        )
        source = f"sphere of the equatorial radius of {source}"
        px = math.radians(res) * a_m
        transform = (-cols / 2.0 * px, px, 0.0, rows / 2.0 * px, 0.0, -px)
        note = (
            "Azimuthal equidistant in planetographic colatitude (distance from the pole "
            "proportional to 90 - |latitude|), written on a sphere of the equatorial radius "
            "whose latitudes are the planetographic latitudes; PROJ keeps latitude and "
            f"longitude unchanged between it and the body's spheroid ({lon_rule}). Exact "
            "affine transform of the map grid."
        )
    else:
        crs = _projected(
            f"{name.title()} orthographic map",
            _base(title, datum),
            "Orthographic",
            9840,
            float(grid.center_lat),
            _wrap180(-grid.center_lon),
        )
        px = math.radians(res) * a_m
        transform = (-cols / 2.0 * px, px, 0.0, rows / 2.0 * px, 0.0, -px)
        note = (
            "Ellipsoidal orthographic projection (EPSG method 9840) about the map's centre, "
            f"in metres ({lon_rule}). Exact affine transform of the map grid; off the disc "
            "is nodata."
        )
    return Georeference(crs, transform, source, note + triaxial)


def _tags(grid: MapGrid, geo: Georeference, tags: Mapping[str, Any]) -> dict[str, str]:
    out = {
        "JUNOCAM_VERSION": __version__,
        "JUNOCAM_BODY": body_name(grid),
        "JUNOCAM_GRID": json.dumps(grid.to_dict()),
        "JUNOCAM_LATITUDE": "planetographic",
        "JUNOCAM_LONGITUDE": "east-positive in this file's CRS; west = -east mod 360",
        "JUNOCAM_DATUM": geo.datum_source,
        "JUNOCAM_CRS_NOTE": geo.note,
    }
    for k, v in tags.items():
        out[f"JUNOCAM_{k.upper()}"] = v if isinstance(v, str) else json.dumps(v)
    return out


def _write(
    path: Path,
    planes: list[np.ndarray],
    grid: MapGrid,
    *,
    nodata: float | None,
    alpha: bool,
    descriptions: Iterable[str],
    units: Iterable[str],
    tags: Mapping[str, Any],
    protect: Iterable[Path],
) -> None:
    require_gis()
    from rasterio.crs import CRS
    from rasterio.enums import ColorInterp
    from rasterio.io import MemoryFile
    from rasterio.transform import Affine

    geo = georeference(grid)
    count = len(planes)
    rows, cols = grid.shape
    dtype = planes[0].dtype
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": count,
        "dtype": dtype.name,
        "crs": CRS.from_wkt(geo.crs_wkt),
        "transform": Affine.from_gdal(*geo.transform),
        "compress": "deflate",
        "predictor": 3 if dtype.kind == "f" else 2,
        "interleave": "pixel" if alpha else "band",
    }
    if rows >= 256 and cols >= 256:
        profile |= {"tiled": True, "blockxsize": 256, "blockysize": 256}
    if nodata is not None:
        profile["nodata"] = nodata
    if alpha:  # the last band is the alpha of RGB or grey
        rgb = count == 4
        profile |= {"photometric": "RGB" if rgb else "MINISBLACK", "alpha": "YES"}
        interp = (
            [ColorInterp.red, ColorInterp.green, ColorInterp.blue] if rgb else [ColorInterp.gray]
        )
    try:
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                for i, plane in enumerate(planes, start=1):  # one band at a time: no copy
                    dst.write(plane, i)
                if alpha:
                    dst.colorinterp = [*interp, ColorInterp.alpha]
                for i, (d, u) in enumerate(zip(descriptions, units, strict=False), start=1):
                    dst.set_band_description(i, d)
                    if u:
                        dst.set_band_unit(i, u)
                dst.update_tags(**_tags(grid, geo, tags))
            blob = mem.read()
    except Exception as err:  # noqa: BLE001 - any GDAL failure is an output failure
        raise OutputError(f"cannot write the GeoTIFF: {err}", path=path) from None
    atomic_write(path, lambda fh: fh.write(blob), protect=protect)


def write_colour_geotiff(
    path: str | Path,
    rgb: np.ndarray,
    coverage: np.ndarray,
    grid: MapGrid,
    *,
    bits: int = 8,
    tags: Mapping[str, Any] | None = None,
    protect: Iterable[str | Path] = (),
) -> None:
    """Write a colour map as an RGBA GeoTIFF (atomically).

    Parameters
    ----------
    path : path
    rgb : numpy.ndarray
        float (H, W, 3) in [0, 1] (or (H, W) for a single band).
    coverage : numpy.ndarray
        bool or float (H, W) in [0, 1]: the alpha band (0 = nodata, no coverage).
    grid : MapGrid
        The map's grid (its shape must be (H, W)).
    bits : {8, 16}
    tags : mapping, optional
        Extra tags (product id, kernels, recipe...): written as ``JUNOCAM_<KEY>``.
    protect : iterable of path
        Inputs never to overwrite.

    Raises
    ------
    OutputError
        When rasterio/pyproj are missing, the shapes disagree or writing fails.

    Examples
    --------
    >>> import tempfile, rasterio
    >>> grid = MapGrid("polar", 1.0, (8, 8), pole="south")
    >>> p = Path(tempfile.mkdtemp()) / "p.tif"
    >>> write_colour_geotiff(p, np.ones((8, 8, 3)), np.eye(8, dtype=bool), grid, bits=16)
    >>> with rasterio.open(p) as ds:
    ...     ds.dtypes[0], int((ds.dataset_mask() > 0).sum())
    ('uint16', 8)
    """
    if bits not in (8, 16):
        raise OutputError(f"colour GeoTIFF bits must be 8 or 16, got {bits}", path=path)
    img = np.asarray(rgb, np.float32)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[:2] != grid.shape or np.shape(coverage) != grid.shape:
        raise OutputError(
            f"map {img.shape[:2]} / coverage {np.shape(coverage)} do not match the grid "
            f"{grid.shape}",
            path=path,
        )
    top = 255 if bits == 8 else 65535
    dtype = np.uint8 if bits == 8 else np.uint16
    alpha = np.clip(np.asarray(coverage, np.float32), 0.0, 1.0)
    covered = alpha > 0

    def level(v: np.ndarray) -> np.ndarray:
        return np.round(np.clip(v, 0.0, 1.0) * top).astype(dtype)

    planes = [
        level(np.where(covered, np.nan_to_num(img[..., k]), 0.0)) for k in range(img.shape[2])
    ]
    names = ["red", "green", "blue"] if img.shape[2] == 3 else ["grey"]
    _write(
        Path(path),
        [*planes, level(alpha)],
        grid,
        nodata=None,
        alpha=True,
        descriptions=[*names, "alpha (0 = no coverage)"],
        units=[""] * (len(names) + 1),
        tags=tags or {},
        protect=[Path(p) for p in protect],
    )


def write_float_geotiff(
    path: str | Path,
    planes: Mapping[str, np.ndarray],
    grid: MapGrid,
    *,
    units: Mapping[str, str] | None = None,
    tags: Mapping[str, Any] | None = None,
    protect: Iterable[str | Path] = (),
) -> None:
    """Write float32 planes (linear band maps, backplanes) as one GeoTIFF, NaN = nodata.

    Parameters
    ----------
    path : path
    planes : mapping of name -> (H, W) array
        One GeoTIFF band per entry, in order, described by its name. Non-finite
        values are nodata.
    grid : MapGrid
    units : mapping of name -> str, optional
        Each band's unit (e.g. ``degree``).
    tags : mapping, optional
        Extra tags, written as ``JUNOCAM_<KEY>``.
    protect : iterable of path

    Examples
    --------
    >>> import tempfile, rasterio
    >>> grid = MapGrid("equirectangular", 1.0, (2, 3), lon_left=10.0, lat_top=1.0)
    >>> lat, lon = grid.latlon()
    >>> p = Path(tempfile.mkdtemp()) / "b.tif"
    >>> write_float_geotiff(p, {"lat_deg": lat, "lon_west_deg": lon}, grid)
    >>> with rasterio.open(p) as ds:
    ...     ds.descriptions, ds.read(2)[0].tolist(), ds.nodata
    (('lat_deg', 'lon_west_deg'), [9.5, 8.5, 7.5], nan)
    """
    names = list(planes)
    if not names:
        raise OutputError("no planes to write", path=path)
    arrays = [np.asarray(planes[n], np.float32) for n in names]
    if any(a.shape != grid.shape for a in arrays):
        raise OutputError(f"planes do not match the grid {grid.shape}", path=path)
    u = units or {}
    _write(
        Path(path),
        [np.where(np.isfinite(a), a, np.float32(np.nan)) for a in arrays],
        grid,
        nodata=float("nan"),
        alpha=False,
        descriptions=names,
        units=[u.get(n, "") for n in names],
        tags=tags or {},
        protect=[Path(p) for p in protect],
    )
