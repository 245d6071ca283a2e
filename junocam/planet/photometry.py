"""Lighting and viewing on the spheroid: photometric angles, backplanes, photometric laws.

Pure numpy, no SPICE: given surface points, the observer and the Sun direction in
the body-fixed frame (km), :func:`photometric_angles` gives the incidence, emission
and phase angles, :func:`backplanes` a per-pixel set of latitude, longitude and
those angles (:class:`Backplanes`), and :func:`photometric_factor` the brightness a
photometric law (Lambert, Lommel-Seeliger, Minnaert) predicts, which the
``photometry`` stage divides out of a map.

Examples
--------
>>> import numpy as np
>>> from junocam.planet.photometry import photometric_factor
>>> mu0, mu = np.array([1.0, 0.5]), np.array([1.0, 1.0])
>>> photometric_factor(mu0, mu, "lambert").round(3).tolist()
[1.0, 0.5]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GeometryError
from .spheroid import JUPITER, Ellipsoid, planetographic, surface_normal

__all__ = [
    "photometric_angles",
    "Backplanes",
    "backplanes",
    "photometric_factor",
    "PHOTOMETRIC_MODELS",
]


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
