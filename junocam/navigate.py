"""Navigation: the camera attitude from the planet's limb and terminator.

Pointing (CK) kernels are large and often missing; positions (SPK) are small and
easy to get. With positions only, the attitude of a frame is fitted to the image:

1. :func:`detect_edges` finds the lit planet's outline in every framelet: the
   sub-pixel contour where the brightness falls to half of its local maximum.
2. An initial attitude puts the bright disc's centroid on the predicted planet
   direction, then searches the roll about that direction (and a small pan) for
   the best agreement between the observed and the predicted lit disc.
3. A robust least-squares fit moves three attitude angles (and the start time)
   so that edge points lying near the predicted limb fall *on* the limb of the
   oblate planet (a residual in pixels), while edge points well inside the disc
   fall on the predicted terminator (cosine of incidence = 0, up to one fitted
   offset in pixels that absorbs the soft fall-off of Jupiter's terminator).
   The terminator fixes the roll that a nearly circular limb leaves open.

Observability: without a CK, a start-time offset is nearly equivalent to a turn
of the spin phase (the camera turns 12 degrees a second, so 1 ms is 0.2 pixel),
while the spacecraft's own motion in a few ms moves the planet by a few
thousandths of a pixel. So the time offset is fitted with a weak prior (20 ms,
the documented jitter) and its uncertainty is reported; the attitude at the
exposure times is what the fit determines. With a CK the attitude is known as a
function of time, and the same fit refines the start time alone.

Examples
--------
>>> nav = navigate(framelets, ephemeris, spin_fit.spin)        # doctest: +SKIP
>>> round(nav.limb_rms_px, 2)                                  # doctest: +SKIP
0.9
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.optimize import least_squares
from skimage.measure import find_contours

from .camera import CameraModel
from .errors import GeometryError
from .framelets import DARK_SAMPLES, PHOTOACTIVE_SAMPLES, Framelets
from .metadata import Filter
from .planet import Ellipsoid, intersect, limb_miss, surface_normal
from .pointing import Pointing, ViewGeometry, small_rotation, view_from_ck, view_from_pointing
from .spice import Ephemeris
from .spin import SpinModel, rotation_matrix

__all__ = ["EdgePoints", "Navigation", "detect_edges", "initial_pointing", "navigate"]

#: Prior on the start-time offset (s): the ~20 ms jitter of the timing model [CAMERA.md].
TIME_PRIOR_S = 0.020


@dataclass(frozen=True)
class EdgePoints:
    """Sub-pixel points on the lit planet's outline in the framelets.

    Attributes
    ----------
    exposure, band : numpy.ndarray of int
        Exposure index and index into ``bands`` of each point.
    sample, line : numpy.ndarray of float
        Framelet pixel coordinates.
    normal : numpy.ndarray, shape (m, 2)
        Unit image gradient (d sample, d line) towards the brighter side.
    bands : tuple of Filter
    """

    exposure: np.ndarray
    band: np.ndarray
    sample: np.ndarray
    line: np.ndarray
    normal: np.ndarray
    bands: tuple[Filter, ...]

    @property
    def size(self) -> int:
        """Number of points."""
        return int(self.sample.size)


def _nav_bands(framelets: Framelets, bands: tuple[Filter, ...] | None) -> tuple[Filter, ...]:
    if bands:
        return bands
    colour = tuple(b for b in framelets.filters if b is not Filter.METHANE)
    return colour or tuple(framelets.filters)


def _normalised(framelets: Framelets, bands: tuple[Filter, ...]) -> dict[Filter, np.ndarray]:
    """Smoothed framelets divided by a robust full-scale level, per band."""
    out = {}
    for b in bands:
        stack = np.asarray(framelets.band(b), dtype=np.float32)[..., DARK_SAMPLES:][
            ..., :PHOTOACTIVE_SAMPLES
        ]
        top = float(np.percentile(stack, 99.5))
        if not np.isfinite(top) or top <= 0:
            raise GeometryError(f"band {b.value} is black: nothing to navigate on")
        out[b] = ndimage.gaussian_filter(stack / top, sigma=(0, 1.0, 1.0))
    return out


def detect_edges(
    framelets: Framelets,
    bands: tuple[Filter, ...] | None = None,
    *,
    window: int = 9,
    floor: float = 0.08,
    step: int = 2,
    margin: int = 2,
) -> EdgePoints:
    """Contour of the lit disc in every framelet (half of the local maximum).

    Parameters
    ----------
    framelets : Framelets
        Linear (decompanded) framelets.
    bands : tuple of Filter, optional
        Bands to use (default: every non-methane band, or methane alone).
    window : int
        Size (pixels) of the local-maximum filter: the contour sits where the
        brightness is half of the brightest value within this window.
    floor : float
        Local maxima below this fraction of full scale count as sky.
    step : int
        Keep every ``step``-th contour point.
    margin : int
        Points closer than this to a framelet's edge are dropped.

    Returns
    -------
    EdgePoints

    Examples
    --------
    >>> import numpy as np
    >>> data = np.zeros((1, 1, 128, 1648), np.float32)
    >>> data[0, 0, :, 800:] = 1.0
    >>> e = detect_edges(Framelets(data, (Filter.GREEN,)))
    >>> bool(np.allclose(e.sample, 799.5, atol=0.3)), bool(np.all(e.normal[:, 0] > 0.9))
    (True, True)
    """
    use = _nav_bands(framelets, bands)
    norm = _normalised(framelets, use)
    ex, bi, ss, ll, nn = [], [], [], [], []
    for k, b in enumerate(use):
        stack = norm[b]
        local = ndimage.maximum_filter(stack, size=(1, window, window))
        ratio = stack / np.maximum(local, floor)
        gl, gs = np.gradient(stack, axis=(1, 2))
        lines = stack.shape[1]
        for i in range(stack.shape[0]):
            for c in find_contours(ratio[i], 0.5):
                c = c[::step]
                keep = (
                    (c[:, 0] >= margin)
                    & (c[:, 0] <= lines - 1 - margin)
                    & (c[:, 1] >= margin)
                    & (c[:, 1] <= PHOTOACTIVE_SAMPLES - 1 - margin)
                )
                c = c[keep]
                if not c.size:
                    continue
                r = np.rint(c[:, 0]).astype(int)
                q = np.rint(c[:, 1]).astype(int)
                g = np.stack([gs[i, r, q], gl[i, r, q]], axis=1)
                mag = np.linalg.norm(g, axis=1)
                ok = mag > 1e-6
                ex.append(np.full(int(ok.sum()), i))
                bi.append(np.full(int(ok.sum()), k))
                ss.append(c[ok, 1] + DARK_SAMPLES)
                ll.append(c[ok, 0])
                nn.append(g[ok] / mag[ok, None])
    if not ss:
        raise GeometryError("no planet edge found in the framelets: nothing to navigate on")
    return EdgePoints(
        exposure=np.concatenate(ex),
        band=np.concatenate(bi),
        sample=np.concatenate(ss),
        line=np.concatenate(ll),
        normal=np.concatenate(nn),
        bands=use,
    )


def _camera_rays(camera: CameraModel, edges: EdgePoints, shift: float = 0.0) -> np.ndarray:
    """Camera-frame rays of the edge points, optionally moved along their normals."""
    out = np.empty((edges.size, 3))
    for k, b in enumerate(edges.bands):
        m = edges.band == k
        s = edges.sample[m] + shift * edges.normal[m, 0]
        line = edges.line[m] + shift * edges.normal[m, 1]
        out[m] = camera.pixel_to_ray(s, line, b)
    return out


def _mu0(
    origin: np.ndarray, dirs: np.ndarray, sun: np.ndarray, body: Ellipsoid
) -> tuple[np.ndarray, np.ndarray]:
    p, hit = intersect(origin, dirs, body)
    n = surface_normal(np.where(hit[:, None], p, 1.0), body)
    return np.einsum("ij,ij->i", n, sun), hit


def _tangent_mu0(
    origin: np.ndarray, dirs: np.ndarray, sun: np.ndarray, body: Ellipsoid
) -> np.ndarray:
    """Cosine of incidence at the surface point under each ray's closest approach."""
    r = body.radii
    o = origin / r
    d = dirs / r
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    close = o - np.einsum("ij,ij->i", o, d)[:, None] * d
    surf = close / np.linalg.norm(close, axis=1, keepdims=True) * r
    return np.einsum("ij,ij->i", surface_normal(surf, body), sun)


def _sample_pixels(
    framelets: Framelets, bands: tuple[Filter, ...], step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A regular subsample of framelet pixels: exposure, band, sample, line, brightness."""
    norm = _normalised(framelets, bands)
    ex, bi, ss, ll, vv = [], [], [], [], []
    for k, b in enumerate(bands):
        stack = norm[b]
        n, lines, width = stack.shape
        i, r, q = np.meshgrid(
            np.arange(n),
            np.arange(step // 2, lines, step),
            np.arange(step // 2, width, step),
            indexing="ij",
        )
        ex.append(i.ravel())
        bi.append(np.full(i.size, k))
        ss.append(q.ravel() + DARK_SAMPLES)
        ll.append(r.ravel())
        vv.append(stack[i, r, q].ravel())
    return tuple(np.concatenate(a) for a in (ex, bi, ss, ll, vv))  # type: ignore[return-value]


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit vector ``a`` onto ``b``."""
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        return np.eye(3)
    return rotation_matrix(axis / s, math.atan2(s, float(a @ b)))


def initial_pointing(
    framelets: Framelets,
    ephemeris: Ephemeris,
    spin: SpinModel,
    camera: CameraModel | None = None,
    *,
    bands: tuple[Filter, ...] | None = None,
    step: int = 6,
    lit_fraction: float = 0.12,
) -> Pointing:
    """A first attitude: the lit disc on the planet, roll and pan by grid search.

    The bright pixels' mean direction is turned onto the direction of Jupiter's
    centre; then the roll about that direction (every 3 degrees) and a pan within
    half the planet's apparent radius are chosen to maximise the agreement of the
    observed bright pixels with the predicted lit disc.

    Examples
    --------
    >>> p = initial_pointing(framelets, ephemeris, spin)     # doctest: +SKIP
    """
    camera = camera or CameraModel()
    use = _nav_bands(framelets, bands)
    ex, bi, ss, ll, val = _sample_pixels(framelets, use, step)
    bright = val > lit_fraction
    if bright.sum() < 20:
        raise GeometryError("too few bright pixels to find the planet")
    cam = np.empty((ex.size, 3))
    for k, b in enumerate(use):
        m = bi == k
        cam[m] = camera.pixel_to_ray(ss[m], ll[m], b)
    sky = np.einsum("nij,nj->ni", spin.rotation(ex.astype(np.float64)), cam)
    sky /= np.linalg.norm(sky, axis=1, keepdims=True)
    c_sky = sky[bright].mean(axis=0)
    c_sky /= np.linalg.norm(c_sky)
    mid = ephemeris.n_exposures // 2
    u = ephemeris.j2000_to_body[mid].T @ -ephemeris.observer[mid]
    dist = float(np.linalg.norm(u))
    u /= dist
    radius = math.asin(min(1.0, ephemeris.body.a / dist))
    lit_dir = _lit_centroid(ephemeris, mid, u, radius)
    # turn the observed bright centroid onto the predicted lit centroid; rolling about
    # that direction then turns the lit shape about its own centre
    base = _align(c_sky, lit_dir)
    t_body = ephemeris.j2000_to_body[ex]
    o = ephemeris.observer[ex]
    sun = ephemeris.sun[ex]

    def agreement(r: np.ndarray) -> float:
        d = np.einsum("nij,nj->ni", t_body, sky @ r.T)
        mu0, hit = _mu0(o, d, sun, ephemeris.body)
        lit = hit & (mu0 > 0.03)
        # intersection over union: the sky, dark in both, must not dominate the score
        return float(np.sum(lit & bright) / max(int(np.sum(lit | bright)), 1))

    def best_roll(r0: np.ndarray, axis: np.ndarray, angles: np.ndarray) -> tuple[np.ndarray, float]:
        cands = [rotation_matrix(axis, a) @ r0 for a in angles]
        scores = [agreement(r) for r in cands]
        k = int(np.argmax(scores))
        return cands[k], scores[k]

    r, _ = best_roll(base, lit_dir, np.radians(np.arange(0.0, 360.0, 3.0)))
    east, north = _tangent_axes(u)
    best, score = r, agreement(r)
    for a in np.linspace(-0.25, 0.25, 7) * radius:
        for b in np.linspace(-0.25, 0.25, 7) * radius:
            cand = small_rotation(a * east + b * north) @ r
            s = agreement(cand)
            if s > score:
                best, score = cand, s
    best, _ = best_roll(best, u, np.radians(np.arange(-4.0, 4.01, 0.5)))
    return Pointing(best, spin)


def _tangent_axes(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to ``u`` and to each other."""
    ref = np.array([0.0, 0.0, 1.0]) if abs(u[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    east = np.cross(u, ref)
    east /= np.linalg.norm(east)
    return east, np.cross(east, u)


def _lit_centroid(ephemeris: Ephemeris, k: int, u: np.ndarray, radius: float) -> np.ndarray:
    """J2000 direction of the predicted lit disc's centroid seen at exposure ``k``."""
    east, north = _tangent_axes(u)
    t = np.linspace(-1.05, 1.05, 121) * math.tan(radius)
    a, b = np.meshgrid(t, t)
    dirs = u + a.ravel()[:, None] * east + b.ravel()[:, None] * north
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    body_dirs = dirs @ ephemeris.j2000_to_body[k].T
    mu0, hit = _mu0(
        np.broadcast_to(ephemeris.observer[k], body_dirs.shape),
        body_dirs,
        np.broadcast_to(ephemeris.sun[k], body_dirs.shape),
        ephemeris.body,
    )
    lit = hit & (mu0 > 0.03)
    if not lit.any():
        raise GeometryError("the planet's day side is not visible from the spacecraft")
    c = dirs[lit].mean(axis=0)
    return c / np.linalg.norm(c)


@dataclass(frozen=True)
class Navigation:
    """Result of :func:`navigate`.

    Attributes
    ----------
    view : ViewGeometry
        The fitted geometry, ready for map projection.
    pointing : Pointing or None
        The fitted attitude (None when a CK gave it).
    time_offset : float
        Fitted start-time correction (s).
    time_offset_sigma : float
        Its 1-sigma uncertainty (s); close to the 20 ms prior when the image cannot
        tell (no CK).
    limb_rms_px, terminator_rms_px : float
        RMS distance (pixels) of the edge points kept in the fit from the predicted
        limb and terminator.
    n_limb, n_terminator : int
        Points used.
    attitude_sigma_deg : float
        1-sigma uncertainty of the attitude (largest axis, degrees); NaN with a CK.
    terminator_offset_px : float
        Fitted distance of the half-brightness contour inside the terminator.
    used_ck : bool
    """

    view: ViewGeometry
    pointing: Pointing | None
    time_offset: float
    time_offset_sigma: float
    limb_rms_px: float
    terminator_rms_px: float
    n_limb: int
    n_terminator: int
    attitude_sigma_deg: float
    terminator_offset_px: float
    used_ck: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (attitude as a row-major 3x3 matrix)."""
        d: dict[str, Any] = {
            "used_ck": self.used_ck,
            "time_offset_s": round(self.time_offset, 6),
            "time_offset_sigma_s": round(self.time_offset_sigma, 6),
            "limb_rms_px": round(self.limb_rms_px, 3),
            "terminator_rms_px": round(self.terminator_rms_px, 3),
            "n_limb": self.n_limb,
            "n_terminator": self.n_terminator,
            "attitude_sigma_deg": round(self.attitude_sigma_deg, 5),
            "terminator_offset_px": round(self.terminator_offset_px, 3),
        }
        if self.pointing is not None:
            d["reference_to_j2000"] = self.pointing.reference_to_j2000.round(9).tolist()
            d["spin"] = {
                "turn_per_exposure": self.pointing.spin.turn_per_exposure,
                "tilt_y": self.pointing.spin.tilt_y,
                "tilt_z": self.pointing.spin.tilt_z,
                "reference_exposure": self.pointing.spin.reference_exposure,
            }
        return d


class _Model:
    """Residuals of edge points for a parameter vector (attitude, time, offset)."""

    def __init__(
        self,
        edges: EdgePoints,
        ephemeris: Ephemeris,
        camera: CameraModel,
        base: Pointing | None,
        fit_time: bool,
    ) -> None:
        self.edges = edges
        self.eph = ephemeris
        self.camera = camera
        self.base = base
        self.fit_time = fit_time
        self.rays = _camera_rays(camera, edges)
        self.rays_in = _camera_rays(camera, edges, shift=1.0)
        self.focal = camera.focal_px
        self.n_att = 0 if base is None else 3

    def view(self, p: np.ndarray) -> ViewGeometry:
        dt = float(p[self.n_att]) if self.fit_time else 0.0
        if self.base is None:
            return view_from_ck(self.eph.shifted(dt), self.camera)
        r = small_rotation(p[:3]) @ self.base.reference_to_j2000
        return view_from_pointing(self.eph, Pointing(r, self.base.spin, dt), self.camera)

    def geometry(self, p: np.ndarray) -> tuple[np.ndarray, ...]:
        v = self.view(p)
        m = v.camera_to_body[self.edges.exposure]
        o = v.observer[self.edges.exposure]
        sun = v.sun[self.edges.exposure]
        d = np.einsum("nij,nj->ni", m, self.rays)
        d_in = np.einsum("nij,nj->ni", m, self.rays_in)
        miss, front = limb_miss(o, d, v.body)
        return d, d_in, o, sun, miss * self.focal, front

    def classify(self, p: np.ndarray, gate: float) -> tuple[np.ndarray, np.ndarray]:
        d, d_in, o, sun, miss_px, front = self.geometry(p)
        lit_limb = _tangent_mu0(o, d, sun, self.eph.body) > 0.02
        limb = front & (np.abs(miss_px) < gate) & lit_limb
        mu, hit = _mu0(o, d, sun, self.eph.body)
        mu_in, hit_in = _mu0(o, d_in, sun, self.eph.body)
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = mu / (mu_in - mu)
        term = (
            front
            & hit
            & hit_in
            & (miss_px < -max(3.0 * gate, 15.0))
            & (np.abs(mu) < 0.3)
            & (mu_in - mu > 1e-5)
            # the terminator is soft: allow it twice the limb's gate, around the
            # fitted offset of the half-brightness contour
            & (np.abs(np.nan_to_num(dist, nan=1e9) - p[-1]) < 2.0 * gate)
        )
        return limb, term

    def residuals(
        self, p: np.ndarray, limb: np.ndarray, term: np.ndarray, w_term: float
    ) -> np.ndarray:
        d, d_in, o, sun, miss_px, _ = self.geometry(p)
        parts = [miss_px[limb]]
        if term.any():
            mu, _ = _mu0(o[term], d[term], sun[term], self.eph.body)
            mu_in, _ = _mu0(o[term], d_in[term], sun[term], self.eph.body)
            with np.errstate(divide="ignore", invalid="ignore"):
                dist = mu / np.maximum(mu_in - mu, 1e-6)
            parts.append(w_term * (np.nan_to_num(dist, nan=0.0) - p[-1]))
        if self.fit_time:
            parts.append(np.array([p[self.n_att] / TIME_PRIOR_S]))
        return np.concatenate(parts)


def navigate(
    framelets: Framelets,
    ephemeris: Ephemeris,
    spin: SpinModel,
    camera: CameraModel | None = None,
    *,
    initial: Pointing | None = None,
    use_ck: bool | None = None,
    fit_time: bool = True,
    bands: tuple[Filter, ...] | None = None,
    gates: tuple[float, ...] = (40.0, 12.0, 5.0, 3.0),
    terminator_weight: float = 0.5,
) -> Navigation:
    """Fit the camera attitude (and start time) to the planet's limb and terminator.

    Parameters
    ----------
    framelets : Framelets
        Linear framelets of the frame.
    ephemeris : Ephemeris
        Positions from the SPK (:func:`junocam.spice.frame_ephemeris`).
    spin : SpinModel
        The frame's spin (use the self-calibrated one, ``SpinFit.spin``).
    camera : CameraModel, optional
        Camera model (use ``SpinFit.camera`` when it has per-band focal factors).
    initial : Pointing, optional
        Starting attitude; by default :func:`initial_pointing`.
    use_ck : bool, optional
        Take the attitude from the ephemeris' CK and fit only the start time
        (default: whenever the ephemeris has a CK attitude).
    fit_time : bool
        Fit the start-time offset.
    bands : tuple of Filter, optional
        Bands to use (default every non-methane band).
    gates : tuple of float
        Successive limb-distance limits (pixels) for the points kept in each round.
    terminator_weight : float
        Weight of terminator points relative to limb points.

    Returns
    -------
    Navigation

    Raises
    ------
    GeometryError
        When no planet edge is seen or too few points sit on the predicted limb.
    """
    camera = camera or CameraModel()
    ck = ephemeris.has_attitude if use_ck is None else use_ck
    if ck and not ephemeris.has_attitude:
        raise GeometryError("use_ck is set but the ephemeris has no CK attitude")
    edges = detect_edges(framelets, bands)
    base = None if ck else (initial or initial_pointing(framelets, ephemeris, spin, camera))
    model = _Model(edges, ephemeris, camera, base, fit_time)
    p = np.zeros(model.n_att + int(fit_time) + 1)
    limb = term = np.zeros(edges.size, bool)
    sol = None
    for gate in gates:
        limb, term = model.classify(p, gate)
        if limb.sum() < 10:
            raise GeometryError(
                f"only {int(limb.sum())} edge points lie within {gate:g} px of the predicted "
                "limb: the planet's limb is not in the frame or the start attitude is off"
            )
        sol = least_squares(
            model.residuals,
            p,
            args=(limb, term, terminator_weight),
            loss="soft_l1",
            f_scale=1.0,
            x_scale="jac",
            diff_step=1e-7,
        )
        p = sol.x
    assert sol is not None
    limb, term = model.classify(p, gates[-1])
    _, _, _, _, miss_px, _ = model.geometry(p)
    res = model.residuals(p, limb, term, 1.0)
    n_l, n_t = int(limb.sum()), int(term.sum())
    term_res = res[n_l : n_l + n_t]
    cov = _covariance(sol.jac, sol.fun)
    sig = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    att_sigma = float(np.degrees(sig[:3].max())) if model.n_att else float("nan")
    t_sigma = float(sig[model.n_att]) if fit_time else 0.0
    view = model.view(p)
    pointing = None
    if base is not None:
        r = small_rotation(p[:3]) @ base.reference_to_j2000
        pointing = Pointing(r, spin, float(p[model.n_att]) if fit_time else 0.0)
    return Navigation(
        view=view,
        pointing=pointing,
        time_offset=float(p[model.n_att]) if fit_time else 0.0,
        time_offset_sigma=t_sigma,
        limb_rms_px=float(np.sqrt(np.mean(miss_px[limb] ** 2))),
        terminator_rms_px=float(np.sqrt(np.mean(term_res**2))) if n_t else float("nan"),
        n_limb=n_l,
        n_terminator=n_t,
        attitude_sigma_deg=att_sigma,
        terminator_offset_px=float(p[-1]),
        used_ck=base is None,
    )


def _covariance(jac: np.ndarray, fun: np.ndarray) -> np.ndarray:
    """Parameter covariance from the Jacobian, scaled by the residual variance."""
    dof = max(fun.size - jac.shape[1], 1)
    s2 = float(fun @ fun) / dof
    try:
        return np.linalg.pinv(jac.T @ jac) * s2
    except np.linalg.LinAlgError:
        return np.full((jac.shape[1], jac.shape[1]), np.nan)
