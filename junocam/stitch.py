"""Seamless stitching: every framelet of every band onto one common output grid.

For each output pixel we know a direction on the sky (the *sky frame* is the camera
frame at the spin model's reference exposure). For every exposure the spin model
rotates that direction into the camera frame of the exposure, the camera model
projects it onto the CCD, and the CCD line tells which band's framelet (if any) saw
it. The framelet is sampled there (bilinear by default) and overlapping framelets
are blended with feathered weights that fall to nearly zero at framelet edges, so
no seam shows. All bands share the grid, so the band images are co-registered
by construction and colour composition needs no further alignment.

Two grids are provided:

* :class:`CylinderGrid`: the *spin cylinder*, azimuth about the spin axis down the
  rows and ``f * tan(elevation)`` across the columns; at the centre one output
  pixel is one detector pixel. A turn about the spin axis is a pure row shift.
* :class:`PerspectiveGrid`: a virtual pinhole camera looking in any direction,
  for example at the target's brightness centroid.

Examples
--------
>>> import numpy as np
>>> from junocam.camera import CameraModel
>>> from junocam.framelets import split
>>> from junocam.spin import SpinModel
>>> strip = np.ones((4 * 128, 1648), np.float32)
>>> fr = split(strip, ["RED"])
>>> spin = SpinModel.nominal(0.372, reference_exposure=1.5)
>>> grid = CylinderGrid.covering(fr, CameraModel(), spin)
>>> out = stitch(fr, CameraModel(), spin, grid)
>>> bool(np.allclose(out.bands["RED"][out.masks["RED"]], 1.0))
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from .camera import CameraModel
from .errors import GeometryError
from .framelets import Framelets
from .metadata import Filter
from .spin import SpinModel

__all__ = [
    "CylinderGrid",
    "PerspectiveGrid",
    "StitchResult",
    "stitch",
    "framelet_footprints",
    "resample_framelets",
    "brightness_centroid",
    "perspective_grid_for",
]

Grid = "CylinderGrid | PerspectiveGrid"


def _spin_basis(spin: SpinModel) -> np.ndarray:
    """Rows u_x, u_y, u_z of a right-handed basis with u_x = -spin axis (close to +X)."""
    ux = -spin.axis
    z = np.array([0.0, 0.0, 1.0])
    uz = z - (z @ ux) * ux
    uz /= np.linalg.norm(uz)
    uy = np.cross(uz, ux)
    return np.stack([ux, uy, uz])


@dataclass(frozen=True)
class CylinderGrid:
    """The spin-cylinder output grid.

    Row ``r`` is azimuth ``(r - row0) / scale`` (radians) about the spin axis, column
    ``c`` is ``tan(elevation) = (c - col0) / scale``; ``scale`` is pixels per radian
    at the centre (default: the focal length in pixels, one detector pixel per
    output pixel). Azimuth 0 is the reference exposure's boresight.

    Parameters
    ----------
    shape : tuple of int
        (rows, cols) of the output.
    row0, col0 : float
        Output pixel of azimuth 0 and elevation 0.
    scale : float
        Output pixels per radian.
    basis : tuple of 9 float
        Row-major rows u_x (minus the spin axis), u_y, u_z in the sky frame.

    Examples
    --------
    >>> g = CylinderGrid((10, 20), 5.0, 10.0, 1000.0, tuple(np.eye(3).ravel()))
    >>> np.round(g.rays(slice(5, 6), slice(10, 11))[0, 0], 6)
    array([0., 0., 1.])
    """

    shape: tuple[int, int]
    row0: float
    col0: float
    scale: float
    basis: tuple[float, ...]

    @property
    def _b(self) -> np.ndarray:
        return np.asarray(self.basis, dtype=np.float64).reshape(3, 3)

    @classmethod
    def for_spin(
        cls, spin: SpinModel, shape: tuple[int, int], row0: float, col0: float, scale: float
    ) -> CylinderGrid:
        """A grid whose axis is ``spin``'s axis."""
        return cls(
            (int(shape[0]), int(shape[1])), row0, col0, scale, tuple(_spin_basis(spin).ravel())
        )

    @classmethod
    def covering(
        cls,
        framelets: Framelets,
        camera: CameraModel,
        spin: SpinModel,
        scale: float | None = None,
        margin: int = 2,
    ) -> CylinderGrid:
        """The smallest spin-cylinder grid that holds every framelet of ``framelets``.

        Parameters
        ----------
        framelets : Framelets
            Only its shape and filters are used.
        camera, spin : CameraModel, SpinModel
        scale : float, optional
            Output pixels per radian; defaults to the focal length in pixels.
        margin : int
            Extra pixels around the footprint.

        Examples
        --------
        >>> from junocam.framelets import split
        >>> fr = split(np.zeros((3 * 384, 1648), np.float32), ["BLUE", "GREEN", "RED"])
        >>> g = CylinderGrid.covering(fr, CameraModel(), SpinModel.nominal(0.372))
        >>> g.shape[1] > 1600
        True
        """
        scale = camera.focal_px if scale is None else float(scale)
        basis = _spin_basis(spin)
        lo = np.array([np.inf, np.inf])
        hi = -lo
        for i, band, s, ln in _framelet_borders(framelets, camera):
            rays = camera.pixel_to_ray(s, ln, band) @ spin.rotation(i).T
            az, tan_el = _cylinder_coords(rays, basis)
            lo = np.minimum(lo, [az.min(), tan_el.min()])
            hi = np.maximum(hi, [az.max(), tan_el.max()])
        row0 = -lo[0] * scale + margin
        col0 = -lo[1] * scale + margin
        rows = int(math.ceil((hi[0] - lo[0]) * scale)) + 2 * margin + 1
        cols = int(math.ceil((hi[1] - lo[1]) * scale)) + 2 * margin + 1
        return cls((rows, cols), float(row0), float(col0), float(scale), tuple(basis.ravel()))

    def rays(self, rows: slice, cols: slice) -> np.ndarray:
        """Unit sky-frame directions of the output pixels ``[rows, cols]``, (h, w, 3)."""
        r = np.arange(self.shape[0], dtype=np.float64)[rows]
        c = np.arange(self.shape[1], dtype=np.float64)[cols]
        return self.rays_at(r[:, None], c[None, :])

    def rays_at(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Unit sky-frame directions at (broadcastable) fractional pixel positions."""
        # azimuth depends on the row and elevation on the column only: evaluate the
        # trigonometry on the inputs' own (often 1-D) shapes, then broadcast
        az = (np.asarray(r, dtype=np.float64) - self.row0) / self.scale
        t = (np.asarray(c, dtype=np.float64) - self.col0) / self.scale
        b = self._b
        inv = 1.0 / np.sqrt(1.0 + t * t)
        return (t * inv)[..., None] * b[0] + (
            np.sin(az)[..., None] * b[1] + np.cos(az)[..., None] * b[2]
        ) * inv[..., None]

    def to_pixel(self, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sky-frame directions -> fractional (row, col) on this grid."""
        az, tan_el = _cylinder_coords(rays, self._b)
        return self.row0 + az * self.scale, self.col0 + tan_el * self.scale


def _cylinder_coords(rays: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = rays @ basis[0]
    y = rays @ basis[1]
    z = rays @ basis[2]
    rho = np.hypot(y, z)
    return np.arctan2(y, z), x / rho


@dataclass(frozen=True)
class PerspectiveGrid:
    """A virtual pinhole camera in the sky frame.

    Parameters
    ----------
    shape : tuple of int
        (rows, cols).
    focal : float
        Focal length in output pixels.
    center : tuple of float
        (row, col) of the optical axis in the output.
    rotation : tuple of 9 float
        Row-major 3x3 matrix whose columns are the virtual camera's x (columns),
        y (rows) and z (viewing direction) axes in the sky frame.

    Examples
    --------
    >>> g = PerspectiveGrid.looking_at([0, 0, 1], fov_deg=10.0, size=(101, 101))
    >>> np.round(g.rays(slice(50, 51), slice(50, 51))[0, 0], 6)
    array([0., 0., 1.])
    """

    shape: tuple[int, int]
    focal: float
    center: tuple[float, float]
    rotation: tuple[float, ...]

    @property
    def _r(self) -> np.ndarray:
        return np.asarray(self.rotation, dtype=np.float64).reshape(3, 3)

    @classmethod
    def looking_at(
        cls,
        direction: Sequence[float] | np.ndarray,
        fov_deg: float,
        size: tuple[int, int],
        up: Sequence[float] | np.ndarray = (0.0, -1.0, 0.0),
        roll_deg: float = 0.0,
    ) -> PerspectiveGrid:
        """A virtual camera looking along ``direction`` with a horizontal field of view.

        Parameters
        ----------
        direction : array_like (3,)
            Viewing direction in the sky frame.
        fov_deg : float
            Field of view across the columns, degrees (0 < fov < 170).
        size : (rows, cols)
        up : array_like (3,)
            Sky direction that should point up in the image (default: the camera's
            -Y, so the view is oriented like a raw framelet).
        roll_deg : float
            Extra rotation about the viewing direction, degrees.

        Raises
        ------
        GeometryError
            For a zero direction, a field of view out of range or an empty size.
        """
        d = np.asarray(direction, dtype=np.float64)
        if not np.all(np.isfinite(d)) or np.linalg.norm(d) == 0:
            raise GeometryError(f"viewing direction {list(d)} is not a direction")
        if not (0.0 < fov_deg < 170.0):
            raise GeometryError(f"field of view {fov_deg} degrees is outside (0, 170)")
        rows, cols = int(size[0]), int(size[1])
        if rows < 1 or cols < 1:
            raise GeometryError(f"output size {size} is empty")
        z = d / np.linalg.norm(d)
        u = np.asarray(up, dtype=np.float64)
        y = -(u - (u @ z) * z)
        if np.linalg.norm(y) < 1e-9:
            y = np.array([0.0, 1.0, 0.0]) - z[1] * z
        y /= np.linalg.norm(y)
        x = np.cross(y, z)
        if roll_deg:
            c, s = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
            x, y = c * x + s * y, -s * x + c * y
        focal = (cols / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
        rot = np.stack([x, y, z], axis=1)
        return cls((rows, cols), focal, ((rows - 1) / 2.0, (cols - 1) / 2.0), tuple(rot.ravel()))

    def rays(self, rows: slice, cols: slice) -> np.ndarray:
        """Unit sky-frame directions of the output pixels ``[rows, cols]``, (h, w, 3)."""
        r = np.arange(self.shape[0], dtype=np.float64)[rows]
        c = np.arange(self.shape[1], dtype=np.float64)[cols]
        return self.rays_at(r[:, None], c[None, :])

    def rays_at(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Unit sky-frame directions at (broadcastable) fractional pixel positions."""
        r, c = np.broadcast_arrays(np.asarray(r, np.float64), np.asarray(c, np.float64))
        v = np.stack(
            [(c - self.center[1]) / self.focal, (r - self.center[0]) / self.focal, np.ones_like(r)],
            axis=-1,
        )
        d = v @ self._r.T
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def to_pixel(self, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sky-frame directions -> fractional (row, col) (NaN behind the camera)."""
        v = np.asarray(rays, dtype=np.float64) @ self._r
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(v[..., 2] > 0, v[..., 2], np.nan)
            return self.center[0] + self.focal * v[..., 1] / z, self.center[1] + self.focal * v[
                ..., 0
            ] / z


@dataclass(frozen=True, eq=False)
class StitchResult:
    """Band images on one grid.

    Attributes
    ----------
    bands : dict of Filter -> numpy.ndarray
        float32 images in the input's units (linear DN), 0 where not covered.
        Keys are also reachable by name (``result.bands["RED"]`` works via
        :class:`_BandDict`).
    masks : dict of Filter -> numpy.ndarray
        Boolean coverage masks.
    grid : CylinderGrid or PerspectiveGrid
    spin : SpinModel
    """

    bands: Mapping[Filter, np.ndarray]
    masks: Mapping[Filter, np.ndarray]
    grid: CylinderGrid | PerspectiveGrid
    spin: SpinModel


class _BandDict(dict):
    """A dict keyed by Filter that also accepts filter names."""

    def __getitem__(self, key: object) -> np.ndarray:
        return super().__getitem__(Filter.parse(key))

    def __contains__(self, key: object) -> bool:
        try:
            return super().__contains__(Filter.parse(key))
        except Exception:
            return False


def _framelet_borders(
    framelets: Framelets, camera: CameraModel, step: int = 16
) -> Iterator[tuple[int, Filter, np.ndarray, np.ndarray]]:
    """Border pixels of the first and last exposure's framelets of every band."""
    s0, s1 = camera.sample_range
    lines = framelets.framelet_lines
    s = np.append(np.arange(s0, s1, step), s1)
    ln = np.append(np.arange(0, lines - 1, step), lines - 1).astype(np.float64)
    bs = np.concatenate([s, s, np.full(ln.size, s0), np.full(ln.size, s1)])
    bl = np.concatenate([np.zeros(s.size), np.full(s.size, lines - 1.0), ln, ln])
    for i in sorted({0, framelets.n_exposures - 1}):
        for band in framelets.filters:
            yield i, band, bs, bl


def feather_weight(line: np.ndarray, lines: int, feather: float) -> np.ndarray:
    """Blending weight of a framelet sample by its distance to the framelet's edges.

    A smooth ramp from about 0 at the first/last line to 1 at ``feather`` lines in.

    Examples
    --------
    >>> np.round(feather_weight(np.array([0.0, 4.0, 64.0]), 128, 8.0), 3)
    array([0.011, 0.593, 1.   ], dtype=float32)
    """
    d = np.minimum(line, (lines - 1) - line) + 0.5
    t = np.clip(d / max(feather, 1e-6), 0.0, 1.0)
    w = t * t * (3.0 - 2.0 * t)
    return np.maximum(w, 1e-3).astype(np.float32)


@dataclass(frozen=True)
class _Footprint:
    """Where one exposure lands on the grid: a bounding box and CCD coordinates."""

    rows: slice
    cols: slice
    rays: np.ndarray
    xd: np.ndarray
    yd: np.ndarray
    ok: np.ndarray


def _rotated(
    grid: CylinderGrid | PerspectiveGrid, rot: np.ndarray
) -> CylinderGrid | PerspectiveGrid:
    """The grid whose rays are ``grid``'s rays @ ``rot``: the rotation folded into its
    basis, which spares a 3 x 3 product over every pixel."""
    if isinstance(grid, CylinderGrid):
        return replace(grid, basis=tuple((grid._b @ rot).ravel()))
    # normalising commutes with a rotation
    return replace(grid, rotation=tuple((np.asarray(rot).T @ grid._r).ravel()))


def _exposure_footprint(
    grid: CylinderGrid | PerspectiveGrid,
    camera: CameraModel,
    rot: np.ndarray,
    y_lo: float,
    y_hi: float,
    step: int = 16,
) -> _Footprint | None:
    """Distorted CCD coordinates of the grid pixels one exposure can see."""
    h, w = grid.shape
    rr = np.unique(np.append(np.arange(0, h, step), h - 1))
    cc = np.unique(np.append(np.arange(0, w, step), w - 1))
    seen = _rotated(grid, rot)  # its rays are the grid's rays @ rot
    xd, yd, ok = camera.ray_to_focal(seen.rays_at(rr[:, None], cc[None, :]))
    s0, s1 = camera.sample_range
    pad = 2.0 * step
    with np.errstate(invalid="ignore"):
        near = (
            ok
            & (yd >= y_lo - pad)
            & (yd <= y_hi + pad)
            & (xd + camera.cx >= s0 - pad)
            & (xd + camera.cx <= s1 + pad)
        )
    if not near.any():
        return None
    ri = np.flatnonzero(near.any(axis=1))
    ci = np.flatnonzero(near.any(axis=0))
    r0 = max(int(rr[ri[0]]) - step, 0)
    r1 = min(int(rr[ri[-1]]) + step + 1, h)
    c0 = max(int(cc[ci[0]]) - step, 0)
    c1 = min(int(cc[ci[-1]]) + step + 1, w)
    rows, cols = slice(r0, r1), slice(c0, c1)
    rays = seen.rays(rows, cols)
    xd, yd, ok = camera.ray_to_focal(rays)
    return _Footprint(rows, cols, rays, xd, yd, ok)


@dataclass(frozen=True)
class FrameletSample:
    """One framelet resampled onto (a box of) the output grid.

    Attributes
    ----------
    exposure : int
    band : Filter
    rows, cols : slice
        The box of the output grid.
    valid : numpy.ndarray
        Boolean (h, w): the framelet covers the pixel.
    values : numpy.ndarray
        float32 (h, w), 0 where not valid.
    weights : numpy.ndarray
        float32 (h, w) feather weights, 0 where not valid.
    """

    exposure: int
    band: Filter
    rows: slice
    cols: slice
    valid: np.ndarray
    values: np.ndarray
    weights: np.ndarray


def framelet_footprints(
    framelets: Framelets,
    camera: CameraModel,
    spin: SpinModel,
    grid: CylinderGrid | PerspectiveGrid,
    *,
    bands: Sequence[Filter | str] | None = None,
    order: int = 1,
    feather: float = 8.0,
    trim_lines: int = 0,
) -> Iterator[FrameletSample]:
    """Resample every framelet onto the grid, one at a time (inverse mapping).

    This is the building block of :func:`stitch` and of the spin self-calibration.

    Parameters
    ----------
    framelets : Framelets
        Linear float data (use :func:`junocam.companding.decompand` first).
    camera, spin, grid
        The geometry.
    bands : sequence of Filter, optional
        Bands to resample (default all).
    order : int
        Spline order of the interpolation: 1 (bilinear) or 3 (cubic).
    feather : float
        Width (lines) of the blending ramp at framelet edges.
    trim_lines : int
        Lines dropped at the top and bottom of every framelet (edge artefacts).

    Yields
    ------
    FrameletSample
    """
    wanted = _check_args(framelets, camera, bands, order)
    lines = framelets.framelet_lines
    cys = {b: camera.cy(b) for b in wanted}
    y_lo = min(-cy for cy in cys.values())
    y_hi = max(lines - 1 - cy for cy in cys.values())
    # the footprint search uses the IK focal length; a few per mille of band scale
    # moves pixels by less than its margin
    for i in range(framelets.n_exposures):
        fp = _exposure_footprint(grid, camera, spin.rotation(i), y_lo, y_hi)
        if fp is None:
            continue
        for band in wanted:
            if camera.uniform_focal:
                xd, yd, ok = fp.xd, fp.yd, fp.ok
            else:
                xd, yd, ok = camera.ray_to_focal(fp.rays, band)
            # the box's distorted focal-plane coordinates as CCD (line, sample)
            fs = _sample_ccd(
                framelets,
                camera,
                i,
                band,
                (fp.rows, fp.cols),
                (yd + camera.cy(band), xd + camera.cx, ok),
                order,
                feather,
                trim_lines,
            )
            if fs is not None:
                yield fs


def _check_args(
    framelets: Framelets, camera: CameraModel, bands: Sequence[Filter | str] | None, order: int
) -> tuple[Filter, ...]:
    """The bands to resample, after checking the order and the framelet height."""
    if order not in (0, 1, 3):
        raise GeometryError(f"interpolation order must be 0, 1 or 3, got {order}")
    lines = framelets.framelet_lines
    if lines != camera.framelet_lines:
        raise GeometryError(
            f"framelets have {lines} lines but the camera model expects {camera.framelet_lines}"
            " (2x2 summed products are not supported by the stitcher yet)"
        )
    return framelets.filters if bands is None else tuple(Filter.parse(b) for b in bands)


def bilinear(img: np.ndarray, line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Bilinear values of a 2-D image at (line, sample) points, edges repeated.

    ``ndimage.map_coordinates(img, [line, sample], order=1, mode="nearest")`` to
    float32 rounding, three to four times faster: four ``np.take`` gathers and a few
    float32 operations instead of a general spline evaluator.

    Parameters
    ----------
    img : numpy.ndarray
        (lines, samples) float32.
    line, sample : numpy.ndarray
        Coordinates (pixels), any matching shapes.

    Returns
    -------
    numpy.ndarray
        float32, the shape of ``line``.

    Examples
    --------
    >>> img = np.arange(12, dtype=np.float32).reshape(3, 4)
    >>> bilinear(img, np.array([0.5, 2.0, 5.0]), np.array([1.5, 3.0, -1.0])).tolist()
    [3.5, 11.0, 8.0]
    """
    h, w = img.shape
    r = np.clip(np.asarray(line, dtype=np.float64), 0.0, h - 1)
    c = np.clip(np.asarray(sample, dtype=np.float64), 0.0, w - 1)
    r0 = np.minimum(r.astype(np.intp), max(h - 2, 0))
    c0 = np.minimum(c.astype(np.intp), max(w - 2, 0))
    tr = (r - r0).astype(np.float32)
    tc = (c - c0).astype(np.float32)
    flat = img.reshape(-1)
    i = r0 * w + c0
    dc = 1 if w > 1 else 0
    dr = w if h > 1 else 0
    top = np.take(flat, i)
    top += (np.take(flat, i + dc) - top) * tc
    bot = np.take(flat, i + dr)
    bot += (np.take(flat, i + dr + dc) - bot) * tc
    top += (bot - top) * tr
    return top


def _sample_ccd(
    framelets: Framelets,
    camera: CameraModel,
    exposure: int,
    band: Filter,
    box: tuple[slice, slice],
    ccd: tuple[np.ndarray, np.ndarray, np.ndarray],
    order: int,
    feather: float,
    trim_lines: int,
) -> FrameletSample | None:
    """Resample one framelet on a grid box from the box's CCD (line, sample) coordinates
    and in-front flags (arrays this function may change); None when it does not cover
    the box."""
    line, sample, ok = ccd
    lines = framelets.framelet_lines
    s0, s1 = camera.sample_range
    l0, l1 = float(trim_lines), float(lines - 1 - trim_lines)
    with np.errstate(invalid="ignore"):
        valid = ok & (sample >= s0) & (sample <= s1) & (line >= l0) & (line <= l1)
    if not valid.any():
        return None
    img = np.asarray(framelets.data[exposure, framelets.index(band)], dtype=np.float32)
    n_lines = int(l1 - l0) + 1
    if order != 1:
        vals = np.zeros(valid.shape, np.float32)
        vals[valid] = ndimage.map_coordinates(
            img,
            np.stack([line[valid], sample[valid]]),
            order=order,
            mode="nearest",
            prefilter=order > 1,
        )
        wts = np.zeros(valid.shape, np.float32)
        wts[valid] = feather_weight(line[valid] - l0, n_lines, feather)
        return FrameletSample(exposure, band, box[0], box[1], valid, vals, wts)
    # bilinear over the whole box, the uncovered pixels at an in-range point and
    # zeroed after: cheaper than gathering the covered pixels and scattering them
    # back (a box is mostly covered); the covered pixels get the same arithmetic
    # by row bands, so that the temporaries (a dozen arrays) stay small
    vals = np.empty(valid.shape, np.float32)
    wts = np.empty(valid.shape, np.float32)
    for r0 in range(0, valid.shape[0], _BOX_ROWS):
        rows = slice(r0, r0 + _BOX_ROWS)
        ln, sm, invalid = line[rows], sample[rows], ~valid[rows]
        np.copyto(ln, l0, where=invalid)
        np.copyto(sm, s0, where=invalid)
        v = vals[rows]
        v[...] = _bilinear_in_range(img, ln, sm)
        v[invalid] = 0.0
        if l0:
            ln -= l0
        wt = wts[rows]
        wt[...] = feather_weight(ln, n_lines, feather)
        wt[invalid] = 0.0
    return FrameletSample(exposure, band, box[0], box[1], valid, vals, wts)


#: rows of a framelet's box resampled at once (about 100 k pixels: temporaries of a
#: few MB, in the cache's reach)
_BOX_ROWS = 64


def _bilinear_in_range(img: np.ndarray, line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """:func:`bilinear` for coordinates known to lie in the image (no clipping), in
    the coordinates' own precision (float32 or float64) and with few passes."""
    h, w = img.shape
    fr = np.floor(line)
    np.minimum(fr, max(h - 2, 0), out=fr)
    fc = np.floor(sample)
    np.minimum(fc, max(w - 2, 0), out=fc)
    tr = np.subtract(line, fr).astype(np.float32, copy=False)
    tc = np.subtract(sample, fc).astype(np.float32, copy=False)
    i = fr.astype(np.intp)
    i *= w
    i += fc.astype(np.intp)
    del fr, fc
    flat = img.reshape(-1)
    dc = 1 if w > 1 else 0
    dr = w if h > 1 else 0
    top = np.take(flat, i)
    i += dc
    right = np.take(flat, i)
    right -= top
    right *= tc
    top += right
    i += dr
    bot = np.take(flat, i, out=right)
    i -= dc
    left = np.take(flat, i)
    bot -= left
    bot *= tc
    bot += left
    bot -= top
    bot *= tr
    top += bot
    return top


def _shares_spin_axis(grid: CylinderGrid | PerspectiveGrid, spin: SpinModel) -> bool:
    """Whether a turn about the spin axis is a pure row shift on ``grid``."""
    return isinstance(grid, CylinderGrid) and bool(
        np.allclose(grid._b, _spin_basis(spin), rtol=0.0, atol=1e-12)
    )


def _shifted_map_footprints(
    framelets: Framelets,
    camera: CameraModel,
    spin: SpinModel,
    grid: CylinderGrid,
    wanted: Sequence[Filter],
    order: int,
    feather: float,
    trim_lines: int,
) -> Iterator[FrameletSample]:
    """:func:`framelet_footprints` for a spin cylinder about the spin axis itself.

    There, exposure ``i`` sees at grid row ``r`` what the reference exposure sees at
    row ``r - angle_i * scale``: one inverse map per band (rays, rotation, lens
    distortion), computed once at the reference exposure, serves every framelet of
    the band, shifted by whole rows and interpolated linearly over the fractional
    row. The map's curvature is below 1e-3 px per row squared, so that
    interpolation is good to about 1e-4 px. Each framelet's box is its band's own
    (the general path uses one box for all bands of an exposure).
    """
    h, w = grid.shape
    shifts = spin.angles(np.arange(framelets.n_exposures)) * grid.scale
    for band in wanted:
        # the band's framelet at the reference exposure (camera frame = sky frame)
        _, _, bs, bl = next(_framelet_borders(framelets, camera, step=8))
        r, c = grid.to_pixel(camera.pixel_to_ray(bs, bl, band))
        r0, r1 = math.floor(r.min()) - 3, math.ceil(r.max()) + 4
        c0, c1 = max(math.floor(c.min()) - 3, 0), min(math.ceil(c.max()) + 4, w)
        rows = np.arange(r0, r1, dtype=np.float64)
        cols = np.arange(c0, c1, dtype=np.float64)
        # the map in CCD pixels, float32 (a few 1e-5 px at 1648 samples, well below the
        # shared map's 1e-4 px) and as row differences: line = L[j] + f (L[j-1] - L[j]);
        # made by row bands (the rays and the lens model's temporaries are float64)
        ml = np.empty((rows.size, cols.size), np.float32)
        ms = np.empty_like(ml)
        mok = np.empty(ml.shape, bool)
        for a in range(0, rows.size, _BOX_ROWS):
            part = slice(a, a + _BOX_ROWS)
            mx, my, mok[part] = camera.ray_to_focal(
                grid.rays_at(rows[part, None], cols[None, :]), band
            )
            with np.errstate(invalid="ignore"):
                np.add(my, camera.cy(band), out=my)
                ml[part] = my
                np.add(mx, camera.cx, out=mx)
                ms[part] = mx
            del mx, my
        dl, ds = np.empty_like(ml), np.empty_like(ms)
        with np.errstate(invalid="ignore"):
            np.subtract(ml[:-1], ml[1:], out=dl[1:])
            np.subtract(ms[:-1], ms[1:], out=ds[1:])
        dl[0] = ds[0] = np.nan  # never used: row j - 1 exists for every output row
        pair_ok = np.zeros_like(mok)
        np.logical_and(mok[1:], mok[:-1], out=pair_ok[1:])
        del mok
        for i in range(framelets.n_exposures):
            k = math.floor(shifts[i])
            f = np.float32(shifts[i] - k)
            # output row q uses map rows j - 1 and j, j = q - k - r0
            q0, q1 = max(r0 + k + 1, 0), min(r1 + k, h)
            if q1 <= q0:
                continue
            j = slice(q0 - k - r0, q1 - k - r0)
            with np.errstate(invalid="ignore"):
                line = np.multiply(dl[j], f)
                line += ml[j]
                sample = np.multiply(ds[j], f)
                sample += ms[j]
            fs = _sample_ccd(
                framelets,
                camera,
                i,
                band,
                (slice(q0, q1), slice(c0, c1)),
                (line, sample, pair_ok[j]),
                order,
                feather,
                trim_lines,
            )
            if fs is not None:
                yield fs


def resample_framelets(
    framelets: Framelets,
    camera: CameraModel,
    spin: SpinModel,
    grid: CylinderGrid | PerspectiveGrid,
    *,
    bands: Sequence[Filter | str] | None = None,
    order: int = 1,
    feather: float = 8.0,
    trim_lines: int = 0,
) -> Iterator[FrameletSample]:
    """Resample every framelet onto the grid by the fastest exact route.

    On a spin cylinder about ``spin``'s own axis a turn is a pure row shift, so one
    inverse map per band serves every exposure (about 1e-4 px from the per-framelet
    maps); any other grid takes :func:`framelet_footprints`. Parameters and yielded
    samples as for :func:`framelet_footprints` (the shared-map route boxes each band
    on its own).

    Examples
    --------
    >>> from junocam.framelets import split
    >>> fr = split(np.ones((2 * 128, 1648), np.float32), ["GREEN"])
    >>> sp = SpinModel.nominal(0.372)
    >>> grid = CylinderGrid.covering(fr, CameraModel(), sp)
    >>> [s.exposure for s in resample_framelets(fr, CameraModel(), sp, grid)]
    [0, 1]
    """
    wanted = _check_args(framelets, camera, bands, order)
    if _shares_spin_axis(grid, spin):
        assert isinstance(grid, CylinderGrid)
        return _shifted_map_footprints(
            framelets, camera, spin, grid, wanted, order, feather, trim_lines
        )
    return framelet_footprints(
        framelets,
        camera,
        spin,
        grid,
        bands=wanted,
        order=order,
        feather=feather,
        trim_lines=trim_lines,
    )


def stitch(
    framelets: Framelets,
    camera: CameraModel,
    spin: SpinModel,
    grid: CylinderGrid | PerspectiveGrid,
    *,
    bands: Sequence[Filter | str] | None = None,
    order: int = 1,
    feather: float = 8.0,
    trim_lines: int = 0,
) -> StitchResult:
    """Resample all framelets of all bands onto one grid and blend them seamlessly.

    Parameters
    ----------
    framelets : Framelets
        Linear float data, shape (n_exposures, n_filters, 128, 1648).
    camera : CameraModel
    spin : SpinModel
        Usually fitted with :func:`junocam.spinfit.fit_spin`.
    grid : CylinderGrid or PerspectiveGrid
    bands : sequence of Filter, optional
        Bands to stitch (default: all of the frame's).
    order : int
        Interpolation spline order (1 bilinear, 3 cubic).
    feather : float
        Blending ramp width in lines at framelet edges.
    trim_lines : int
        Lines dropped at each framelet's top and bottom.

    Returns
    -------
    StitchResult
        float32 band images (weighted mean of the framelets covering each pixel; 0
        where none does) and boolean masks.

    Examples
    --------
    >>> from junocam.framelets import split
    >>> fr = split(np.full((2 * 128, 1648), 5.0, np.float32), ["METHANE"])
    >>> sp = SpinModel.nominal(0.372)
    >>> res = stitch(fr, CameraModel(), sp, CylinderGrid.covering(fr, CameraModel(), sp))
    >>> round(float(res.bands["METHANE"].max()), 4)
    5.0
    """
    wanted = _check_args(framelets, camera, bands, order)
    out = _BandDict()
    masks = _BandDict()
    # on the spin cylinder the samples come band after band: one band's sums are
    # alive at a time (the other route interleaves the bands of each exposure)
    groups = [[b] for b in wanted] if _shares_spin_axis(grid, spin) else [list(wanted)]
    for group in groups:
        acc = {b: np.zeros(grid.shape, np.float32) for b in group}
        wsum = {b: np.zeros(grid.shape, np.float32) for b in group}
        samples = resample_framelets(
            framelets,
            camera,
            spin,
            grid,
            bands=group,
            order=order,
            feather=feather,
            trim_lines=trim_lines,
        )
        for fs in samples:
            # the sample is this loop's own: its values become the weighted values
            acc[fs.band][fs.rows, fs.cols] += np.multiply(fs.values, fs.weights, out=fs.values)
            wsum[fs.band][fs.rows, fs.cols] += fs.weights
            del fs  # not alive while the next sample is made
        for b in group:
            m = wsum[b] > 0
            img = acc.pop(b)  # the mean in place of the weighted sum: 0 where uncovered
            np.divide(img, wsum.pop(b), out=img, where=m)
            img[~m] = 0.0
            out[b] = img
            masks[b] = m
    return StitchResult(bands=out, masks=masks, grid=grid, spin=spin)


def brightness_centroid(
    image: np.ndarray, mask: np.ndarray | None = None, fraction: float = 0.1
) -> tuple[float, float, float]:
    """Centroid (row, col) and radius (pixels) of the bright target in an image.

    Pixels brighter than ``fraction`` of the 99.9th percentile count as target; the
    radius is that of a disc with the same area.

    Examples
    --------
    >>> img = np.zeros((50, 60), np.float32); img[10:20, 30:40] = 1
    >>> tuple(round(v, 1) for v in brightness_centroid(img))
    (14.5, 34.5, 5.6)
    """
    img = np.asarray(image, dtype=np.float32)
    valid = np.isfinite(img) if mask is None else (mask & np.isfinite(img))
    if not valid.any():
        raise GeometryError("no valid pixels to find the target in")
    top = float(np.percentile(img[valid], 99.9))
    if top <= 0:
        raise GeometryError("the image is black: no target to centre on")
    target = valid & (img > fraction * top)
    r, c = np.nonzero(target)
    w = img[r, c]
    return (
        float(np.sum(r * w) / np.sum(w)),
        float(np.sum(c * w) / np.sum(w)),
        float(np.sqrt(r.size / np.pi)),
    )


def perspective_grid_for(
    cylinder: CylinderGrid,
    image: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    fov_deg: float | None = None,
    size: int | tuple[int, int] | None = None,
    center: tuple[float, float] | None = None,
    pad: float = 1.15,
) -> PerspectiveGrid:
    """A virtual camera centred on the target seen in a cylinder-grid image.

    Parameters
    ----------
    cylinder : CylinderGrid
        The grid ``image`` lives on.
    image, mask : numpy.ndarray
        A stitched band image (e.g. the brightest band) and its coverage.
    fov_deg : float, optional
        Field of view; by default just enough for the target (times ``pad``).
    size : int or (rows, cols), optional
        Output size; by default one output pixel per detector pixel at the centre.
    center : (row, col), optional
        Cylinder pixel to look at, instead of the brightness centroid.
    pad : float
        Margin factor around the target for the default field of view.

    Returns
    -------
    PerspectiveGrid
    """
    if center is None:
        r, c, radius = brightness_centroid(image, mask)
        extent = 2.0 * radius * pad
        # the target area may be a crescent; cover its extent, not only its area
        target = image > 0.1 * float(
            np.percentile(image[mask] if mask is not None else image, 99.9)
        )
        if mask is not None:
            target &= mask
        rr, cc = np.nonzero(target)
        if rr.size:
            half = max(np.abs(rr - r).max(), np.abs(cc - c).max())
            extent = max(extent, 2.0 * half * pad)
    else:
        r, c = center
        extent = min(cylinder.shape) * 0.9
    direction = cylinder.rays_at(np.array(r), np.array(c))
    if fov_deg is None:
        fov_deg = math.degrees(2.0 * math.atan(extent / 2.0 / cylinder.scale))
        fov_deg = float(min(max(fov_deg, 0.5), 120.0))
    if size is None:
        n = int(round(2.0 * cylinder.scale * math.tan(math.radians(fov_deg) / 2.0)))
        size = (max(n, 16), max(n, 16))
    elif isinstance(size, int):
        size = (size, size)
    up = -cylinder.rays_at(np.array(r + 1.0), np.array(c)) + direction
    return PerspectiveGrid.looking_at(direction, fov_deg, size, up=up)
