"""Globe renders and fly-by animations: a map wrapped on Jupiter's oblate spheroid.

:func:`render_globe` looks at the planet from a virtual pinhole camera
(:class:`GlobeView`: the sub-camera latitude and longitude, the distance from the
centre in equatorial radii, the field of view and a roll) and paints every pixel
whose ray meets the spheroid with the map's colour there; optional lighting from a
chosen subsolar point and a black or starry background. :func:`flyby_views` makes
the sequence of views of an animation along the spacecraft's path, and
:func:`encode_movie` writes it as a GIF (always) or an MP4 (with imageio's ffmpeg
plugin).

Examples
--------
>>> import numpy as np
>>> from junocam.maps.globe import GlobeView, render_globe
>>> from junocam.planet.projection import MapGrid
>>> grid = MapGrid("equirectangular", 2.0, (90, 180))
>>> img, hit = render_globe(np.full((90, 180, 3), 0.5, np.float32), grid,
...                         GlobeView(0.0, 0.0, 4.0, fov_deg=40.0, size=64))
>>> img.shape, bool(hit[32, 32]), bool(hit[0, 0])
((64, 64, 3), True, False)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import GeometryError
from ..planet.projection import MapGrid
from ..planet.spheroid import (
    JUPITER,
    Ellipsoid,
    intersect,
    planetographic,
    surface_normal,
    surface_point,
)


@dataclass(frozen=True)
class GlobeView:
    """A virtual camera looking at Jupiter's centre.

    Parameters
    ----------
    lat_deg, lon_west_deg : float
        The camera sits above this planetographic latitude and west longitude.
    distance : float
        Distance from the centre in equatorial radii (> 1).
    fov_deg : float
        Horizontal field of view.
    size : int or (rows, cols)
        Image size in pixels.
    roll_deg : float
        Turn of the image about the line of sight (positive: clockwise), from north up.
    """

    lat_deg: float
    lon_west_deg: float
    distance: float
    fov_deg: float = 40.0
    size: int | tuple[int, int] = 800
    roll_deg: float = 0.0

    def __post_init__(self) -> None:
        if not (self.distance > 1.0 and math.isfinite(self.distance)):
            raise GeometryError(f"distance must exceed 1 equatorial radius, got {self.distance}")
        if not 0.1 <= self.fov_deg <= 170.0:
            raise GeometryError(f"field of view must be in [0.1, 170] degrees, got {self.fov_deg}")
        if not -90.0 <= self.lat_deg <= 90.0:
            raise GeometryError(f"latitude must be in [-90, 90], got {self.lat_deg}")
        rows, cols = self.shape
        if not (0 < rows <= 16384 and 0 < cols <= 16384):
            raise GeometryError(f"image size {self.shape} is outside 1..16384")

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)  # type: ignore[return-value]

    def camera(self, body: Ellipsoid = JUPITER) -> tuple[np.ndarray, np.ndarray]:
        """Camera position (km, body-fixed) and rotation camera -> body (columns x, y, z).

        The camera frame has +x to the right of the image, +y down and +z forward.
        """
        p = surface_point(math.radians(self.lat_deg), math.radians(self.lon_west_deg), body)
        pos = p / np.linalg.norm(p) * self.distance * body.a
        fwd = -pos / np.linalg.norm(pos)
        up = np.array([0.0, 0.0, 1.0]) - fwd[2] * fwd
        if np.linalg.norm(up) < 1e-9:  # over a pole: the prime meridian is "up"
            up = np.array([-np.sign(fwd[2]) * 1.0, 0.0, 0.0])
            up -= (up @ fwd) * fwd
        up /= np.linalg.norm(up)
        down = -up
        right = np.cross(down, fwd)
        m = np.stack([right, down, fwd], axis=1)
        roll = math.radians(self.roll_deg)
        c, s = math.cos(roll), math.sin(roll)
        turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        return pos, m @ turn

    @property
    def focal_px(self) -> float:
        """Focal length in pixels."""
        return (self.shape[1] / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)

    def project(
        self, points: np.ndarray, body: Ellipsoid = JUPITER
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of body-fixed points in the image (pixel centres at integers).

        Examples
        --------
        >>> v = GlobeView(0.0, 0.0, 3.0, size=101)
        >>> [round(float(x), 6) for x in v.project(np.array([JUPITER.a, 0.0, 0.0]))]
        [50.0, 50.0]
        """
        pos, m = self.camera(body)
        cam = (np.asarray(points, np.float64) - pos) @ m
        f = self.focal_px
        rows, cols = self.shape
        with np.errstate(divide="ignore", invalid="ignore"):
            c = f * cam[..., 0] / cam[..., 2] + (cols - 1) / 2.0
            r = f * cam[..., 1] / cam[..., 2] + (rows - 1) / 2.0
        return r, c


def subsolar_point(sun_direction: np.ndarray, body: Ellipsoid = JUPITER) -> tuple[float, float]:
    """Planetographic latitude and west longitude (degrees) under a Sun direction.

    Examples
    --------
    >>> [round(v, 6) for v in subsolar_point(np.array([1.0, 0.0, 0.0]))]
    [0.0, 0.0]
    """
    hit, ok = intersect(
        np.asarray(sun_direction, np.float64) * 10 * body.a,
        -np.asarray(sun_direction, np.float64)[None],
        body,
    )
    lat, lon = planetographic(hit[0], body)
    return float(np.degrees(lat)), float(np.degrees(lon))


def render_globe(
    image: np.ndarray,
    grid: MapGrid,
    view: GlobeView,
    *,
    mask: np.ndarray | None = None,
    sun: tuple[float, float] | None = None,
    ambient: float = 0.06,
    background: str = "black",
    unmapped: float = 0.06,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Render a map on the spheroid seen by a virtual camera.

    Parameters
    ----------
    image : numpy.ndarray
        The map, (rows, cols) or (rows, cols, channels), float values in [0, 1].
    grid : MapGrid
        The map's grid (any projection).
    view : GlobeView
    mask : numpy.ndarray of bool, optional
        Where the map has data; elsewhere the planet is drawn in grey ``unmapped``.
    sun : (lat, lon_west), optional
        Subsolar point (degrees); the globe is then lit (``ambient`` on the night side).
        Without it the map's own lighting is shown.
    background : {"black", "stars"}
    unmapped : float
        Grey level of planet surface the map does not cover.
    seed : int
        Star field seed.

    Returns
    -------
    rgb : numpy.ndarray
        float32 (rows, cols, channels) in [0, 1].
    hit : numpy.ndarray of bool
        Pixels showing the planet.

    Examples
    --------
    >>> grid = MapGrid("equirectangular", 2.0, (90, 180))
    >>> rgb, hit = render_globe(np.ones((90, 180), np.float32), grid, GlobeView(30, 0, 5, size=32),
    ...                         sun=(0.0, 0.0))
    >>> rgb.shape, bool(hit[16, 16])
    ((32, 32, 1), True)
    """
    if background not in ("black", "stars"):
        raise GeometryError(f"background must be 'black' or 'stars', got {background!r}")
    img = np.asarray(image, np.float32)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[:2] != grid.shape:
        raise GeometryError(f"map image {img.shape[:2]} does not match its grid {grid.shape}")
    body = grid.body
    rows, cols = view.shape
    pos, m = view.camera(body)
    f = view.focal_px
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    rays = np.stack([(x - (cols - 1) / 2.0) / f, (y - (rows - 1) / 2.0) / f, np.ones_like(x)], -1)
    dirs = rays @ m.T
    pts, hit = intersect(pos, dirs, body)
    out = np.zeros((rows, cols, img.shape[2]), np.float32)
    if background == "stars":
        rng = np.random.default_rng(seed)
        n = max(1, rows * cols // 900)
        rr, cc = rng.integers(0, rows, n), rng.integers(0, cols, n)
        out[rr, cc] = rng.uniform(0.3, 1.0, n)[:, None].astype(np.float32)
    if hit.any():
        lat, lon = planetographic(pts[hit], body)
        r, c = grid.to_pixel(np.degrees(lat), np.degrees(lon))
        inside = np.isfinite(r) & (r >= -0.5) & (r <= grid.shape[0] - 0.5)
        inside &= np.isfinite(c) & (c >= -0.5) & (c <= grid.shape[1] - 0.5)
        rs, cs = np.where(inside, r, 0.0), np.where(inside, c, 0.0)
        vals = np.stack(
            [
                ndimage.map_coordinates(img[..., k], [rs, cs], order=1, mode="nearest")
                for k in range(img.shape[2])
            ],
            -1,
        )
        if mask is not None:
            covered = (
                ndimage.map_coordinates(mask.astype(np.float32), [rs, cs], order=0, mode="nearest")
                > 0.5
            )
            inside &= covered
        vals = np.where(inside[:, None], vals, unmapped)
        if sun is not None:
            s = surface_point(math.radians(sun[0]), math.radians(sun[1]), body)
            s /= np.linalg.norm(s)
            mu0 = np.clip(surface_normal(pts[hit], body) @ s, 0.0, 1.0)
            vals = vals * (ambient + (1.0 - ambient) * mu0)[:, None]
        out[hit] = np.clip(vals, 0.0, 1.0)
    return out, hit
