"""The JunoCam camera model: pixel <-> ray in the JUNO_JUNOCAM frame.

All numbers come from the NAIF instrument kernel ``juno_junocam_v03.ti`` [IK]
(see ``CAMERA.md`` of the shared test data for the summary):

* focal length 10.95637 mm, pixel size 0.0074 mm (INS-6150#_FOCAL_LENGTH, _PIXEL_SIZE),
  so the focal length is about 1480.6 pixels;
* optical centre sample cx = 814.21 for every band (INS-6150#_DISTORTION_X) and a
  per-band line cy measured from the first line of that band's framelet
  (INS-6150#_DISTORTION_Y): methane 315.48, blue 158.48, green 3.48, red -151.52.
  All four describe one optical centre at CCD line 600;
* radial distortion from undistorted to distorted coordinates about (cx, cy):
  ``x_d = x_u (1 + K1 r^2 + K2 r^4)`` with r the undistorted radius in pixels,
  K1 = -5.9624209455667325e-08, K2 = 2.7381910042256151e-14 (INS-6150#_DISTORTION_K1/K2).

Conventions: pixel coordinates are (sample, line) with (0, 0) the centre of the
upper-left pixel of a framelet, as in the IK's recipe. The camera frame has +X
along a line (increasing sample), +Y down the CCD (towards red) and +Z along the
boresight. Geometry is computed in float64: a thousandth of a pixel over 1600
pixels needs more precision than float32 carries.

Examples
--------
>>> import numpy as np
>>> from junocam.camera import CameraModel
>>> from junocam.metadata import Filter
>>> cam = CameraModel()
>>> ray = cam.pixel_to_ray(np.array([814.21]), np.array([3.48]), Filter.GREEN)
>>> np.round(ray / ray[..., 2:], 6)
array([[0., 0., 1.]])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .framelets import DARK_SAMPLES, PHOTOACTIVE_SAMPLES
from .metadata import FRAMELET_LINES, Filter

__all__ = ["CameraModel", "IK_BAND_CY", "IK_CX", "IK_K1", "IK_K2"]

#: INS-6150#_DISTORTION_X, the same for every band [IK juno_junocam_v03.ti].
IK_CX = 814.21
#: INS-6150#_DISTORTION_Y per band, lines from the band framelet's first line [IK].
IK_BAND_CY: Mapping[Filter, float] = MappingProxyType(
    {Filter.METHANE: 315.48, Filter.BLUE: 158.48, Filter.GREEN: 3.48, Filter.RED: -151.52}
)
#: INS-6150#_DISTORTION_K1 and _K2 [IK].
IK_K1 = -5.9624209455667325e-08
IK_K2 = 2.7381910042256151e-14
#: INS-6150#_FOCAL_LENGTH (mm) and _PIXEL_SIZE (mm) [IK].
IK_FOCAL_LENGTH_MM = 10.95637
IK_PIXEL_SIZE_MM = 0.0074


@dataclass(frozen=True)
class CameraModel:
    """JunoCam's pinhole-plus-radial-distortion camera model.

    Parameters
    ----------
    focal_length_mm, pixel_size_mm : float
        Focal length and pixel pitch in millimetres [IK].
    cx : float
        Optical centre sample (pixels) [IK].
    band_cy : tuple of 4 float
        Optical centre line of each band (methane, blue, green, red, the order of
        :class:`~junocam.metadata.Filter`), measured from that band framelet's first
        line (pixels) [IK].
    k1, k2 : float
        Radial distortion coefficients in pixel units (r in pixels) [IK].
    framelet_lines : int
        128 for full-resolution framelets.
    band_scale : tuple of 4 float
        Relative focal-length factor of each band (methane, blue, green, red), 1 in
        the IK. A refractive lens focuses colours slightly differently (lateral
        colour); :func:`junocam.spinfit.fit_spin` can refine these from the data.

    Examples
    --------
    >>> round(CameraModel().focal_px, 2)
    1480.59
    """

    focal_length_mm: float = IK_FOCAL_LENGTH_MM
    pixel_size_mm: float = IK_PIXEL_SIZE_MM
    cx: float = IK_CX
    band_cy: tuple[float, float, float, float] = (
        IK_BAND_CY[Filter.METHANE],
        IK_BAND_CY[Filter.BLUE],
        IK_BAND_CY[Filter.GREEN],
        IK_BAND_CY[Filter.RED],
    )
    k1: float = IK_K1
    k2: float = IK_K2
    framelet_lines: int = FRAMELET_LINES
    band_scale: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (about 1480.6)."""
        return self.focal_length_mm / self.pixel_size_mm

    @property
    def sample_range(self) -> tuple[float, float]:
        """First and last photoactive sample (inclusive) of a line."""
        return float(DARK_SAMPLES), float(DARK_SAMPLES + PHOTOACTIVE_SAMPLES - 1)

    def focal_for(self, band: Filter | str | None) -> float:
        """Focal length in pixels of ``band`` (``None``: the IK value).

        Examples
        --------
        >>> round(CameraModel(band_scale=(1, 1, 1, 1.001)).focal_for("red"), 2)
        1482.07
        """
        if band is None:
            return self.focal_px
        return self.focal_px * float(self.band_scale[list(Filter).index(Filter.parse(band))])

    def cy(self, band: Filter | str) -> float:
        """Optical centre line of ``band`` in its framelet's coordinates.

        Examples
        --------
        >>> CameraModel().cy("red")
        -151.52
        """
        return float(self.band_cy[list(Filter).index(Filter.parse(band))])

    # -- distortion -------------------------------------------------------------------
    @property
    def uniform_focal(self) -> bool:
        """True when every band has the same focal length (projection shared by bands)."""
        return len(set(self.band_scale)) == 1

    def distort(self, xu: np.ndarray, yu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Undistorted -> distorted focal-plane coordinates (pixels about the centre).

        Examples
        --------
        >>> xd, yd = CameraModel().distort(np.array([800.0]), np.array([0.0]))
        >>> round(float(xd[0]), 3)
        778.445
        """
        xu = np.asarray(xu, dtype=np.float64)
        yu = np.asarray(yu, dtype=np.float64)
        r2 = xu * xu + yu * yu
        dr = 1.0 + self.k1 * r2 + self.k2 * r2 * r2
        return xu * dr, yu * dr

    def undistort(
        self, xd: np.ndarray, yd: np.ndarray, tol: float = 1e-7, max_iter: int = 50
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distorted -> undistorted focal-plane coordinates, by fixed-point iteration.

        The IK gives no closed form; its recipe iterates ``x_u = x_d / dr(r_u)``. We
        iterate until every point moves less than ``tol`` pixels (a handful of
        iterations over the CCD, as the contraction factor is about 2 |K1| r^2 < 0.1).

        Examples
        --------
        >>> cam = CameraModel()
        >>> xu, yu = cam.undistort(*cam.distort(np.array([700.0]), np.array([-300.0])))
        >>> float(np.round(xu[0], 6)), float(np.round(yu[0], 6))
        (700.0, -300.0)
        """
        xd = np.asarray(xd, dtype=np.float64)
        yd = np.asarray(yd, dtype=np.float64)
        xu, yu = xd.copy(), yd.copy()
        for _ in range(max_iter):
            r2 = xu * xu + yu * yu
            dr = 1.0 + self.k1 * r2 + self.k2 * r2 * r2
            nx, ny = xd / dr, yd / dr
            step = np.max(np.abs(nx - xu), initial=0.0) + np.max(np.abs(ny - yu), initial=0.0)
            xu, yu = nx, ny
            if step < tol:
                break
        return xu, yu

    # -- pixels <-> rays ----------------------------------------------------------------
    def pixel_to_ray(self, sample: np.ndarray, line: np.ndarray, band: Filter | str) -> np.ndarray:
        """Rays (not normalised, z = focal length in pixels) through framelet pixels.

        Parameters
        ----------
        sample, line : numpy.ndarray
            Pixel coordinates in ``band``'s framelet (any matching shapes).
        band : Filter or str

        Returns
        -------
        numpy.ndarray
            float64, shape ``sample.shape + (3,)``, in the JUNO_JUNOCAM frame.

        Examples
        --------
        >>> round(float(CameraModel().pixel_to_ray([814.21], [158.48], "blue")[0, 2]), 3)
        1480.591
        """
        xd = np.asarray(sample, dtype=np.float64) - self.cx
        yd = np.asarray(line, dtype=np.float64) - self.cy(band)
        xu, yu = self.undistort(xd, yd)
        return np.stack([xu, yu, np.full_like(xu, self.focal_for(band))], axis=-1)

    def ray_to_focal(
        self, rays: np.ndarray, band: Filter | str | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rays -> distorted focal-plane coordinates about the optical centre.

        A band's framelet line is ``y_d + cy(band)``; ``band`` only selects the
        focal-length factor (all bands share it in the IK model).

        Returns
        -------
        xd, yd : numpy.ndarray
            Distorted coordinates in pixels (NaN behind the camera).
        in_front : numpy.ndarray
            Boolean, the ray points in front of the camera (z > 0).

        Examples
        --------
        >>> xd, yd, ok = CameraModel().ray_to_focal(np.array([[0.0, 0.0, 1.0]]))
        >>> float(xd[0]), float(yd[0]), bool(ok[0])
        (0.0, 0.0, True)
        """
        rays = np.asarray(rays, dtype=np.float64)
        z = rays[..., 2]
        in_front = z > 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            f = self.focal_for(band)
            scale = np.where(in_front, f / np.where(in_front, z, 1.0), np.nan)
        xd, yd = self.distort(rays[..., 0] * scale, rays[..., 1] * scale)
        return xd, yd, in_front

    def ray_to_pixel(self, rays: np.ndarray, band: Filter | str) -> tuple[np.ndarray, np.ndarray]:
        """Rays -> (sample, line) in ``band``'s framelet (NaN behind the camera).

        Examples
        --------
        >>> cam = CameraModel()
        >>> s, l = cam.ray_to_pixel(cam.pixel_to_ray(np.array([100.0]), np.array([5.0]), "red"),
        ...                         "red")
        >>> round(float(s[0]), 6), round(float(l[0]), 6)
        (100.0, 5.0)
        """
        xd, yd, _ = self.ray_to_focal(rays, band)
        return xd + self.cx, yd + self.cy(band)
