"""Map projection: framelets onto latitude/longitude grids of Jupiter.

Every map pixel is a point on the oblate spheroid. For each exposure and band the
point is projected into the framelet through the camera model and that exposure's
attitude and position (:class:`junocam.planet.pointing.ViewGeometry`), sampled, and blended
with the other framelets that see it (feathered at framelet edges, as the stitcher
does). Inverse mapping means no holes and no double counting, and the spacecraft's
motion between exposures (parallax near perijove) is honoured exactly.

Projections (latitude planetographic, longitude System III west):

* ``equirectangular``: rows of constant latitude, columns of constant longitude,
  ``resolution`` degrees per pixel; west longitude grows to the left (east is on
  the right, as seen from outside with north up).
* ``polar``: azimuthal equidistant about the nearer pole; the distance from the
  centre is the colatitude (``resolution`` degrees per pixel); the central meridian
  points down; seen from above the pole.
* ``orthographic``: the planet seen from infinitely far above a centre point;
  ``resolution`` degrees of great circle (on the equatorial radius) per pixel at
  the centre.

Examples
--------
>>> from junocam.planet.projection import MapGrid
>>> g = MapGrid("equirectangular", 1.0, (180, 360), lon_left=360.0, lat_top=90.0)
>>> lat, lon = g.latlon()
>>> float(lat[0, 0]), float(lon[0, 0]), float(lon[0, -1])
(89.5, 359.5, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import GeometryError
from ..framelets import DARK_SAMPLES, PHOTOACTIVE_SAMPLES, Framelets
from ..metadata import Filter
from ..stitch import feather_weight
from .photometry import Backplanes
from .pointing import ViewGeometry
from .spheroid import JUPITER, Ellipsoid, intersect, planetographic, surface_point

__all__ = ["PROJECTIONS", "MapGrid", "MapResult", "map_grid_for", "project_frame", "footprint"]

PROJECTIONS = ("equirectangular", "polar", "orthographic")
#: Largest map side (pixels) chosen automatically; larger maps need an explicit request.
MAX_AUTO_SIDE = 4096


@dataclass(frozen=True)
class MapGrid:
    """A map's projection and pixel grid.

    Parameters
    ----------
    projection : str
        One of :data:`PROJECTIONS`.
    resolution : float
        Degrees per pixel (see the module notes for each projection).
    shape : (rows, cols)
    lon_left, lat_top : float
        Equirectangular: west longitude and latitude of the upper-left corner
        (pixel edge, degrees).
    pole : str
        Polar: ``"north"`` or ``"south"``.
    center_lon : float
        Polar: west longitude of the central meridian (pointing down). Orthographic:
        west longitude of the centre.
    center_lat : float
        Orthographic: planetographic latitude of the centre.
    body : Ellipsoid
    """

    projection: str
    resolution: float
    shape: tuple[int, int]
    lon_left: float = 360.0
    lat_top: float = 90.0
    pole: str = "north"
    center_lon: float = 0.0
    center_lat: float = 0.0
    body: Ellipsoid = field(default=JUPITER)

    def __post_init__(self) -> None:
        if self.projection not in PROJECTIONS:
            raise GeometryError(
                f"unknown projection {self.projection!r}; choose one of {', '.join(PROJECTIONS)}"
            )
        if not (np.isfinite(self.resolution) and 0 < self.resolution <= 30):
            raise GeometryError(
                f"resolution must be in (0, 30] degrees/pixel, got {self.resolution}"
            )
        rows, cols = self.shape
        if not (0 < rows <= 50000 and 0 < cols <= 50000):
            raise GeometryError(f"map shape {self.shape} is outside 1..50000 pixels per side")
        if self.pole not in ("north", "south"):
            raise GeometryError(f"pole must be 'north' or 'south', got {self.pole!r}")

    def latlon(self) -> tuple[np.ndarray, np.ndarray]:
        """Planetographic latitude and west longitude (degrees) of every pixel centre.

        NaN where the projection has no planet (outside an orthographic disc, beyond
        90 degrees of colatitude on a polar map).
        """
        rows, cols = self.shape
        r = np.arange(rows, dtype=np.float64)[:, None] + 0.5
        c = np.arange(cols, dtype=np.float64)[None, :] + 0.5
        if self.projection != "orthographic":
            lat, lon, ok = _flat_latlon(self, r, c)
            return np.where(ok, lat, np.nan), np.where(ok, lon, np.nan)
        pts, ok = self.surface_points()
        lat, lon = planetographic(np.where(ok[..., None], pts, 1.0), self.body)
        return (
            np.where(ok, np.degrees(lat), np.nan),
            np.where(ok, np.degrees(lon), np.nan),
        )

    def _ortho_axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = surface_point(math.radians(self.center_lat), math.radians(self.center_lon), self.body)
        n = p / self.body.radii**2
        n /= np.linalg.norm(n)
        north = np.array([0.0, 0.0, 1.0]) - n[2] * n
        if np.linalg.norm(north) < 1e-9:  # centred on a pole: any meridian is "up"
            north = np.array([-1.0, 0.0, 0.0]) - n[0] * n
        north /= np.linalg.norm(north)
        east = np.cross(north, n)
        return n, east, north

    def surface_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Body-fixed points (km) of every pixel centre and where they exist."""
        if self.projection != "orthographic":
            lat, lon = self.latlon()
            ok = np.isfinite(lat)
            pts = surface_point(
                np.radians(np.where(ok, lat, 0.0)), np.radians(np.where(ok, lon, 0.0)), self.body
            )
            return np.where(ok[..., None], pts, np.nan), ok
        n, east, north = self._ortho_axes()
        centre = surface_point(
            math.radians(self.center_lat), math.radians(self.center_lon), self.body
        )
        rows, cols = self.shape
        km = math.radians(self.resolution) * self.body.a
        x = (np.arange(cols) + 0.5 - cols / 2.0) * km
        y = (rows / 2.0 - np.arange(rows) - 0.5) * km
        # rays along -normal through a plane at the centre point: the centre pixel
        # looks straight down onto it
        origin = centre + 4.0 * self.body.a * n + x[None, :, None] * east + y[:, None, None] * north
        return intersect(origin, np.broadcast_to(-n, origin.shape), self.body)

    def to_pixel(
        self, lat_deg: np.ndarray, lon_west_deg: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) pixel coordinates (centres at integers) of latitudes/longitudes.

        The inverse of :meth:`latlon`; NaN where the projection cannot show the point
        (the far side of an orthographic map).

        Examples
        --------
        >>> g = MapGrid("equirectangular", 1.0, (180, 360))
        >>> [float(v) for v in g.to_pixel(np.array(89.5), np.array(359.5))]
        [0.0, 0.0]
        """
        lat = np.asarray(lat_deg, np.float64)
        lon = np.asarray(lon_west_deg, np.float64)
        rows, cols = self.shape
        res = self.resolution
        if self.projection == "equirectangular":
            r = (self.lat_top - lat) / res - 0.5
            c = np.mod(self.lon_left - lon, 360.0) / res - 0.5
            return r, c
        if self.projection == "polar":
            sign = 1.0 if self.pole == "north" else -1.0
            rho = (90.0 - sign * lat) / res
            ang = np.radians(sign * (lon - self.center_lon))
            # latlon: lon = center + sign * atan2(-x, y)  =>  x = -rho sin, y = rho cos
            c = cols / 2.0 - rho * np.sin(ang) - 0.5
            r = rows / 2.0 + rho * np.cos(ang) - 0.5
            return r, c
        n, east, north = self._ortho_axes()
        p = surface_point(np.radians(lat), np.radians(lon), self.body)
        centre = surface_point(
            math.radians(self.center_lat), math.radians(self.center_lon), self.body
        )
        d = p - centre
        km = math.radians(res) * self.body.a
        x = d @ east / km
        y = d @ north / km
        # hidden when the surface there faces away from the viewing direction
        normal = p / self.body.radii**2
        front = (normal @ n) > 0
        c = np.where(front, x + cols / 2.0 - 0.5, np.nan)
        r = np.where(front, rows / 2.0 - y - 0.5, np.nan)
        return r, c

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MapGrid:
        """Rebuild a grid from :meth:`to_dict` (e.g. a map's JSON sidecar).

        Examples
        --------
        >>> g = MapGrid("polar", 0.5, (100, 100), pole="south", center_lon=12.0)
        >>> MapGrid.from_dict(g.to_dict()) == g
        True
        """
        try:
            body = Ellipsoid(*map(float, d.get("body_radii_km", JUPITER.radii)))
            kw: dict[str, Any] = {}
            proj = d["projection"]
            if proj == "equirectangular":
                kw = {
                    "lon_left": float(d["lon_west_left_edge_deg"]),
                    "lat_top": float(d["lat_top_edge_deg"]),
                }
            elif proj == "polar":
                kw = {"pole": d["pole"], "center_lon": float(d["central_meridian_west_deg"])}
            elif proj == "orthographic":
                kw = {
                    "center_lat": float(d["center_lat_deg"]),
                    "center_lon": float(d["center_lon_west_deg"]),
                }
            return cls(
                proj,
                float(d["resolution_deg_per_px"]),
                (int(d["rows"]), int(d["cols"])),
                body=body,
                **kw,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise GeometryError(f"not a map grid description: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON description of the grid (the map's sidecar)."""
        d: dict[str, Any] = {
            "projection": self.projection,
            "resolution_deg_per_px": self.resolution,
            "rows": self.shape[0],
            "cols": self.shape[1],
            "latitude": "planetographic",
            "longitude": "System III west-positive, degrees"
            if self.body == JUPITER
            else "west-positive, degrees (the body's IAU prime meridian)",
            "body_radii_km": self.body.radii.tolist(),
        }
        if self.projection == "equirectangular":
            d |= {
                "lon_west_left_edge_deg": self.lon_left,
                "lat_top_edge_deg": self.lat_top,
                "pixel_center": "lat = lat_top - (row + 0.5) * res; "
                "lon_west = (lon_left - (col + 0.5) * res) mod 360",
            }
        elif self.projection == "polar":
            d |= {
                "pole": self.pole,
                "central_meridian_west_deg": self.center_lon,
                "pixel_center": "azimuthal equidistant: colatitude = res * distance from the "
                "image centre (px); the central meridian points down; seen from above the pole",
            }
        else:
            d |= {
                "center_lat_deg": self.center_lat,
                "center_lon_west_deg": self.center_lon,
                "pixel_km": math.radians(self.resolution) * self.body.a,
                "pixel_center": "orthographic view from above the centre; north up",
            }
        return d


@dataclass(frozen=True)
class MapResult:
    """Bands projected onto a map grid.

    Attributes
    ----------
    grid : MapGrid
    bands : dict of Filter -> numpy.ndarray
        float32 maps in the framelets' units (0 where not seen).
    masks : dict of Filter -> numpy.ndarray
        Where each band was seen.
    backplanes : Backplanes
        Latitude, longitude, incidence, emission and phase of every pixel (emission
        and phase averaged over the exposures that saw it; NaN where unseen).
    exposure : numpy.ndarray of int16
        The exposure contributing most to each pixel (-1 where unseen).
    range_km : numpy.ndarray or None
        Distance from the spacecraft to each pixel's point (km, averaged like the
        angles; NaN where unseen): the ground resolution is ``range / focal``.
    """

    grid: MapGrid
    bands: dict[Filter, np.ndarray]
    masks: dict[Filter, np.ndarray]
    backplanes: Backplanes
    exposure: np.ndarray
    range_km: np.ndarray | None = None


def footprint(
    view: ViewGeometry, bands: tuple[Filter, ...], step: int = 16, lines: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """Surface points seen by a regular subsample of framelet pixels, and the
    ground size (km) of a pixel at each.

    Examples
    --------
    A camera 300 000 km above the north pole, looking straight down:

    >>> from junocam.camera import CameraModel
    >>> view = ViewGeometry(CameraModel(), np.array([[0, 0, 3e5]]),
    ...                     np.diag([1.0, -1.0, -1.0])[None], np.array([[0, 0, 1.0]]))
    >>> pts, km = footprint(view, (Filter.GREEN,))
    >>> pts.shape, round(float(km.min()), 1)
    ((702, 3), 157.5)
    """
    pts_all, km_all = [], []
    s = np.arange(DARK_SAMPLES, DARK_SAMPLES + PHOTOACTIVE_SAMPLES, step, dtype=np.float64)
    line = np.arange(0, lines, max(step // 2, 1), dtype=np.float64)
    ss, ll = np.meshgrid(s, line)
    for b in bands:
        for i in range(view.n_exposures):
            pts, ok = view.surface(i, ss.ravel(), ll.ravel(), b)
            if ok.any():
                pts_all.append(pts[ok])
                dist = np.linalg.norm(pts[ok] - view.observer[i], axis=1)
                km_all.append(dist / view.camera.focal_px)
    if not pts_all:
        raise GeometryError("the frame does not see the planet with this geometry")
    return np.concatenate(pts_all), np.concatenate(km_all)


def _lon_span(lon: np.ndarray) -> tuple[float, float]:
    """(left, width) of the smallest longitude interval holding every value (west deg)."""
    s = np.sort(np.mod(lon, 360.0))
    gaps = np.diff(np.concatenate([s, [s[0] + 360.0]]))
    k = int(np.argmax(gaps))
    if gaps[k] < 5.0:  # all the way round
        return 360.0, 360.0
    east_edge = s[(k + 1) % s.size]  # smallest west longitude after the gap
    west_edge = s[k]
    width = (west_edge - east_edge) % 360.0
    return float(west_edge), float(width)


def map_grid_for(
    view: ViewGeometry | Sequence[ViewGeometry],
    projection: str = "equirectangular",
    resolution: float | None = None,
    *,
    bands: tuple[Filter, ...] = (Filter.GREEN,),
    margin: float = 0.02,
    max_side: int = MAX_AUTO_SIDE,
) -> MapGrid:
    """A grid covering what the frame sees, at about its best resolution.

    Parameters
    ----------
    view : ViewGeometry or sequence of ViewGeometry
        One frame's geometry, or several (the grid then covers them all).
    projection : str
    resolution : float, optional
        Degrees per pixel; default: the finest ground pixel of the frame (coarsened
        if the map would exceed ``max_side`` pixels).
    bands : tuple of Filter
        Bands whose footprint counts.
    margin : float
        Extra fraction of the extent on every side.
    max_side : int

    Returns
    -------
    MapGrid

    Examples
    --------
    The view of a camera 300 000 km above the north pole, looking straight down:

    >>> from junocam.camera import CameraModel
    >>> view = ViewGeometry(CameraModel(), np.array([[0, 0, 3e5]]),
    ...                     np.diag([1.0, -1.0, -1.0])[None], np.array([[0, 0, 1.0]]))
    >>> grid = map_grid_for(view, "polar")
    >>> grid.pole, grid.shape, round(grid.resolution, 4)
    ('north', (1226, 1226), 0.1263)
    >>> map_grid_for(view, "polar", 1.0).shape
    (155, 155)
    """
    views = [view] if isinstance(view, ViewGeometry) else list(view)
    if not views:
        raise GeometryError("no frame geometry to cover")
    parts = [footprint(v, bands) for v in views]
    pts = np.concatenate([p for p, _ in parts])
    km = np.concatenate([k for _, k in parts])
    view = views[0]
    lat, lon = planetographic(pts, view.body)
    lat, lon = np.degrees(lat), np.degrees(lon)
    deg_per_km = 180.0 / (math.pi * view.body.a)
    auto = resolution is None
    res = float(np.percentile(km, 2) * deg_per_km) if resolution is None else float(resolution)
    if projection == "equirectangular":
        left, width = _lon_span(lon)
        top = min(90.0, float(lat.max()) + margin * 180)
        bottom = max(-90.0, float(lat.min()) - margin * 180)
        left = left + margin * width if width < 360 else 360.0
        width = min(360.0, width * (1 + 2 * margin))
        size = (top - bottom, width)
        pole = "north"
        extra: dict[str, Any] = {"lon_left": left, "lat_top": top}
    elif projection == "polar":
        pole = "north" if float(np.mean(lat)) >= 0 else "south"
        colat = 90.0 - np.abs(lat)
        reach = min(90.0, float(colat.max()) * (1 + margin) + 0.5)
        size = (2 * reach, 2 * reach)
        mean_lon = float(np.degrees(np.angle(np.mean(np.exp(1j * np.radians(lon))))) % 360.0)
        extra = {"pole": pole, "center_lon": round(mean_lon, 3)}
    elif projection == "orthographic":
        # centred under the mean position of the spacecraft over the frames
        look = np.mean([v.observer[v.n_exposures // 2] for v in views], axis=0)
        c_lat, c_lon = planetographic(look / np.linalg.norm(look) * view.body.a, view.body)
        g = MapGrid(
            "orthographic",
            1.0,
            (1, 1),
            center_lat=float(np.degrees(c_lat)),
            center_lon=float(np.degrees(c_lon)),
            body=view.body,
        )
        n, east, north = g._ortho_axes()
        x, y = pts @ east, pts @ north
        half = max(np.abs(x).max(), np.abs(y).max()) * (1 + margin) * deg_per_km
        size = (2 * half, 2 * half)
        extra = {"center_lat": g.center_lat, "center_lon": g.center_lon}
    else:
        raise GeometryError(
            f"unknown projection {projection!r}; choose one of {', '.join(PROJECTIONS)}"
        )
    rows, cols = (max(1, math.ceil(v / res)) for v in size)
    if max(rows, cols) > max_side:
        if not auto:
            raise GeometryError(
                f"a {projection} map at {res:g} deg/px would be {rows} x {cols} pixels "
                f"(limit {max_side}); choose a coarser resolution"
            )
        res *= max(rows, cols) / max_side
        rows, cols = (max(1, math.ceil(v / res)) for v in size)
    return MapGrid(projection, res, (rows, cols), body=view.body, **extra)


#: Largest bilinear-interpolation error (framelet pixels) that :func:`project_frame`
#: accepts for a coarse cell (or, with ``interpolate``, a block's lattice), as
#: estimated from the second differences of the mapping at the cell's corners;
#: cells above it are computed more finely or pixel by pixel.
INTERPOLATION_TOLERANCE_PX = 0.01
#: The same for the cosines of emission and phase averaged into the backplanes.
INTERPOLATION_TOLERANCE_COS = 1e-4
#: The same for the range, relative.
INTERPOLATION_TOLERANCE_RANGE = 1e-4


class _Cells:
    """Coarse cells of a map grid for :func:`project_frame`.

    Nodes every ``step`` rows and columns (and the last row/column) carry the exact
    framelet coordinates of their map pixel. A cell whose corners all lie well off a
    band's framelet cannot hold a pixel that the framelet sees (culled). With
    ``interpolate``, a cell whose corners all see the planet, with a mapping so
    straight that bilinear interpolation stays within
    :data:`INTERPOLATION_TOLERANCE_PX`, gets its pixels' coordinates interpolated;
    every other pixel is projected exactly.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        idx: np.ndarray,
        pts_grid: np.ndarray,
        step: int,
        interpolate: bool,
    ) -> None:
        rows, cols = shape
        self.n = idx.size
        self.exact = not interpolate
        self.off = step < 2 or rows < 2 * step or cols < 2 * step
        if self.off:
            return
        rr = np.unique(np.concatenate([np.arange(0, rows, step), [rows - 1]]))
        cc = np.unique(np.concatenate([np.arange(0, cols, step), [cols - 1]]))
        self.node_pts = pts_grid[rr][:, cc]
        self.on = np.isfinite(self.node_pts[..., 0])
        r, c = idx // cols, idx % cols
        kr = np.clip(np.searchsorted(rr, r, side="right") - 1, 0, rr.size - 2)
        kc = np.clip(np.searchsorted(cc, c, side="right") - 1, 0, cc.size - 2)
        self.fr = (r - rr[kr]) / (rr[kr + 1] - rr[kr])
        self.fc = (c - cc[kc]) / (cc[kc + 1] - cc[kc])
        self.kr, self.kc = kr, kc
        self.cell_of = kr * (cc.size - 1) + kc

    def node_pixels(
        self, view: ViewGeometry, i: int, band: Filter
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Exact (sample, line) of the nodes in exposure ``i`` (NaN off the planet or
        behind the camera), whether each is behind the camera, and its cos(emission)."""
        if self.off:
            return None
        pts = np.where(self.on[..., None], self.node_pts, 0.0)
        to_obs = view.observer[i] - pts
        cam = np.einsum("...j,jk->...k", -to_obs, view.camera_to_body[i])
        z = cam[..., 2]
        front = self.on & (z > 0)
        safe = np.where(front[..., None], cam, np.array([0.0, 0.0, 1.0]))
        s, line = view.camera.ray_to_pixel(safe, band)
        normal = pts / view.body.radii**2
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-300)
        mu = np.einsum("...i,...i->...", normal, to_obs) / np.linalg.norm(to_obs, axis=-1)
        return (
            np.where(front, s, np.nan),
            np.where(front, line, np.nan),
            self.on & (z <= 0),
            np.where(self.on, mu, np.nan),
        )

    @staticmethod
    def _corners(a: np.ndarray) -> np.ndarray:
        return np.stack([a[:-1, :-1], a[1:, :-1], a[:-1, 1:], a[1:, 1:]])

    def reach(
        self,
        node: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
        lines: int,
        s_lo: float,
        s_hi: float,
    ) -> np.ndarray | None:
        """Per cell: may a pixel of it fall on the band's framelet?"""
        if node is None:
            return None
        s, line, behind, _ = node
        cs, cl = self._corners(s), self._corners(line)
        valid = np.isfinite(cs).all(axis=0) & np.isfinite(cl).all(axis=0)
        near = _near_framelet(cs, cl, lines, s_lo, s_hi)
        all_behind = self._corners(behind).all(axis=0)
        return np.where(valid, near, ~all_behind)

    def candidates(self, reach: list[np.ndarray | None]) -> np.ndarray:
        """Indices (into the grid's planet pixels) of every pixel some band may see."""
        if self.off or any(r is None for r in reach):
            return np.arange(self.n)
        cells = np.logical_or.reduce([r for r in reach if r is not None]).ravel()
        return np.flatnonzero(cells[self.cell_of])

    def within(self, reach: np.ndarray | None, sub: np.ndarray) -> np.ndarray:
        """Which of the pixels ``sub`` lie in a cell of ``reach`` (all without cells)."""
        if self.off or reach is None:
            return np.ones(sub.size, bool)
        return reach.ravel()[self.cell_of[sub]]

    def pixels(
        self,
        view: ViewGeometry,
        i: int,
        band: Filter,
        node: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
        sub: np.ndarray,
        cam: np.ndarray,
        min_mu: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(sample, line) of the pixels ``sub`` whose camera-frame vectors are ``cam``:
        interpolated in straight cells, exact elsewhere."""
        if self.off or self.exact or node is None:
            return view.camera.ray_to_pixel(cam, band)
        s, line, _, mu = node
        # bilinear interpolation errs by about (|f_rr| + |f_cc|) / 8 over a cell:
        # the second differences at the nodes estimate it (NaN near the limb: exact)
        curv = np.zeros(s.shape)
        for a in (s, line):
            bend = np.zeros(s.shape)
            for axis in (0, 1):
                d2 = np.abs(np.diff(a, n=2, axis=axis))
                bend += np.concatenate([d2.take([0], axis), d2, d2.take([-1], axis)], axis=axis)
            curv = np.maximum(curv, bend)
        with np.errstate(invalid="ignore"):
            straight = (
                (self._corners(curv).max(axis=0) / 8.0 < INTERPOLATION_TOLERANCE_PX)
                & (self._corners(mu).min(axis=0) > min_mu + 0.05)
            ).ravel()
        smooth = straight[self.cell_of[sub]]
        out_s = np.empty(sub.size)
        out_l = np.empty(sub.size)
        rough = ~smooth
        if rough.any():
            out_s[rough], out_l[rough] = view.camera.ray_to_pixel(cam[rough], band)
        k = sub[smooth]
        kr, kc, fr, fc = self.kr[k], self.kc[k], self.fr[k], self.fc[k]
        for a, out in ((s, out_s), (line, out_l)):
            out[smooth] = (
                (1 - fr) * (1 - fc) * a[kr, kc]
                + fr * (1 - fc) * a[kr + 1, kc]
                + (1 - fr) * fc * a[kr, kc + 1]
                + fr * fc * a[kr + 1, kc + 1]
            )
        return out_s, out_l


def _points_at(grid: MapGrid, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body-fixed points (km) at pixel indices ``r`` (rows) and ``c`` (columns).

    The formulas of :meth:`MapGrid.latlon` and :meth:`MapGrid.surface_points` for any
    (broadcastable) integer or fractional indices, also beyond the map's edges; NaN
    and False where the projection has no planet.

    Examples
    --------
    >>> g = MapGrid("orthographic", 0.1, (64, 64))
    >>> pts, ok = _points_at(g, np.arange(64)[:, None], np.arange(64)[None, :])
    >>> ref, ref_ok = g.surface_points()
    >>> bool((ok == ref_ok).all()), bool(np.allclose(pts[ok], ref[ok], rtol=0, atol=1e-6))
    (True, True)
    """
    r = np.asarray(r, np.float64) + 0.5
    c = np.asarray(c, np.float64) + 0.5
    if grid.projection != "orthographic":
        lat, lon, ok = _flat_latlon(grid, r, c)
        pts = surface_point(
            np.radians(np.where(ok, lat, 0.0)), np.radians(np.where(ok, lon, 0.0)), grid.body
        )
        return np.where(ok[..., None], pts, np.nan), ok
    parts, ok = _ortho_parts(grid, r, c)
    return np.stack(parts, axis=-1), ok


def _ortho_parts(
    grid: MapGrid, r: np.ndarray, c: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`_points_at` of an orthographic grid, by component, from pixel centres
    ``r`` and ``c`` (indices + 0.5)."""
    rows, cols = grid.shape
    res = grid.resolution
    # parallel rays along -n from a plane 4 a above the centre point, as in
    # MapGrid.surface_points, with the quadratic's terms written out per component
    n, east, north = grid._ortho_axes()
    centre = surface_point(math.radians(grid.center_lat), math.radians(grid.center_lon), grid.body)
    km = math.radians(res) * grid.body.a
    x = (c - cols / 2.0) * km
    y = (rows / 2.0 - r) * km
    base = centre + 4.0 * grid.body.a * n
    radii = grid.body.radii
    d = -n / radii
    qa = float(d @ d)
    o = [
        base[k] / radii[k] + x * (east[k] / radii[k]) + y * (north[k] / radii[k]) for k in range(3)
    ]
    qb = o[0] * d[0] + o[1] * d[1] + o[2] * d[2]
    qc = o[0] * o[0] + o[1] * o[1] + o[2] * o[2] - 1.0
    disc = qb * qb - qa * qc
    ok = disc >= 0
    t = (-qb - np.sqrt(np.where(ok, disc, 0.0))) / qa
    ok &= t > 0
    t = np.where(ok, t, np.nan)
    return [(o[k] + t * d[k]) * radii[k] for k in range(3)], ok


def _parts_at(grid: MapGrid, r: np.ndarray, c: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`_points_at` by component (no stack of 3-vectors for orthographic maps)."""
    if grid.projection == "orthographic":
        return _ortho_parts(grid, np.asarray(r, np.float64) + 0.5, np.asarray(c, np.float64) + 0.5)
    pts, ok = _points_at(grid, r, c)
    return [pts[..., k] for k in range(3)], ok


def _unit_normals(pts: np.ndarray, body: Ellipsoid) -> np.ndarray:
    normal = pts / body.radii**2
    return normal / np.linalg.norm(normal, axis=-1, keepdims=True)


class _Blocks:
    """A map grid cut into square blocks of ``k`` pixels for :func:`project_frame`'s
    interpolating path: nodes at the blocks' corners (every ``k``-th pixel, the last
    ones beyond the map's edge) and block ids ``row * blocks_per_row + col``."""

    def __init__(self, grid: MapGrid, k: int) -> None:
        rows, cols = grid.shape
        self.grid, self.k = grid, k
        self.nbr, self.nbc = -(-rows // k), -(-cols // k)
        parts, self.on = _parts_at(
            grid, (np.arange(self.nbr + 1) * k)[:, None], (np.arange(self.nbc + 1) * k)[None, :]
        )
        self.nodes = _Surface(parts, self.on, grid.body)
        # blocks that cross the planet's edge: their pixels, once for all exposures
        # (blocks with no planet pixel at all are left out for good)
        edge = np.flatnonzero(~self.corners(self.on).all(axis=0))
        parts, on = self.lattice(edge, k)
        keep = on.any(axis=(1, 2))
        self.limb = edge[keep]
        self.limb_surface = _Surface([v[keep] for v in parts], on[keep], grid.body)
        self.empty = np.zeros(self.nbr * self.nbc, bool)
        self.empty[edge[~keep]] = True
        self._spread: dict[int, np.ndarray] = {}

    def corners(self, a: np.ndarray) -> np.ndarray:
        """The four corner values of every block: shape (4, blocks)."""
        return np.stack([a[:-1, :-1], a[1:, :-1], a[:-1, 1:], a[1:, 1:]]).reshape(4, -1)

    def lattice(self, blocks: np.ndarray, m: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Surface points on an ``m``-per-side lattice of each block: every ``k / m``-th
        pixel, the block's far edges included for ``m < k`` (3 components of shape
        (n, m', m'))."""
        kr, kc = np.divmod(blocks, self.nbc)
        step = np.arange(m + 1 if m < self.k else m) * (self.k // m)
        r = (kr * self.k)[:, None, None] + step[None, :, None]
        c = (kc * self.k)[:, None, None] + step[None, None, :]
        return _parts_at(self.grid, r, c)

    def corner_lattice(self, a: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        """Node values ``a`` at the corners of ``blocks`` as (n, 2, 2) lattices."""
        kr, kc = np.divmod(blocks, self.nbc)
        return np.stack(
            [
                np.stack([a[kr, kc], a[kr, kc + 1]], -1),
                np.stack([a[kr + 1, kc], a[kr + 1, kc + 1]], -1),
            ],
            1,
        )

    def spread(self, v: np.ndarray) -> np.ndarray:
        """Bilinear interpolation of (n, m+1, m+1) lattice values over the blocks'
        pixels: (n, k, k), float32 (two small matrix products per block)."""
        m = v.shape[1] - 1
        if m not in self._spread:
            t = np.arange(self.k) * m / self.k
            j = np.minimum(t.astype(int), m - 1)
            r = np.zeros((self.k, m + 1))
            r[np.arange(self.k), j] = 1 - (t - j)
            r[np.arange(self.k), j + 1] = t - j
            self._spread[m] = r.astype(np.float32)
        r = self._spread[m]
        return r @ v.astype(np.float32) @ r.T

    def to_map(self, a: np.ndarray) -> np.ndarray:
        """Block-major values (blocks, k, k) back to the map's (rows, cols)."""
        k = self.k
        full = a.reshape(self.nbr, self.nbc, k, k).transpose(0, 2, 1, 3)
        return np.ascontiguousarray(
            full.reshape(self.nbr * k, self.nbc * k)[: self.grid.shape[0], : self.grid.shape[1]]
        )


def _bend(a: np.ndarray) -> np.ndarray:
    """Sum over both axes of |second difference| at every node (NaN spreads)."""
    bend = np.zeros(a.shape)
    for axis in (0, 1):
        if a.shape[axis] < 3:
            continue
        d2 = np.abs(np.diff(a, n=2, axis=axis))
        bend += np.concatenate([d2.take([0], axis), d2, d2.take([-1], axis)], axis=axis)
    return bend


class _Surface:
    """Surface points (any shape), by component, with their unit normals; points off
    the planet (``on`` False) hold a harmless stand-in."""

    def __init__(self, parts: list[np.ndarray], on: np.ndarray, body: Ellipsoid) -> None:
        self.on = on
        self.p = [np.where(on, parts[k], 1.0) for k in range(3)]
        g = [self.p[k] / body.radii[k] ** 2 for k in range(3)]
        norm = np.sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2])
        self.n = [gk / norm for gk in g]

    def take(self, sel: np.ndarray) -> _Surface:
        """The points of ``sel`` (an index along the first axis)."""
        out = object.__new__(_Surface)
        out.on, out.p, out.n = self.on[sel], [v[sel] for v in self.p], [v[sel] for v in self.n]
        return out


class _Seen:
    """What one exposure sees at some surface points (any shape): cos(emission),
    range (km), cos(phase) and camera-frame vectors, valid where ``ok``. Written per
    component: arrays of 3-vectors and einsum over their short last axis cost
    several times more."""

    def __init__(self, view: ViewGeometry, i: int, surf: _Surface) -> None:
        obs, rot, sun = view.observer[i], view.camera_to_body[i], view.sun[i]
        t = [obs[k] - surf.p[k] for k in range(3)]
        self.dist = np.sqrt(t[0] * t[0] + t[1] * t[1] + t[2] * t[2])
        inv = 1.0 / self.dist
        n = surf.n
        self.mu = (n[0] * t[0] + n[1] * t[1] + n[2] * t[2]) * inv
        self.cosg = (t[0] * sun[0] + t[1] * sun[1] + t[2] * sun[2]) * inv
        # camera frame: -to_obs @ camera_to_body
        self.cam = [-(t[0] * rot[0, k] + t[1] * rot[1, k] + t[2] * rot[2, k]) for k in range(3)]
        self.ok = surf.on & (self.cam[2] > 0)
        self._focal: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def pixels(
        self, view: ViewGeometry, band: Filter, sel: Any = ...
    ) -> tuple[np.ndarray, np.ndarray]:
        """(sample, line) in ``band``'s framelet, NaN where not ``ok`` (the distortion
        is computed once for the bands that share a focal length)."""
        cam = view.camera
        f = cam.focal_for(band)
        if f not in self._focal:
            # CameraModel.ray_to_focal, per component
            q = f / np.where(self.ok, self.cam[2], 1.0)
            xd, yd = cam.distort(self.cam[0] * q, self.cam[1] * q)
            self._focal[f] = (np.where(self.ok, xd + cam.cx, np.nan), np.where(self.ok, yd, np.nan))
        s, yd = self._focal[f]
        return s[sel], yd[sel] + cam.cy(band)


def _bilinear(data: np.ndarray, line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Bilinear samples of a 2-D float32 image at (line, sample) inside it (float32).

    What ``ndimage.map_coordinates(order=1)`` returns for points within the image,
    in float32 with four flat gathers: about twice as fast on the projection's
    millions of points.

    Examples
    --------
    >>> img = np.arange(12, dtype=np.float32).reshape(3, 4)
    >>> _bilinear(img, np.array([0.5, 2.0]), np.array([1.25, 3.0])).tolist()
    [3.25, 11.0]
    """
    rows, cols = data.shape
    l0 = np.minimum(line.astype(np.int32), rows - 2)
    s0 = np.minimum(sample.astype(np.int32), cols - 2)
    fl = (line - l0).astype(np.float32)
    fs = (sample - s0).astype(np.float32)
    flat = data.ravel()
    idx = l0 * cols + s0
    top = flat.take(idx)
    top += fs * (flat.take(idx + 1) - top)
    idx += cols
    bottom = flat.take(idx)
    bottom += fs * (flat.take(idx + 1) - bottom)
    return top + fl * (bottom - top)


#: Lattice sides tried per block by the interpolating projection: the block's corners,
#: then every half and quarter of its side; blocks too bent even then are exact.
_LEVELS = (1, 2, 4)


def _project_blocks(
    framelets: Framelets,
    view: ViewGeometry,
    grid: MapGrid,
    use: tuple[Filter, ...],
    order: int,
    feather: float,
    min_mu: float,
    k: int,
) -> MapResult:
    """:func:`project_frame` with the geometry interpolated over straight blocks."""
    blk = _Blocks(grid, k)
    nblk = blk.nbr * blk.nbc
    lines = framelets.framelet_lines
    s_lo, s_hi = DARK_SAMPLES, DARK_SAMPLES + PHOTOACTIVE_SAMPLES - 1
    # float32 per pixel from here on (framelet coordinates to 1e-4 px): per block,
    # the weighted sums of cos(emission), cos(phase), range and the weights; per band
    # the weighted sum of the samples and the weights
    f32 = np.float32
    acc = np.zeros((nblk, 4, k, k), f32)
    best_w = np.zeros((nblk, k, k), f32)
    sums = {b: np.zeros((nblk, 2, k, k), f32) for b in use}
    best_i = np.full((nblk, k, k), -1, np.int16)
    data = {b: np.asarray(framelets.band(b), dtype=np.float32) for b in use}
    is_limb = np.zeros(nblk, bool)
    is_limb[blk.limb] = True
    limb_pos = np.full(nblk, -1)
    limb_pos[blk.limb] = np.arange(blk.limb.size)
    levels = (*(m for m in _LEVELS if m < k and k % m == 0), k)
    for i in range(view.n_exposures):
        node = _Seen(view, i, blk.nodes)
        behind = blk.corners(blk.on & ~node.ok).all(axis=0)
        geo_ok = np.asarray(blk.corners(node.ok).all(axis=0))
        node_sl = {b: node.pixels(view, b) for b in use}
        reach, bend, curv = {}, np.zeros(nblk), {}
        for b in use:
            cs, cl = (blk.corners(a) for a in node_sl[b])
            near = _near_framelet(cs, cl, lines, s_lo, s_hi)
            reach[b] = np.where(geo_ok, near, ~behind & ~blk.empty)
            if reach[b].any():
                # bilinear interpolation errs by about (|f_rr| + |f_cc|) / 8 over a
                # block; a lattice of m per side divides that by m^2
                f = view.camera.focal_for(b)
                if f not in curv:  # a line offset between bands bends nothing
                    c2 = np.maximum(_bend(node_sl[b][0]), _bend(node_sl[b][1]))
                    curv[f] = blk.corners(c2).max(axis=0)
                bend = np.maximum(bend, np.where(reach[b], curv[f], 0.0))
        cells = np.flatnonzero(np.logical_or.reduce([reach[b] for b in use]))
        if not cells.size:
            continue
        # in units of each quantity's tolerance, and the same for the backplanes'
        bend = bend[cells] / INTERPOLATION_TOLERANCE_PX
        for a, tol in (
            (node.mu, INTERPOLATION_TOLERANCE_COS),
            (node.cosg, INTERPOLATION_TOLERANCE_COS),
            (node.dist, INTERPOLATION_TOLERANCE_RANGE * np.nanmin(node.dist)),
        ):
            bend = np.maximum(bend, blk.corners(_bend(a)).max(axis=0)[cells] / tol)
        # per block: the coarsest lattice that interpolates within the tolerance
        level = np.full(cells.size, k)
        with np.errstate(invalid="ignore"):
            for m in levels[::-1][1:]:
                fine = geo_ok[cells] & (bend / (8.0 * m * m) < 1.0)
                level[fine] = m
        groups = []
        for m in levels:
            g_all = cells[level == m]
            if not g_all.size:
                continue
            # the exact blocks on the limb have their points ready
            parts = [g_all] if m < k else [g_all[is_limb[g_all]], g_all[~is_limb[g_all]]]
            for g, limb in zip(parts, (False,) if m < k else (True, False), strict=True):
                if not g.size:
                    continue
                sl: dict[Filter, tuple[np.ndarray, np.ndarray]] = {}
                if m == 1:
                    seen = node
                    lattice = {
                        key: blk.corner_lattice(getattr(node, key), g)
                        for key in ("mu", "dist", "cosg")
                    }
                    sl = {
                        b: (
                            blk.corner_lattice(node_sl[b][0], g),
                            blk.corner_lattice(node_sl[b][1], g),
                        )
                        for b in use
                    }
                else:
                    if limb:
                        surf = blk.limb_surface.take(limb_pos[g])
                    else:
                        surf = _Surface(*blk.lattice(g, m), grid.body)
                    seen = _Seen(view, i, surf)
                    lattice = {"mu": seen.mu, "dist": seen.dist, "cosg": seen.cosg}
                groups.append((m, g, seen, lattice, sl))
        order_cells = np.concatenate([g for _, g, *_ in groups])
        px: dict[str, list[np.ndarray]] = {key: [] for key in ("mu", "dist", "cosg")}
        valid = []
        for m, g, seen, lattice, _ in groups:
            for key in px:
                v = lattice[key]
                px[key].append(v.astype(f32) if m == k else blk.spread(v))
            valid.append(seen.ok if m == k else np.ones((g.size, k, k), bool))
        mu = np.concatenate(px["mu"])
        ok = np.concatenate(valid)
        # (the exact blocks' stand-in points off the planet give finite values)
        with np.errstate(invalid="ignore"):
            ok &= mu > min_mu
        w_exp = np.zeros((order_cells.size, k, k), f32)
        for b in use:
            s_parts, l_parts, pos_parts = [], [], []
            start = 0
            for m, g, seen, _lattice, sl in groups:
                mine = np.flatnonzero(reach[b][g])
                if mine.size:
                    if m == k:
                        s, line = (v.astype(f32) for v in seen.pixels(view, b, mine))
                    else:
                        if m == 1:
                            s_n, l_n = sl[b][0][mine], sl[b][1][mine]
                        else:
                            s_n, l_n = seen.pixels(view, b, mine)
                        s, line = blk.spread(s_n), blk.spread(l_n)
                    s_parts.append(s)
                    l_parts.append(line)
                    pos_parts.append(start + mine)
                start += g.size
            if not pos_parts:
                continue
            pos = np.concatenate(pos_parts)
            s, line = np.concatenate(s_parts), np.concatenate(l_parts)
            with np.errstate(invalid="ignore"):
                inside = ok[pos] & (line >= 0) & (line <= lines - 1) & (s >= s_lo) & (s <= s_hi)
            if not inside.any():
                continue
            both = np.zeros((inside.shape[0], 2, k, k), f32)
            w = both[:, 1]
            w[inside] = feather_weight(line[inside], lines, feather)
            l_in, s_in = line[inside], s[inside]
            if order == 1:
                val = _bilinear(data[b][i], l_in, s_in)
            else:
                val = ndimage.map_coordinates(
                    data[b][i], [l_in, s_in], order=order, mode="nearest", prefilter=True
                )
            both[:, 0][inside] = w[inside] * val
            sums[b][order_cells[pos]] += both
            w_exp[pos] = np.maximum(w_exp[pos], w)
        cells = order_cells
        add = np.empty((cells.size, 4, k, k), f32)
        np.multiply(w_exp, mu, out=add[:, 0])
        np.multiply(w_exp, np.concatenate(px["cosg"]), out=add[:, 1])
        np.multiply(w_exp, np.concatenate(px["dist"]), out=add[:, 2])
        add[:, 3] = w_exp
        acc[cells] += add
        bw = best_w[cells]
        better = w_exp > bw
        best_w[cells] = np.maximum(bw, w_exp)
        bi = best_i[cells]
        bi[better] = i
        best_i[cells] = bi
    out_bands, out_masks = {}, {}
    for b in use:
        num, den = sums[b][:, 0], sums[b][:, 1]
        have = den > 0
        out_bands[b] = blk.to_map(np.divide(num, den, out=np.zeros(have.shape, f32), where=have))
        out_masks[b] = blk.to_map(have)
    w_all = acc[:, 3]
    seen_any = w_all > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = {
            "emi": np.degrees(np.arccos(np.clip(acc[:, 0] / w_all, -1, 1))),
            "pha": np.degrees(np.arccos(np.clip(acc[:, 1] / w_all, -1, 1))),
            "rng": acc[:, 2] / w_all,
        }
    planes_seen = {
        key: blk.to_map(np.where(seen_any, v, np.nan).astype(np.float32)) for key, v in mean.items()
    }
    lat, lon, inc = _lat_lon_incidence(grid, view.sun[view.n_exposures // 2])
    planes = Backplanes(
        lat_deg=lat,
        lon_west_deg=lon,
        incidence_deg=inc,
        emission_deg=planes_seen["emi"],
        phase_deg=planes_seen["pha"],
    )
    return MapResult(grid, out_bands, out_masks, planes, blk.to_map(best_i), planes_seen["rng"])


def _lat_lon_incidence(grid: MapGrid, sun: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latitude, west longitude and incidence (degrees, float32, NaN off the planet)
    of every pixel: the projection's own formulas, per row and column where they
    separate, instead of a stack of 3-vectors per pixel.

    Examples
    --------
    >>> g = MapGrid("orthographic", 0.5, (40, 40), center_lat=20.0, center_lon=30.0)
    >>> lat, lon, inc = _lat_lon_incidence(g, np.array([1.0, 0.0, 0.0]))
    >>> ref_lat, ref_lon = g.latlon()
    >>> same_disc = bool((np.isnan(lat) == np.isnan(ref_lat)).all())
    >>> float(np.nanmax(np.abs(lat - ref_lat))) < 1e-4, same_disc
    (True, True)
    """
    rows, cols = grid.shape
    if grid.projection != "orthographic":
        lat_d, lon_d = grid.latlon()
        lat, lon_e = np.radians(lat_d), -np.radians(lon_d)
        cos_lat = np.cos(lat)
        cos_i = cos_lat * (np.cos(lon_e) * sun[0] + np.sin(lon_e) * sun[1]) + np.sin(lat) * sun[2]
        inc = np.degrees(np.arccos(np.clip(cos_i, -1.0, 1.0)))
        return lat_d.astype(np.float32), lon_d.astype(np.float32), inc.astype(np.float32)
    # MapGrid.surface_points' parallel rays in coordinates scaled to the unit sphere:
    # o = o_row + o_col, and the smaller root t of |o + t d|^2 = 1
    n, east, north = grid._ortho_axes()
    centre = surface_point(math.radians(grid.center_lat), math.radians(grid.center_lon), grid.body)
    km = math.radians(grid.resolution) * grid.body.a
    x = (np.arange(cols) + 0.5 - cols / 2.0) * km
    y = (rows / 2.0 - np.arange(rows) - 0.5) * km
    radii = grid.body.radii
    base = (centre + 4.0 * grid.body.a * n) / radii
    d = -n / radii
    # o = row + col: |o|^2 and o.d separate but for the cross term, one small product
    row = np.stack([base[k] + y * (north[k] / radii[k]) for k in range(3)], axis=-1)
    col = np.stack([x * (east[k] / radii[k]) for k in range(3)], axis=-1)
    qa = float(d @ d)
    qb = (row @ d)[:, None] + (col @ d)[None, :]
    qc = row @ (2.0 * col.T)
    qc += (np.einsum("ij,ij->i", row, row) - 1.0)[:, None]
    qc += np.einsum("ij,ij->i", col, col)[None, :]
    disc = qb * qb - qa * qc
    ok = disc >= 0
    t = (-qb - np.sqrt(np.where(ok, disc, 0.0))) / qa
    ok &= t > 0
    # the outward normal is parallel to the scaled point divided by the radii once
    # more; the angles only where there is planet, in float32 through arctan2 (well
    # conditioned everywhere, to about 1e-5 degrees)
    ri, ci = np.nonzero(ok)
    tt = t[ok]
    g = [((row[ri, k] + col[ci, k] + tt * d[k]) / radii[k]).astype(np.float32) for k in range(3)]
    s32 = np.asarray(sun, np.float32)
    lat = np.degrees(np.arctan2(g[2], np.hypot(g[0], g[1])))
    lon = -np.degrees(np.arctan2(g[1], g[0]))
    lon[lon < 0] += np.float32(360.0)
    cross = np.sqrt(
        (g[1] * s32[2] - g[2] * s32[1]) ** 2
        + (g[2] * s32[0] - g[0] * s32[2]) ** 2
        + (g[0] * s32[1] - g[1] * s32[0]) ** 2
    )
    inc = np.degrees(np.arctan2(cross, g[0] * s32[0] + g[1] * s32[1] + g[2] * s32[2]))
    out = []
    for v in (lat, lon, inc):
        full = np.full(grid.shape, np.nan, np.float32)
        full[ok] = v
        out.append(full)
    return out[0], out[1], out[2]


def project_frame(
    framelets: Framelets,
    view: ViewGeometry,
    grid: MapGrid,
    *,
    bands: tuple[Filter, ...] | None = None,
    order: int = 1,
    feather: float = 8.0,
    max_emission: float = 80.0,
    coarse: int = 8,
    interpolate: bool = False,
) -> MapResult:
    """Project every framelet of every band onto ``grid`` (inverse mapping).

    Parameters
    ----------
    framelets : Framelets
        Linear framelets (any calibration already applied).
    view : ViewGeometry
        From :func:`junocam.planet.pointing.view_from_ck` or
        :func:`junocam.planet.navigate.navigate`.
    grid : MapGrid
    bands : tuple of Filter, optional
        Bands to map (default all).
    order : int
        Spline order of the resampling (1 bilinear, 3 cubic).
    feather : float
        Lines over which a framelet's weight ramps up from its edges.
    max_emission : float
        Points seen more obliquely than this (degrees from the normal) are left out:
        near the limb one detector pixel spreads over many map pixels and any
        residual band offset turns into colour fringes.
    coarse : int
        Side (map pixels) of the coarse cells whose corners are projected first: an
        exposure skips the cells that none of its framelets can reach (a conservative
        test: the map is the same as with ``coarse=0``, which projects every pixel in
        every exposure, only several times faster).
    interpolate : bool
        The fast path (what ``junocam map`` uses): the map is cut into blocks of
        ``coarse`` pixels; per exposure the blocks' corners are projected exactly,
        the blocks no framelet reaches are skipped, and each block takes the
        coarsest lattice (its corners, then every half and every quarter of its
        side, projected exactly) over which bilinear interpolation keeps the
        framelet coordinates within :data:`INTERPOLATION_TOLERANCE_PX` and the
        cosines of emission and phase and the range within
        :data:`INTERPOLATION_TOLERANCE_COS` and :data:`INTERPOLATION_TOLERANCE_RANGE`
        (bounds from the second differences at the corners); blocks on the limb or
        partly behind the camera are projected pixel by pixel. Per pixel the work is
        float32. Measured against the exact path on PJ43/PJ44 frames and in
        ``tests/test_projection_blocks.py``: framelet coordinates within 0.01 px,
        the coverage the same but for a few pixels on framelet edges. Off by
        default: the exact inverse mapping, pixel by pixel.

    Returns
    -------
    MapResult

    Examples
    --------
    One uniform green framelet (100 DN) seen by a camera 300 000 km above the north
    pole, looking straight down, on a coarse polar map:

    >>> from junocam.camera import CameraModel
    >>> view = ViewGeometry(CameraModel(), np.array([[0, 0, 3e5]]),
    ...                     np.diag([1.0, -1.0, -1.0])[None], np.array([[0, 0, 1.0]]))
    >>> framelets = Framelets(np.full((1, 1, 128, 1648), 100.0, np.float32), (Filter.GREEN,))
    >>> m = project_frame(framelets, view, map_grid_for(view, "polar", 1.0))
    >>> sorted(m.bands), m.grid.shape
    ([<Filter.GREEN: 'GREEN'>], (155, 155))
    >>> np.unique(m.bands[Filter.GREEN]).tolist(), int(m.masks[Filter.GREEN].sum())
    ([0.0, 100.0], 2397)
    >>> round(float(np.nanmax(m.backplanes.emission_deg)))   # max_emission cuts the limb
    80
    """
    use = bands or tuple(framelets.filters)
    if view.n_exposures != framelets.n_exposures:
        raise GeometryError(
            f"the geometry has {view.n_exposures} exposures, the frame {framelets.n_exposures}"
        )
    if not 0.0 < max_emission <= 90.0:
        raise GeometryError(f"max_emission must be in (0, 90] degrees, got {max_emission}")
    min_mu = max(math.cos(math.radians(max_emission)), 0.0)
    if interpolate and coarse >= 2 and min(grid.shape) >= 2 * coarse:
        return _project_blocks(framelets, view, grid, use, order, feather, min_mu, coarse)
    pts_grid, ok = grid.surface_points()
    idx = np.flatnonzero(ok)
    pts = pts_grid.reshape(-1, 3)[idx]
    n = idx.size
    lines = framelets.framelet_lines
    num = {b: np.zeros(n, np.float64) for b in use}
    den = {b: np.zeros(n, np.float64) for b in use}
    cos_e = np.zeros(n)
    cos_g = np.zeros(n)
    w_all = np.zeros(n)
    rng = np.zeros(n)
    best_w = np.zeros(n)
    best_i = np.full(n, -1, np.int16)
    normals = pts / view.body.radii**2
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    s_lo, s_hi = DARK_SAMPLES, DARK_SAMPLES + PHOTOACTIVE_SAMPLES - 1
    cells = _Cells(grid.shape, idx, pts_grid, coarse, interpolate)
    for i in range(view.n_exposures):
        # which map pixels can this exposure's framelets reach at all (exactly as the
        # per-pixel test below would find them, decided per coarse cell)
        nodes = {b: cells.node_pixels(view, i, b) for b in use}
        reach = {b: cells.reach(nodes[b], lines, s_lo, s_hi) for b in use}
        cand = cells.candidates(list(reach.values()))
        if not cand.size:
            continue
        to_obs = view.observer[i] - pts[cand]
        dist = np.linalg.norm(to_obs, axis=1)
        mu = np.einsum("ij,ij->i", normals[cand], to_obs) / dist
        facing = np.flatnonzero(mu > min_mu)
        if not facing.size:
            continue
        # einsum, not a BLAS product: (n, 3) @ (3, 3) is many times slower through BLAS
        cam = np.einsum("ij,jk->ik", -to_obs[facing], view.camera_to_body[i])
        front = cam[:, 2] > 0
        facing, cam = facing[front], cam[front]
        w_exp = np.zeros(cand.size)
        for b in use:
            mine = cells.within(reach[b], cand[facing])  # this band's cells only
            if not mine.any():
                continue
            s, line = cells.pixels(view, i, b, nodes[b], cand[facing[mine]], cam[mine], min_mu)
            inside = (line >= 0) & (line <= lines - 1) & (s >= s_lo) & (s <= s_hi)
            if not inside.any():
                continue
            local = facing[mine][inside]
            sel = cand[local]
            data = np.asarray(framelets.band(b)[i], dtype=np.float32)
            val = ndimage.map_coordinates(
                data, [line[inside], s[inside]], order=order, mode="nearest", prefilter=order > 1
            )
            w = feather_weight(line[inside], lines, feather).astype(np.float64)
            num[b][sel] += w * val
            den[b][sel] += w
            np.maximum.at(w_exp, local, w)
        hit_local = np.flatnonzero(w_exp > 0)
        if hit_local.size:
            hit = cand[hit_local]
            we = w_exp[hit_local]
            cos_e[hit] += we * mu[hit_local]
            sun = view.sun[i]
            v = to_obs[hit_local] / dist[hit_local, None]
            cos_g[hit] += we * np.einsum("ij,j->i", v, sun)
            w_all[hit] += we
            rng[hit] += we * dist[hit_local]
            better = we > best_w[hit]
            best_w[hit[better]] = we[better]
            best_i[hit[better]] = i
    shape = grid.shape
    out_bands, out_masks = {}, {}
    for b in use:
        m = np.zeros(shape[0] * shape[1], np.float32)
        mask = np.zeros(m.shape, bool)
        have = den[b] > 0
        m[idx[have]] = (num[b][have] / den[b][have]).astype(np.float32)
        mask[idx[have]] = True
        out_bands[b] = m.reshape(shape)
        out_masks[b] = mask.reshape(shape)
    # backplanes: incidence from the mid-frame Sun, emission/phase averaged over views
    mid = view.n_exposures // 2
    lat, lon = planetographic(pts, view.body)
    inc = np.arccos(np.clip(np.einsum("ij,j->i", normals, view.sun[mid]), -1.0, 1.0))
    seen = w_all > 0
    emi = np.full(n, np.nan, np.float32)
    pha = np.full(n, np.nan, np.float32)
    emi[seen] = np.degrees(np.arccos(np.clip(cos_e[seen] / w_all[seen], -1, 1)))
    pha[seen] = np.degrees(np.arccos(np.clip(cos_g[seen] / w_all[seen], -1, 1)))

    def full(v: np.ndarray) -> np.ndarray:
        out = np.full(shape[0] * shape[1], np.nan, np.float32)
        out[idx] = v
        return out.reshape(shape)

    planes = Backplanes(
        lat_deg=full(np.degrees(lat).astype(np.float32)),
        lon_west_deg=full(np.degrees(lon).astype(np.float32)),
        incidence_deg=full(np.degrees(inc).astype(np.float32)),
        emission_deg=full(emi),
        phase_deg=full(pha),
    )
    exp_map = np.full(shape[0] * shape[1], -1, np.int16)
    exp_map[idx] = best_i
    mean_range = np.full(n, np.nan, np.float32)
    mean_range[seen] = rng[seen] / w_all[seen]
    return MapResult(grid, out_bands, out_masks, planes, exp_map.reshape(shape), full(mean_range))


def _near_framelet(
    cs: np.ndarray, cl: np.ndarray, lines: int, s_lo: float, s_hi: float
) -> np.ndarray:
    """Per cell (or block): may a pixel inside its corners' framelet samples ``cs`` and
    lines ``cl`` (the four corners first) fall on the framelet? Padded by a quarter of the
    corners' spread plus 2 px, generous for the mapping's curvature inside a cell."""
    with np.errstate(invalid="ignore"):
        lo_l, hi_l = cl.min(axis=0), cl.max(axis=0)
        lo_s, hi_s = cs.min(axis=0), cs.max(axis=0)
        pad_l = 0.25 * (hi_l - lo_l) + 2.0
        pad_s = 0.25 * (hi_s - lo_s) + 2.0
        return np.asarray(
            (hi_l + pad_l >= 0)
            & (lo_l - pad_l <= lines - 1)
            & (hi_s + pad_s >= s_lo)
            & (lo_s - pad_s <= s_hi)
        )


def _flat_latlon(
    grid: MapGrid, r: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latitude, west longitude (degrees) and on-map flag at the (broadcast) pixel
    coordinates ``r``, ``c`` (centres at +0.5) of an equirectangular or polar grid."""
    rows, cols = grid.shape
    res = grid.resolution
    if grid.projection == "equirectangular":
        lat = grid.lat_top - r * res + 0.0 * c
        lon = np.mod(grid.lon_left - c * res, 360.0) + 0.0 * r
        return lat, lon, np.abs(lat) <= 90.0
    x = (c - cols / 2.0) * res
    y = (r - rows / 2.0) * res
    rho = np.hypot(x, y)
    sign = 1.0 if grid.pole == "north" else -1.0
    # seen from above the pole west longitude runs clockwise in the north and
    # anticlockwise in the south, starting from the meridian pointing down
    lon = np.mod(grid.center_lon + sign * np.degrees(np.arctan2(-x, y)), 360.0)
    return sign * (90.0 - rho), lon, rho <= 90.0
