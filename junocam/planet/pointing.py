"""Where every framelet looked: the camera attitude and position per exposure.

A :class:`ViewGeometry` holds, for every exposure of a frame, the observer's
position and the rotation from that exposure's camera frame (JUNO_JUNOCAM) into
Jupiter's body-fixed frame, plus the camera model. With it a framelet pixel becomes
a ray on the planet and a planet point becomes a framelet pixel, in pure numpy.

It is built either from a CK (:func:`view_from_ck`, the attitude SPICE gives) or
from a :class:`Pointing` (:func:`view_from_pointing`): the camera attitude at the
spin model's reference exposure plus the self-calibrated spin (:mod:`junocam.spin`)
for the others. Navigation (:mod:`junocam.planet.navigate`) fits a Pointing to the limb.

Examples
--------
>>> import numpy as np
>>> from junocam.camera import CameraModel
>>> from junocam.planet.pointing import ViewGeometry
>>> v = ViewGeometry(CameraModel(), np.array([[0, 0, 3e5]]), np.eye(3)[None] * [1, -1, -1],
...                  np.array([[0, 0, 1.0]]))
>>> s, l, ok = v.project(np.array([[0.0, 0.0, 66854.0]]), 0, "green")
>>> round(float(s[0]), 2), round(float(l[0]), 2), bool(ok[0])
(814.21, 3.48, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..camera import CameraModel
from ..errors import GeometryError
from ..metadata import Filter
from ..spin import SpinModel, rotation_matrix
from .spheroid import JUPITER, Ellipsoid, intersect, surface_normal
from .spice import Ephemeris

__all__ = ["Pointing", "ViewGeometry", "view_from_ck", "view_from_pointing", "small_rotation"]


def small_rotation(vector: np.ndarray) -> np.ndarray:
    """Rotation matrix of a rotation vector (axis times angle in radians).

    Examples
    --------
    >>> np.allclose(small_rotation(np.zeros(3)), np.eye(3))
    True
    """
    v = np.asarray(vector, dtype=np.float64)
    angle = float(np.linalg.norm(v))
    if angle == 0.0:
        return np.eye(3)
    return rotation_matrix(v / angle, angle)


@dataclass(frozen=True)
class Pointing:
    """Camera attitude without a CK: one orientation plus the spin.

    Parameters
    ----------
    reference_to_j2000 : numpy.ndarray, shape (3, 3)
        Rotation from the camera frame at ``spin.reference_exposure`` (the stitcher's
        sky frame) into J2000.
    spin : SpinModel
        How the camera turns from exposure to exposure (fitted from the image).
    time_offset : float
        Seconds added to every exposure time of the timing model (jitter).

    Examples
    --------
    >>> p = Pointing(np.eye(3), SpinModel(0.078))
    >>> p.camera_to_j2000(np.array([0])).shape
    (1, 3, 3)
    """

    reference_to_j2000: np.ndarray
    spin: SpinModel
    time_offset: float = 0.0

    def __post_init__(self) -> None:
        r = np.asarray(self.reference_to_j2000, dtype=np.float64)
        if r.shape != (3, 3) or not np.allclose(r @ r.T, np.eye(3), atol=1e-6):
            raise GeometryError("reference_to_j2000 must be a 3x3 rotation matrix")
        object.__setattr__(self, "reference_to_j2000", r)

    def camera_to_j2000(self, exposures: np.ndarray) -> np.ndarray:
        """Camera-to-J2000 rotation of each exposure, shape (n, 3, 3)."""
        return self.reference_to_j2000 @ self.spin.rotation(np.asarray(exposures, np.float64))


@dataclass(frozen=True)
class ViewGeometry:
    """Per-exposure camera geometry in Jupiter's body-fixed frame.

    Parameters
    ----------
    camera : CameraModel
    observer : numpy.ndarray, shape (n, 3)
        Observer position per exposure, km.
    camera_to_body : numpy.ndarray, shape (n, 3, 3)
        Rotation from each exposure's camera frame to the body-fixed frame.
    sun : numpy.ndarray, shape (n, 3)
        Unit vector from the planet towards the Sun.
    body : Ellipsoid
    """

    camera: CameraModel
    observer: np.ndarray
    camera_to_body: np.ndarray
    sun: np.ndarray
    body: Ellipsoid = field(default=JUPITER)

    @property
    def n_exposures(self) -> int:
        """Number of exposures."""
        return int(self.observer.shape[0])

    def rays(
        self, exposure: int | np.ndarray, sample: np.ndarray, line: np.ndarray, band: Filter | str
    ) -> np.ndarray:
        """Body-fixed ray directions through framelet pixels (..., 3).

        ``exposure`` may be an array matching ``sample`` (one exposure per pixel).
        """
        cam = self.camera.pixel_to_ray(sample, line, band)
        m = self.camera_to_body[np.asarray(exposure)]
        return np.einsum("...ij,...j->...i", m, cam)

    def surface(
        self, exposure: int | np.ndarray, sample: np.ndarray, line: np.ndarray, band: Filter | str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Surface points hit by framelet pixels and whether each ray hits.

        Examples
        --------
        >>> v = ViewGeometry(CameraModel(), np.array([[0, 0, 3e5]]),
        ...                  np.eye(3)[None] * [1, -1, -1], np.array([[0, 0, 1.0]]))
        >>> p, ok = v.surface(0, np.array([814.21]), np.array([3.48]), "green")
        >>> p.round(3).tolist(), ok.tolist()
        ([[0.0, 0.0, 66854.0]], [True])
        """
        d = self.rays(exposure, sample, line, band)
        o = self.observer[np.asarray(exposure)]
        o = np.broadcast_to(o, d.shape) if np.ndim(exposure) else o
        return intersect(o, d, self.body)

    def project(
        self, points: np.ndarray, exposure: int, band: Filter | str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Framelet (sample, line) of body-fixed surface points in one exposure.

        Returns
        -------
        sample, line : numpy.ndarray
            Pixel coordinates (NaN behind the camera).
        visible : numpy.ndarray of bool
            The point faces the observer (emission angle below 90 degrees) and lies in
            front of the camera.
        """
        o = self.observer[exposure]
        v = o - points
        facing = np.einsum("...i,...i->...", surface_normal(points, self.body), v) > 0
        cam = np.einsum("ji,...j->...i", self.camera_to_body[exposure], -v)
        s, line = self.camera.ray_to_pixel(cam, band)
        return s, line, facing & (cam[..., 2] > 0)


def view_from_ck(ephemeris: Ephemeris, camera: CameraModel | None = None) -> ViewGeometry:
    """View geometry from a CK attitude (``ephemeris.camera_to_j2000``).

    Raises
    ------
    GeometryError
        If the ephemeris has no attitude (no CK was loaded).

    Examples
    --------
    Three green exposures during a synthetic pass whose kernels include a CK:

    >>> import tempfile
    >>> from datetime import datetime, timezone
    >>> from junocam.metadata import Companding, FrameMeta
    >>> from junocam.planet.simkernels import write_pass_kernels
    >>> from junocam.planet.spice import frame_ephemeris
    >>> truth = write_pass_kernels(tempfile.mkdtemp())
    >>> meta = FrameMeta("JNCS_TEST", (Filter.GREEN,), 384, Companding.SQROOT,
    ...                  start_time=datetime(2026, 11, 25, 12, tzinfo=timezone.utc),
    ...                  interframe_delay=0.372, exposure_duration=0.0096)
    >>> view = view_from_ck(frame_ephemeris(meta, truth.kernels))
    >>> view.camera_to_body.shape
    (3, 3, 3)

    The centre of the green framelet sees the planet in every exposure:

    >>> pts, ok = view.surface(np.arange(3), np.full(3, 814.0), np.full(3, 64.0), "green")
    >>> ok.tolist()
    [True, True, True]
    """
    if ephemeris.camera_to_j2000 is None:
        raise GeometryError("no camera attitude: load a CK or navigate from the limb")
    return ViewGeometry(
        camera=camera or CameraModel(),
        observer=ephemeris.observer,
        camera_to_body=ephemeris.j2000_to_body @ ephemeris.camera_to_j2000,
        sun=ephemeris.sun,
        body=ephemeris.body,
    )


def view_from_pointing(
    ephemeris: Ephemeris, pointing: Pointing, camera: CameraModel | None = None
) -> ViewGeometry:
    """View geometry from a fitted :class:`Pointing` and the SPK positions.

    The pointing's time offset moves the observer along its path; the spin phase
    it would change is part of the fitted orientation.

    Examples
    --------
    An observer 300 000 km above the north pole, moving at 10 km/s, and a camera
    looking straight down at the reference exposure; the pointing's half-second
    time offset moves the observer 5 km:

    >>> from junocam.planet.spheroid import JUPITER
    >>> eph = Ephemeris("X", np.zeros(2), ("", ""), np.array([[0, 0, 3e5]] * 2),
    ...                 np.array([[0, 10.0, 0]] * 2), np.array([[0, 0, 1.0]] * 2),
    ...                 np.stack([np.eye(3)] * 2), None, None, JUPITER)
    >>> down = np.diag([1.0, -1.0, -1.0])
    >>> view = view_from_pointing(eph, Pointing(down, SpinModel(0.078), time_offset=0.5))
    >>> view.observer[0].tolist(), view.camera_to_body.shape
    ([0.0, 5.0, 300000.0], (2, 3, 3))
    >>> s, line, ok = view.project(np.array([[0.0, 0.0, 66854.0]]), 0, "green")
    >>> round(float(s[0]), 2), round(float(line[0]), 2), bool(ok[0])
    (814.21, 3.51, True)
    """
    eph = ephemeris.shifted(pointing.time_offset) if pointing.time_offset else ephemeris
    cam = pointing.camera_to_j2000(np.arange(eph.n_exposures))
    return ViewGeometry(
        camera=camera or CameraModel(),
        observer=eph.observer,
        camera_to_body=eph.j2000_to_body @ cam,
        sun=eph.sun,
        body=eph.body,
    )
