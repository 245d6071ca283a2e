"""Stitching with the spacecraft's positions: a close flyby keeps its shape.

The plain stitch (:mod:`junocam.stitch`) treats the scene as infinitely far: every
exposure only turns. Near a moon the spacecraft moves tens of km between
exposures, and the self-calibrated turn absorbs that parallax (the body comes out
stretched along the spin). With SPICE geometry (:class:`ViewGeometry`: every
exposure's position and attitude) the same output grid is rendered instead as seen
from the spacecraft at the frame's reference exposure:

* each output pixel's ray, from the reference position with the reference attitude,
  meets the target's ellipsoid; that surface point is projected into every
  exposure's camera from the exposure's *own* position and attitude (as
  :func:`junocam.planet.projection.project_frame` does for maps) and sampled there,
  if the point faces that exposure;
* a ray that misses the body (sky, another body) is a far direction: it is only
  turned into each exposure with the same attitudes (no parallax), and skipped in an
  exposure where the body hides it from that exposure's position.

Both kinds of pixels use one attitude, so the limb is an exact seam (no blend is
needed: one side is the body, the other the background). Overlaps are blended with
the stitcher's feathered weights. Pure numpy, no I/O; the reference exposure may be
fractional (position and attitude interpolated between its neighbours).

Examples
--------
A camera 300 000 km above Jupiter's north pole looking straight down, two
exposures turning about the camera's -X axis like JunoCam; every framelet is
uniform (100 DN), so the stitched disc is 100 wherever it is covered:

>>> import numpy as np
>>> from junocam.camera import CameraModel
>>> from junocam.framelets import Framelets
>>> from junocam.metadata import Filter
>>> from junocam.spin import SpinModel
>>> from junocam.stitch import CylinderGrid
>>> spin = SpinModel(0.078, 0.0, 0.0, reference_exposure=0.5)
>>> down = np.diag([1.0, -1.0, -1.0])
>>> c2b = np.stack([down @ spin.rotation(i) for i in range(2)])
>>> view = ViewGeometry(CameraModel(), np.array([[0, 0, 3e5]] * 2), c2b,
...                     np.array([[0, 0, 1.0]] * 2))
>>> fr = Framelets(np.full((2, 1, 128, 1648), 100.0, np.float32), (Filter.GREEN,))
>>> grid = CylinderGrid.covering(fr, CameraModel(), spin, scale=200.0)
>>> out = stitch_from_view(fr, view, grid, spin)
>>> band = out.result.bands[Filter.GREEN]
>>> bool(np.allclose(band[out.result.masks[Filter.GREEN]], 100.0)), bool(out.on_body.any())
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..camera import CameraModel
from ..errors import GeometryError
from ..framelets import Framelets
from ..metadata import Filter
from ..spin import SpinModel
from ..stitch import (
    CylinderGrid,
    PerspectiveGrid,
    StitchResult,
    _BandDict,
    bilinear,
    feather_weight,
)
from .pointing import ViewGeometry, small_rotation
from .spheroid import Ellipsoid, intersect, surface_normal

__all__ = ["ReferenceView", "ViewStitch", "reference_view", "rotation_vector", "stitch_from_view"]


def rotation_vector(m: np.ndarray) -> np.ndarray:
    """The rotation vector (axis times angle, radians) of a rotation matrix.

    The inverse of :func:`junocam.planet.pointing.small_rotation` for angles below pi.

    Examples
    --------
    >>> v = np.array([0.01, -0.02, 0.03])
    >>> bool(np.allclose(rotation_vector(small_rotation(v)), v))
    True
    """
    r = np.asarray(m, dtype=np.float64)
    skew = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / 2.0
    s = float(np.linalg.norm(skew))
    c = (float(np.trace(r)) - 1.0) / 2.0
    angle = math.atan2(s, c)
    if s < 1e-15:
        return np.zeros(3)
    return skew / s * angle


def _between(a: np.ndarray, b: np.ndarray, f: float) -> np.ndarray:
    """The rotation a fraction ``f`` of the way from ``a`` to ``b`` (geodesic)."""
    if f == 0.0:
        return np.asarray(a, dtype=np.float64)
    return np.asarray(a) @ small_rotation(f * rotation_vector(np.asarray(a).T @ np.asarray(b)))


@dataclass(frozen=True)
class ReferenceView:
    """The viewpoint a frame is rendered from: position and attitude at one instant.

    Attributes
    ----------
    observer : numpy.ndarray, shape (3,)
        Position in the body-fixed frame, km.
    camera_to_body : numpy.ndarray, shape (3, 3)
        Camera frame (the stitcher's sky frame) to body-fixed.
    camera_to_inertial : numpy.ndarray, shape (3, 3)
        Camera frame to the inertial frame the far scene is fixed in.
    """

    observer: np.ndarray
    camera_to_body: np.ndarray
    camera_to_inertial: np.ndarray


def reference_view(
    view: ViewGeometry, exposure: float, camera_to_inertial: np.ndarray | None = None
) -> ReferenceView:
    """Position and attitude at a (fractional) exposure index.

    Between two exposures the position is interpolated linearly and the attitudes
    along the geodesic (the spin between them is a turn of about 0.08 rad).

    Parameters
    ----------
    view : ViewGeometry
    exposure : float
        In ``[0, n_exposures - 1]``; the stitcher's reference is ``(n - 1) / 2``.
    camera_to_inertial : numpy.ndarray, shape (n, 3, 3), optional
        Each exposure's camera-to-inertial rotation (e.g. camera-to-J2000); default
        ``view.camera_to_body`` (the body's rotation during the frame neglected).

    Examples
    --------
    >>> from junocam.camera import CameraModel
    >>> turn = np.stack([small_rotation([0.0, 0.0, a]) for a in (0.0, 0.1)])
    >>> v = ViewGeometry(CameraModel(), np.array([[0, 0, 1e5], [0, 10.0, 1e5]]), turn,
    ...                  np.zeros((2, 3)))
    >>> ref = reference_view(v, 0.5)
    >>> ref.observer.tolist(), round(float(rotation_vector(ref.camera_to_body)[2]), 6)
    ([0.0, 5.0, 100000.0], 0.05)
    """
    n = view.n_exposures
    if not (0.0 <= exposure <= n - 1):
        raise GeometryError(f"reference exposure {exposure} is outside 0..{n - 1}")
    c2i = view.camera_to_body if camera_to_inertial is None else np.asarray(camera_to_inertial)
    if c2i.shape != (n, 3, 3):
        raise GeometryError(f"camera_to_inertial has shape {c2i.shape}, expected ({n}, 3, 3)")
    i0 = min(int(math.floor(exposure)), n - 1)
    i1 = min(i0 + 1, n - 1)
    f = float(exposure - i0) if i1 > i0 else 0.0
    obs = (1.0 - f) * view.observer[i0] + f * view.observer[i1]
    return ReferenceView(
        observer=np.asarray(obs, dtype=np.float64),
        camera_to_body=_between(view.camera_to_body[i0], view.camera_to_body[i1], f),
        camera_to_inertial=_between(c2i[i0], c2i[i1], f),
    )


@dataclass(frozen=True, eq=False)
class ViewStitch:
    """A frame rendered from its reference viewpoint.

    Attributes
    ----------
    result : StitchResult
        Band images (float32, the framelets' units, 0 where uncovered), masks, the
        grid and the spin model given (for records; the geometry came from the view).
    on_body : numpy.ndarray of bool
        Output pixels whose ray meets the target's ellipsoid.
    reference : ReferenceView
    """

    result: StitchResult
    on_body: np.ndarray
    reference: ReferenceView


#: Spacing (output pixels) of the grid nodes used to find each framelet's box.
NODE_STEP = 16


def _band_box(
    grid: CylinderGrid | PerspectiveGrid,
    camera: CameraModel,
    sky_to_cam: np.ndarray,
    band: Filter,
    lines: int,
    pad_px: float,
) -> tuple[slice, slice] | None:
    """Box of the grid whose far-scene projection comes within ``pad_px`` of the
    band's framelet (a body point is seen at most the parallax bound away)."""
    h, w = grid.shape
    step = NODE_STEP
    rr = np.unique(np.append(np.arange(0, h, step), h - 1))
    cc = np.unique(np.append(np.arange(0, w, step), w - 1))
    rays = grid.rays_at(rr[:, None].astype(np.float64), cc[None, :].astype(np.float64))
    s, line = camera.ray_to_pixel(rays @ sky_to_cam.T, band)
    s0, s1 = camera.sample_range
    # two node spacings, in framelet pixels (a coarse grid's nodes lie further apart)
    scale = grid.scale if isinstance(grid, CylinderGrid) else grid.focal
    pad = pad_px + 2.0 * step * max(1.0, camera.focal_px / scale)
    with np.errstate(invalid="ignore"):
        near = (line >= -pad) & (line <= lines - 1 + pad) & (s >= s0 - pad) & (s <= s1 + pad)
    if not near.any():
        return None
    ri = np.flatnonzero(near.any(axis=1))
    ci = np.flatnonzero(near.any(axis=0))
    r0 = max(int(rr[ri[0]]) - step, 0)
    r1 = min(int(rr[ri[-1]]) + step + 1, h)
    c0 = max(int(cc[ci[0]]) - step, 0)
    c1 = min(int(cc[ci[-1]]) + step + 1, w)
    return slice(r0, r1), slice(c0, c1)


def _ranges(
    grid: CylinderGrid | PerspectiveGrid, ref: ReferenceView, body: Ellipsoid, rows: int = 256
) -> np.ndarray:
    """Distance (km, float32) along every output pixel's ray from the reference
    position to the body's surface; NaN where the ray misses."""
    out = np.full(grid.shape, np.nan, np.float32)
    for r0 in range(0, grid.shape[0], rows):
        rr = slice(r0, min(r0 + rows, grid.shape[0]))
        d = np.einsum("ijk,lk->ijl", grid.rays(rr, slice(None)), ref.camera_to_body)
        pts, hit = intersect(ref.observer, d, body)
        t = np.linalg.norm(pts - ref.observer, axis=-1)
        out[rr] = np.where(hit, t, np.nan)
    return out


def stitch_from_view(
    framelets: Framelets,
    view: ViewGeometry,
    grid: CylinderGrid | PerspectiveGrid,
    spin: SpinModel,
    *,
    camera_to_inertial: np.ndarray | None = None,
    reference: float | None = None,
    bands: Sequence[Filter | str] | None = None,
    order: int = 1,
    feather: float = 8.0,
    trim_lines: int = 0,
) -> ViewStitch:
    """Render every band on ``grid`` from the frame's reference viewpoint.

    Parameters
    ----------
    framelets : Framelets
        Linear float data, (n_exposures, n_filters, lines, 1648).
    view : ViewGeometry
        Every exposure's position and attitude (CK or navigation), the target's
        ellipsoid and the camera model.
    grid : CylinderGrid or PerspectiveGrid
        Output grid; its rays are directions in the camera frame at the reference
        exposure (the plain stitch's sky frame).
    spin : SpinModel
        Its ``reference_exposure`` is the default reference; kept in the result.
    camera_to_inertial : numpy.ndarray, shape (n, 3, 3), optional
        Camera-to-inertial rotation per exposure, which turns far directions (sky,
        other bodies); default ``view.camera_to_body``.
    reference : float, optional
        Reference exposure (default ``spin.reference_exposure``).
    bands : sequence of Filter, optional
        Default: all of the frame's.
    order : int
        1 bilinear, 3 cubic.
    feather : float
        Blending ramp at framelet edges, lines.
    trim_lines : int
        Lines dropped at each framelet's top and bottom.

    Returns
    -------
    ViewStitch

    Raises
    ------
    GeometryError
        When the view and the framelets disagree, the reference is outside the
        frame or the observer is inside the body.
    """
    n = framelets.n_exposures
    if view.n_exposures != n:
        raise GeometryError(f"the geometry has {view.n_exposures} exposures, the frame {n}")
    if order not in (1, 3):
        raise GeometryError(f"interpolation order must be 1 or 3, got {order}")
    lines = framelets.framelet_lines
    camera = view.camera
    if lines != camera.framelet_lines:
        raise GeometryError(
            f"framelets have {lines} lines but the camera model expects {camera.framelet_lines}"
        )
    wanted = framelets.filters if bands is None else tuple(Filter.parse(b) for b in bands)
    c2i = view.camera_to_body if camera_to_inertial is None else np.asarray(camera_to_inertial)
    t_ref = spin.reference_exposure if reference is None else float(reference)
    ref = reference_view(view, t_ref, c2i)
    body = view.body
    clearance = float(np.linalg.norm(ref.observer)) - float(body.radii.max())
    if clearance <= 0:
        raise GeometryError("the reference position is inside the target's ellipsoid")
    # output pixels per radian at most (the grid's scale grows off-centre; JunoCam's
    # swath is within 35 degrees of the centre line: sec^2 < 1.5)
    px_per_rad = 1.5 * camera.focal_px
    s_lo, s_hi = camera.sample_range
    l_lo, l_hi = float(trim_lines), float(lines - 1 - trim_lines)
    ranges = _ranges(grid, ref, body)
    on_body = np.isfinite(ranges)
    acc = {b: np.zeros(grid.shape, np.float32) for b in wanted}
    wsum = {b: np.zeros(grid.shape, np.float32) for b in wanted}
    # fallback samples, few (near the limb): flat grid index, weighted value, weight
    fallback: dict[Filter, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
        b: [] for b in wanted
    }
    # the body's bounding cone seen from each exposure: direction to its centre and
    # the cosine of its angular radius (on the longest axis)
    dist = np.linalg.norm(view.observer, axis=1)
    centre_dir = -view.observer / dist[:, None]
    cone_cos = np.cos(np.arcsin(np.minimum(1.0, float(body.radii.max()) / dist)) + 1e-6)
    to_body_ref = ref.camera_to_body
    for i in range(n):
        # sky frame -> camera i for a far direction (rotation only)
        sky_to_cam = c2i[i].T @ ref.camera_to_inertial
        moved = float(np.linalg.norm(view.observer[i] - ref.observer))
        parallax = math.asin(min(1.0, moved / clearance))
        to_body_i = view.camera_to_body[i]
        for band in wanted:
            box = _band_box(grid, camera, sky_to_cam, band, lines, parallax * px_per_rad)
            if box is None:
                continue
            rays = grid.rays(*box).reshape(-1, 3)
            rng = ranges[box].reshape(-1)
            hit = np.isfinite(rng)
            # primary samples, and a fallback for pixels that exposure i cannot see
            # from its own position (a sliver at the limb): the far direction's sample
            s, line = np.full(hit.size, np.nan), np.full(hit.size, np.nan)
            fs, fl = np.full(hit.size, np.nan), np.full(hit.size, np.nan)
            on = np.flatnonzero(hit)
            behind = on[:0]
            if on.size:  # surface points, seen from exposure i's own position
                # einsum, not a BLAS product: (n, 3) @ (3, 3) is many times slower via BLAS
                dirs = np.einsum("ij,kj->ik", rays[on], to_body_ref)
                p = ref.observer + rng[on, None].astype(np.float64) * dirs
                to_obs = view.observer[i] - p
                facing = np.einsum("ij,ij->i", surface_normal(p, body), to_obs) > 0
                behind = on[~facing]
                on, to_obs = on[facing], to_obs[facing]
                s[on], line[on] = camera.ray_to_pixel(
                    np.einsum("ij,jk->ik", -to_obs, to_body_i), band
                )
            far = np.concatenate([np.flatnonzero(~hit), behind])
            if far.size:  # far directions: the attitude only
                cam = np.einsum("ij,kj->ik", rays[far], sky_to_cam)
                ps, pl = camera.ray_to_pixel(cam, band)
                with np.errstate(invalid="ignore"):
                    seen = (ps >= s_lo) & (ps <= s_hi) & (pl >= l_lo) & (pl <= l_hi)
                far, cam, ps, pl = far[seen], cam[seen], ps[seen], pl[seen]
                primary = ~hit[far]
                if parallax > 0 and primary.any():
                    # a far direction hidden by the body from exposure i's position:
                    # only those within the body's bounding cone need the ray test
                    cand = np.flatnonzero(primary)
                    d = np.einsum("ij,kj->ik", cam[cand], to_body_i)
                    d /= np.linalg.norm(d, axis=1, keepdims=True)
                    cand, d = (
                        cand[d @ centre_dir[i] >= cone_cos[i]],
                        d[d @ centre_dir[i] >= cone_cos[i]],
                    )
                    if cand.size:
                        _, hidden = intersect(view.observer[i], d, body)
                        primary[cand[hidden]] = False
                s[far[primary]], line[far[primary]] = ps[primary], pl[primary]
                fs[far[~primary]], fl[far[~primary]] = ps[~primary], pl[~primary]
            img = np.asarray(framelets.data[i, framelets.index(band)], dtype=np.float32)
            for ss, ll, primary_set in ((s, line, True), (fs, fl, False)):
                with np.errstate(invalid="ignore"):
                    valid = (ss >= s_lo) & (ss <= s_hi) & (ll >= l_lo) & (ll <= l_hi)
                if not valid.any():
                    continue
                sv, lv = ss[valid], ll[valid]  # C order, as the box's boolean index
                if order == 1:
                    vals = bilinear(img, lv, sv)
                else:
                    vals = ndimage.map_coordinates(img, [lv, sv], order=3, mode="nearest").astype(
                        np.float32
                    )
                wts = feather_weight(lv - l_lo, int(l_hi - l_lo) + 1, feather)
                valid = valid.reshape(on_body[box].shape)
                if primary_set:
                    a = acc[band][box]
                    ws = wsum[band][box]
                    a[valid] += vals * wts
                    ws[valid] += wts
                else:
                    rr, cc = np.nonzero(valid)
                    flat = (rr + box[0].start) * grid.shape[1] + cc + box[1].start
                    fallback[band].append((flat, vals * wts, wts))
    out = _BandDict()
    masks = _BandDict()
    for b in wanted:
        if fallback[b]:
            # the fallback only where no exposure saw the pixel from its own position
            flat = np.concatenate([f[0] for f in fallback[b]])
            where, k = np.unique(flat, return_inverse=True)
            vw = np.bincount(k, np.concatenate([f[1] for f in fallback[b]]))
            w = np.bincount(k, np.concatenate([f[2] for f in fallback[b]]))
            a, ws = acc[b].reshape(-1), wsum[b].reshape(-1)
            alone = ws[where] == 0
            a[where[alone]] = vw[alone]
            ws[where[alone]] = w[alone]
        m = wsum[b] > 0
        img = np.zeros(grid.shape, np.float32)
        np.divide(acc[b], wsum[b], out=img, where=m)
        out[b] = img
        masks[b] = m
    return ViewStitch(StitchResult(out, masks, grid, spin), on_body, ref)
