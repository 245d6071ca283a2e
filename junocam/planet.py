"""Jupiter as an oblate spheroid: ray intersection, coordinates and lighting.

Pure numpy, no SPICE: every function takes positions and directions in Jupiter's
body-fixed frame (IAU_JUPITER: origin at the centre, +Z the north pole, +X the
prime meridian of System III) in kilometres and returns arrays. The SPICE layer
(:mod:`junocam.spice`) or the navigation (:mod:`junocam.navigate`) supply those
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
>>> from junocam.planet import JUPITER, intersect, planetographic
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

from .errors import GeometryError

__all__ = [
    "Ellipsoid",
    "JUPITER",
    "intersect",
    "surface_normal",
    "planetographic",
    "surface_point",
    "photometric_angles",
    "limb_miss",
    "Backplanes",
    "backplanes",
    "photometric_factor",
    "PHOTOMETRIC_MODELS",
]


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


def photometric_angles(
    points: np.ndarray,
    observer: np.ndarray,
    sun_direction: np.ndarray,
    body: Ellipsoid = JUPITER,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Incidence, emission and phase angles (radians) at surface points.

    Parameters
    ----------
    points : numpy.ndarray, shape (..., 3)
        Surface points, km.
    observer : numpy.ndarray, shape (3,) or (..., 3)
        Observer position, km (same frame).
    sun_direction : numpy.ndarray, shape (3,) or (..., 3)
        Unit vector from the planet towards the Sun (the Sun is far enough away that
        one direction serves the whole disc).
    body : Ellipsoid

    Returns
    -------
    incidence, emission, phase : numpy.ndarray
        Angles between the normal and the Sun, the normal and the observer, and the
        Sun and the observer as seen from the point.

    Examples
    --------
    >>> p = np.array([JUPITER.a, 0.0, 0.0])
    >>> i, e, g = photometric_angles(p, np.array([2e5, 0, 0]), np.array([0.0, 1.0, 0.0]))
    >>> [round(float(np.degrees(v)), 6) for v in (i, e, g)]
    [90.0, 0.0, 90.0]
    """
    n = surface_normal(points, body)
    s = np.asarray(sun_direction, dtype=np.float64)
    s = s / np.linalg.norm(s, axis=-1, keepdims=True)
    v = np.asarray(observer, dtype=np.float64) - points
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)

    def angle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.arccos(np.clip(np.einsum("...i,...i->...", x, y), -1.0, 1.0))

    return angle(n, s), angle(n, v), angle(s, v)


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


@dataclass(frozen=True)
class Backplanes:
    """Per-pixel geometry of an image (float32 arrays of one shape; NaN off the disc).

    Attributes
    ----------
    lat_deg : planetographic latitude (degrees).
    lon_west_deg : System III west longitude (degrees, [0, 360)).
    incidence_deg, emission_deg, phase_deg : photometric angles (degrees).
    """

    lat_deg: np.ndarray
    lon_west_deg: np.ndarray
    incidence_deg: np.ndarray
    emission_deg: np.ndarray
    phase_deg: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """Name -> array, e.g. for ``numpy.savez``."""
        return {
            "lat_deg": self.lat_deg,
            "lon_west_deg": self.lon_west_deg,
            "incidence_deg": self.incidence_deg,
            "emission_deg": self.emission_deg,
            "phase_deg": self.phase_deg,
        }

    @property
    def mu0(self) -> np.ndarray:
        """Cosine of the incidence angle (NaN off the disc)."""
        return np.cos(np.radians(self.incidence_deg))

    @property
    def mu(self) -> np.ndarray:
        """Cosine of the emission angle (NaN off the disc)."""
        return np.cos(np.radians(self.emission_deg))


def backplanes(
    points: np.ndarray,
    observer: np.ndarray,
    sun_direction: np.ndarray,
    body: Ellipsoid = JUPITER,
) -> Backplanes:
    """Latitude, longitude and photometric angles of surface points, in degrees.

    Examples
    --------
    >>> bp = backplanes(np.array([[JUPITER.a, 0, 0]]), np.array([2e5, 0, 0]),
    ...                 np.array([1.0, 0, 0]))
    >>> float(bp.incidence_deg[0]), float(bp.lon_west_deg[0])
    (0.0, 0.0)
    """
    lat, lon = planetographic(points, body)
    inc, emi, pha = photometric_angles(points, observer, sun_direction, body)

    def deg(x: np.ndarray) -> np.ndarray:
        return np.degrees(x).astype(np.float32)

    return Backplanes(deg(lat), deg(lon), deg(inc), deg(emi), deg(pha))


#: Photometric laws that :func:`photometric_factor` knows.
PHOTOMETRIC_MODELS = ("lambert", "lommel_seeliger", "minnaert")


def photometric_factor(
    mu0: np.ndarray,
    mu: np.ndarray,
    model: str = "minnaert",
    *,
    k: float = 0.9,
    min_mu0: float = 0.05,
    max_gain: float = 8.0,
) -> np.ndarray:
    """Brightness of a surface under a photometric law, relative to normal lighting.

    Dividing an image by this factor removes the illumination and viewing geometry
    (the disc looks evenly lit). Laws, with ``mu0 = cos(incidence)`` and
    ``mu = cos(emission)``:

    * ``lambert``: ``mu0``;
    * ``lommel_seeliger``: ``2 mu0 / (mu0 + mu)`` (1 at normal incidence and view);
    * ``minnaert``: ``mu0**k * mu**(k - 1)``.

    Parameters
    ----------
    mu0, mu : numpy.ndarray
        Cosines of the incidence and emission angles (same shape).
    model : str
        One of :data:`PHOTOMETRIC_MODELS`.
    k : float
        Minnaert exponent (1 = Lambert; Jupiter's clouds are near 0.8-1 in the visible).
    min_mu0 : float
        Pixels lit more obliquely than this get factor 0 (treat as unlit).
    max_gain : float
        The factor is kept >= 1 / max_gain so grazing pixels are not blown up.

    Returns
    -------
    numpy.ndarray
        float32 factor; 0 where unlit or unseen.

    Examples
    --------
    >>> photometric_factor(np.array([1.0, 0.5, 0.01]), np.array([1.0, 1.0, 1.0]), "lambert")
    array([1. , 0.5, 0. ], dtype=float32)
    """
    if model not in PHOTOMETRIC_MODELS:
        raise GeometryError(
            f"unknown photometric model {model!r}; choose one of {', '.join(PHOTOMETRIC_MODELS)}"
        )
    mu0 = np.asarray(mu0, dtype=np.float32)
    mu = np.asarray(mu, dtype=np.float32)
    ok = (mu0 >= min_mu0) & (mu > 0)
    m0 = np.where(ok, mu0, 1.0)
    m = np.where(ok, mu, 1.0)
    if model == "lambert":
        f = m0
    elif model == "lommel_seeliger":
        f = 2.0 * m0 / (m0 + m)
    else:
        f = m0**k * m ** (k - 1.0)
    f = np.maximum(f, 1.0 / max_gain)
    return np.where(ok, f, 0.0).astype(np.float32)
