"""A body as an oblate spheroid: ray intersection, surface normals and coordinates.

Pure numpy, no SPICE: every function takes positions and directions in Jupiter's
body-fixed frame (IAU_JUPITER: origin at the centre, +Z the north pole, +X the
prime meridian of System III) in kilometres and returns arrays. The SPICE layer
(:mod:`junocam.planet.spice`) or the navigation (:mod:`junocam.planet.navigate`) supply those
positions; these functions then give per-pixel latitude, longitude and photometric
angles (backplanes).

Conventions
-----------
* Latitude is *planetographic* (angle between the surface normal and the equator),
  the convention of the JunoCam metadata and of Jupiter maps.
* Longitude is System III *west-positive*, in [0, 360) degrees, as for every body
  with prograde rotation [IAU WGCCRE].
* Angles are in radians unless a name ends in ``_deg``.

The radii are those of the NAIF planetary constants kernel ``pck00010.tpc``
(BODY599_RADII = 71492, 71492, 66854 km), the 1-bar level of Jupiter.

Examples
--------
>>> import numpy as np
>>> from junocam.planet.spheroid import JUPITER, intersect, planetographic
>>> origin = np.array([200000.0, 0.0, 0.0])
>>> hit, ok = intersect(origin, np.array([[-1.0, 0.0, 0.0]]), JUPITER)
>>> hit[0].round(3).tolist(), bool(ok[0])
([71492.0, 0.0, 0.0], True)
>>> lat, lon = planetographic(hit, JUPITER)
>>> float(np.degrees(lat[0])), float(np.degrees(lon[0]))
(0.0, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GeometryError


@dataclass(frozen=True)
class Ellipsoid:
    """A spheroid/ellipsoid with semi-axes ``a`` (x), ``b`` (y), ``c`` (z, polar), km.

    Examples
    --------
    >>> round(JUPITER.flattening, 5)
    0.06487
    """

    a: float
    b: float
    c: float

    def __post_init__(self) -> None:
        if not all(np.isfinite(v) and v > 0 for v in (self.a, self.b, self.c)):
            raise GeometryError(f"ellipsoid radii must be positive, got {self.radii}")

    @property
    def radii(self) -> np.ndarray:
        """``(a, b, c)`` as an array (km)."""
        return np.array([self.a, self.b, self.c], dtype=np.float64)

    @property
    def flattening(self) -> float:
        """``(a - c) / a``."""
        return (self.a - self.c) / self.a


#: Jupiter's 1-bar spheroid, BODY599_RADII from pck00010.tpc (km).
JUPITER = Ellipsoid(71492.0, 71492.0, 66854.0)


def intersect(
    origin: np.ndarray, directions: np.ndarray, body: Ellipsoid = JUPITER
) -> tuple[np.ndarray, np.ndarray]:
    """First intersection of rays with the ellipsoid.

    Parameters
    ----------
    origin : numpy.ndarray, shape (3,) or (..., 3)
        Ray origins (km), broadcast against ``directions``.
    directions : numpy.ndarray, shape (..., 3)
        Ray directions (any length).
    body : Ellipsoid

    Returns
    -------
    points : numpy.ndarray, shape (..., 3)
        Surface points (km); NaN where the ray misses.
    hit : numpy.ndarray of bool, shape (...)
        Whether the ray meets the surface in front of its origin.

    Examples
    --------
    >>> p, ok = intersect(np.array([0.0, 0.0, 1e6]), np.array([[0, 0, -1.0], [0, 1.0, 0]]))
    >>> p[0].round(6).tolist(), ok.tolist()
    ([0.0, 0.0, 66854.0], [True, False])
    """
    r = body.radii
    o = np.asarray(origin, dtype=np.float64) / r
    d = np.asarray(directions, dtype=np.float64) / r
    # the spheroid becomes the unit sphere in scaled coordinates, where the
    # intersection is the smaller root of |o + t d|^2 = 1
    a = np.einsum("...i,...i->...", d, d)
    b = np.einsum("...i,...i->...", o, d)
    c = np.einsum("...i,...i->...", o, o) - 1.0
    disc = b * b - a * c
    hit = (disc >= 0) & (a > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-b - np.sqrt(np.where(hit, disc, 0.0))) / a
    hit &= t > 0
    t = np.where(hit, t, np.nan)
    points = (o + t[..., None] * d) * r
    return points, hit


def surface_normal(points: np.ndarray, body: Ellipsoid = JUPITER) -> np.ndarray:
    """Outward unit normal of the ellipsoid at surface ``points`` (..., 3).

    Examples
    --------
    >>> surface_normal(np.array([0.0, 0.0, JUPITER.c])).tolist()
    [0.0, 0.0, 1.0]
    """
    n = np.asarray(points, dtype=np.float64) / body.radii**2
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def planetographic(points: np.ndarray, body: Ellipsoid = JUPITER) -> tuple[np.ndarray, np.ndarray]:
    """Planetographic latitude and west longitude (radians) of surface points.

    Parameters
    ----------
    points : numpy.ndarray, shape (..., 3)
        Points on (or near) the surface, body-fixed km.
    body : Ellipsoid

    Returns
    -------
    lat : numpy.ndarray
        Planetographic latitude in [-pi/2, pi/2].
    lon_west : numpy.ndarray
        System III west longitude in [0, 2 pi).

    Examples
    --------
    >>> lat, lon = planetographic(np.array([0.0, -JUPITER.a, 0.0]))
    >>> float(np.degrees(lon))
    90.0
    """
    n = surface_normal(points, body)
    lat = np.arcsin(np.clip(n[..., 2], -1.0, 1.0))
    # west longitude grows opposite to the right-handed angle about +Z
    lon = np.mod(-np.arctan2(n[..., 1], n[..., 0]), 2.0 * np.pi)
    return lat, lon


def surface_point(
    lat: np.ndarray | float, lon_west: np.ndarray | float, body: Ellipsoid = JUPITER
) -> np.ndarray:
    """Body-fixed point (km) at planetographic ``lat`` and west longitude ``lon_west``.

    The inverse of :func:`planetographic` for points on the surface.

    Examples
    --------
    >>> p = surface_point(np.radians(30.0), np.radians(120.0))
    >>> [round(float(np.degrees(v)), 9) for v in planetographic(p)]
    [30.0, 120.0]
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon_e = -np.asarray(lon_west, dtype=np.float64)
    # the normal at the point is (cos lat cos lon, cos lat sin lon, sin lat); the
    # point whose gradient x/a^2 is parallel to it is x = a^2 n / |a n|
    n = np.stack(
        np.broadcast_arrays(np.cos(lat) * np.cos(lon_e), np.cos(lat) * np.sin(lon_e), np.sin(lat)),
        axis=-1,
    )
    r = body.radii
    scaled = n * r
    return scaled * r / np.linalg.norm(scaled, axis=-1, keepdims=True)


def limb_miss(
    origin: np.ndarray, directions: np.ndarray, body: Ellipsoid = JUPITER
) -> tuple[np.ndarray, np.ndarray]:
    """How far rays pass from the limb, as an angle (radians, + outside the planet).

    In coordinates scaled so the ellipsoid is the unit sphere a ray is tangent to the
    limb exactly when its distance from the centre is 1. The returned angle is that
    distance minus 1 divided by its rate of change with the ray's angle at the limb,
    ``sqrt(D^2 - 1)`` for a scaled observer distance D: exact on the limb and a
    good first-order measure near it, which is where navigation uses it.

    Parameters
    ----------
    origin : numpy.ndarray, shape (3,) or (..., 3)
        Observer position (km), outside the body.
    directions : numpy.ndarray, shape (..., 3)
        Ray directions.
    body : Ellipsoid

    Returns
    -------
    miss : numpy.ndarray
        Approximate angle between each ray and the limb (radians).
    in_front : numpy.ndarray of bool
        Whether the closest approach lies in front of the observer.

    Examples
    --------
    >>> o = np.array([0.0, 0.0, 2.0 * JUPITER.c])
    >>> tangent = np.array([JUPITER.a, 0.0, -2.0 * JUPITER.c])  # towards the limb-ish
    >>> bool(abs(limb_miss(o, tangent[None])[0][0]) < 0.6)
    True
    """
    r = body.radii
    o = np.asarray(origin, dtype=np.float64) / r
    d = np.asarray(directions, dtype=np.float64) / r
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    along = np.einsum("...i,...i->...", o, d)
    oo = np.einsum("...i,...i->...", o, o)
    dist = np.sqrt(np.maximum(oo - along**2, 0.0))
    rate = np.sqrt(np.maximum(oo - 1.0, 1e-12))
    return (dist - 1.0) / rate, along < 0
