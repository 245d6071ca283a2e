"""Navigation: the camera attitude from the planet's limb and terminator.

Pointing (CK) kernels are large and often missing; positions (SPK) are small and
easy to get. With positions only, the attitude of a frame is fitted to the image:

1. :func:`detect_edges` finds the lit planet's outline in every framelet: contour
   points at half the local maximum, moved to the peak of the image gradient and
   corrected for the brightness that keeps rising inside the limb.
   :func:`detect_terminator` finds where the disc first rises above the night
   side, with the depth at which the brightness, extrapolated over a 40 px chord,
   reaches zero (independent of a locally uniform albedo).
2. An initial attitude puts the bright pixels' centroid on the predicted lit
   disc's centroid, then searches the roll about that direction (and a small pan)
   for the best overlap of the observed and the predicted lit disc.
3. A robust least-squares fit moves three attitude angles, a correction of the
   turn per exposure (the overlap-fitted spin counts the planet's parallax as
   rotation) and the start time, so that limb points fall *on* the limb of the
   oblate planet and terminator points on the terminator the Sun predicts (each
   up to one fitted offset: haze above the 1-bar level, the twilight's softness).
   The terminator fixes the roll about the line of sight that a nearly circular
   limb leaves open. Implausible fits are refused rather than returned.
4. :func:`navigate_jointly` ties several frames of one close moon flyby to one spin
   axis: a round moon's limb leaves each frame's roll loose, the other frames' lines
   of sight pin it.

Observability: without a CK, a start-time offset is nearly equivalent to a turn
of the spin phase (the camera turns 12 degrees a second, so 1 ms is 0.2 pixel),
while the spacecraft's own motion in a few ms moves the planet by a few
thousandths of a pixel. So the time offset is fitted with a weak prior (20 ms,
the documented jitter) and its uncertainty is reported; the attitude at the
exposure times is what the fit determines. With a CK the attitude is known as a
function of time, and the same fit refines the start time alone.

Examples
--------
Step 1 on a drawn disc of radius 300 pixels: the outline found lies on its edge.

>>> import numpy as np
>>> from junocam.framelets import Framelets
>>> from junocam.metadata import Filter
>>> line, sample = np.mgrid[0:128, 0:1648]
>>> disc = (np.hypot(sample - 824.0, line - 64.0) < 300.0).astype(np.float32)
>>> edges = detect_edges(Framelets(disc[None, None], (Filter.GREEN,)))
>>> r = np.hypot(edges.sample - 824.0, edges.line - 64.0)
>>> edges.size > 100, bool(np.all(np.abs(r - 300.0) < 0.6))
(True, True)

:func:`navigate` shows the whole fit on a frame of a synthetic pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.optimize import least_squares
from skimage.measure import find_contours

from ..camera import CameraModel
from ..errors import GeometryError
from ..framelets import DARK_SAMPLES, PHOTOACTIVE_SAMPLES, Framelets
from ..metadata import Filter
from ..spin import FK_SPIN_AXIS, SpinModel, rotation_matrix
from .pointing import Pointing, ViewGeometry, small_rotation, view_from_ck, view_from_pointing
from .spheroid import Ellipsoid, intersect, limb_miss, surface_normal
from .spice import Ephemeris

__all__ = [
    "EdgePoints",
    "NavFrame",
    "Navigation",
    "detect_edges",
    "initial_pointing",
    "navigate",
    "navigate_jointly",
]

#: Prior on the start-time offset (s): the ~20 ms jitter of the timing model [CAMERA.md].
TIME_PRIOR_S = 0.020
#: Brightness (fraction of full scale) that separates the lit disc from the night
#: side: low, so the terminator found hardly depends on the albedo beside it.
TERMINATOR_LEVEL = 0.02
#: Sampled pixels that the coarse steps of the first attitude's grid search use at least
#: (a full frame has about 300,000; one exposure of one band 6,000, all of them used).
COARSE_RAYS = 40_000


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
    depth : numpy.ndarray or None
        Terminator points only: how far (pixels, towards the dark side) the
        brightness, extrapolated linearly from the point and a point ``reach``
        pixels further in, reaches zero.
    reach : float
        That distance (pixels).
    """

    exposure: np.ndarray
    band: np.ndarray
    sample: np.ndarray
    line: np.ndarray
    normal: np.ndarray
    bands: tuple[Filter, ...]
    depth: np.ndarray | None = None
    reach: float = 1.0

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
    margin: int = 3,
    min_contrast: float = 0.25,
    normalised: dict[Filter, np.ndarray] | None = None,
) -> EdgePoints:
    """Sub-pixel points of the lit disc's outline in every framelet.

    The outline is first found as the contour at half of the local maximum; each
    point is then moved along the image gradient to where the gradient peaks
    (parabolic sub-pixel fit). The peak of the gradient marks a blurred step edge
    without bias whatever the brightness inside, whereas a fixed fraction of the
    local maximum shifts with the lighting along the limb and would bias the roll.

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
    min_contrast : float
        Points whose bright side is fainter than this fraction of full scale are
        dropped (the faint limb near the terminator has no sharp edge).
    normalised : dict of Filter to numpy.ndarray, optional
        The bands' smoothed stacks over their full scale, when already made
        (:func:`navigate` makes them once for all its steps).

    Returns
    -------
    EdgePoints

    Examples
    --------
    >>> import numpy as np
    >>> data = np.zeros((1, 1, 128, 1648), np.float32)
    >>> data[0, 0, :, 800:] = 1.0
    >>> e = detect_edges(Framelets(data, (Filter.GREEN,)))
    >>> bool(np.allclose(e.sample, 799.5, atol=0.05)), bool(np.all(e.normal[:, 0] > 0.9))
    (True, True)
    """
    use = _nav_bands(framelets, bands)
    norm = _normalised(framelets, use) if normalised is None else normalised
    parts = []
    for k, b in enumerate(use):
        stack = norm[b]
        local = ndimage.maximum_filter(stack, size=(1, window, window))
        ratio = stack / np.maximum(local, floor)
        lines = stack.shape[1]
        for i, c, normal, (r, q) in _contour_normals(stack, ratio, 0.5, step, margin):
            ok = local[i, r, q] > min_contrast
            if ok.any():
                c, found = _gradient_peak(stack[i], c[ok], normal[ok])
                normal = normal[ok]
                c, normal = c[found], normal[found]
                inside = (
                    (c[:, 0] >= margin - 1)
                    & (c[:, 0] <= lines - margin)
                    & (c[:, 1] >= margin - 1)
                    & (c[:, 1] <= PHOTOACTIVE_SAMPLES - margin)
                )
                parts.append((i, k, c[inside], normal[inside]))
    edges = _edge_points(parts, use)
    if not edges.size:
        raise GeometryError("no planet edge found in the framelets: nothing to navigate on")
    return edges


def detect_terminator(
    framelets: Framelets,
    bands: tuple[Filter, ...] | None = None,
    *,
    level: float = TERMINATOR_LEVEL,
    step: int = 3,
    margin: int = 3,
    reach: float = 40.0,
    normalised: dict[Filter, np.ndarray] | None = None,
) -> EdgePoints:
    """Points where the disc's brightness first rises above the night side.

    The contour at a low fixed ``level`` (fraction of full scale) of the smoothed
    framelets. It follows the limb too; navigation keeps only the points that lie
    well inside the predicted disc. Near the terminator the brightness grows from
    zero in proportion to cos(incidence) times the albedo; so each point also gets
    the distance at which the brightness, extrapolated linearly from the point
    and from ``reach`` pixels further in, reaches zero: where the terminator is,
    whatever the (locally uniform) albedo. ``normalised`` as for :func:`detect_edges`.

    Examples
    --------
    >>> data = np.zeros((1, 1, 128, 1648), np.float32)
    >>> data[0, 0] = np.clip((np.arange(1648) - 900) / 400.0, 0, 1)
    >>> t = detect_terminator(Framelets(data, (Filter.GREEN,)))
    >>> bool(np.all(np.abs(t.sample - t.depth - 900) < 0.5))
    True
    """
    use = _nav_bands(framelets, bands)
    norm = _normalised(framelets, use) if normalised is None else normalised
    parts = []
    for k, b in enumerate(use):
        stack = norm[b]
        for i, c, normal, _ in _contour_normals(stack, stack, level, step, margin):
            near = ndimage.map_coordinates(stack[i], [c[:, 0], c[:, 1]], order=1)
            far = ndimage.map_coordinates(
                stack[i],
                [c[:, 0] + reach * normal[:, 1], c[:, 1] + reach * normal[:, 0]],
                order=1,
                mode="nearest",
            )
            # a clear rise inwards, else the point is noise or a dark spot's rim
            ok = far > 1.5 * near
            depth = near[ok] * reach / (far[ok] - near[ok])
            parts.append((i, k, c[ok], normal[ok], depth))
    return replace(_edge_points(parts, use), reach=reach)


def _contour_normals(
    stack: np.ndarray, field: np.ndarray, level: float, step: int, margin: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]]:
    """Contour points of ``field`` at ``level`` in every framelet of ``stack``.

    Yields (framelet index, (line, sample) points, unit gradient of ``stack`` towards
    the bright side as (d sample, d line), the points' rounded (line, sample)).
    """
    gl, gs = np.gradient(stack, axis=(1, 2))
    for i in range(stack.shape[0]):
        # all of a framelet's contours at once: a noisy night side has thousands of
        # tiny ones, and per-contour array work cost seconds on a methane frame
        pieces = [c[::step] for c in find_contours(field[i], level)]
        if not pieces:
            continue
        c = _inside(np.concatenate(pieces), stack.shape[1], margin)
        if not c.size:
            continue
        r = np.rint(c[:, 0]).astype(int)
        q = np.rint(c[:, 1]).astype(int)
        g = np.stack([gs[i, r, q], gl[i, r, q]], axis=1)
        mag = np.linalg.norm(g, axis=1)
        ok = mag > 1e-6
        yield i, c[ok], g[ok] / mag[ok, None], (r[ok], q[ok])


def _inside(c: np.ndarray, lines: int, margin: int) -> np.ndarray:
    """Contour points at least ``margin`` pixels inside a framelet."""
    keep = (
        (c[:, 0] >= margin)
        & (c[:, 0] <= lines - 1 - margin)
        & (c[:, 1] >= margin)
        & (c[:, 1] <= PHOTOACTIVE_SAMPLES - 1 - margin)
    )
    return c[keep]


def _edge_points(parts: list[tuple[Any, ...]], bands: tuple[Filter, ...]) -> EdgePoints:
    """Collect (exposure, band, (line, sample) points, unit normals[, depth]) tuples."""
    if not parts:
        return EdgePoints(
            np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros((0, 2)), bands
        )
    return EdgePoints(
        exposure=np.concatenate([np.full(len(q[2]), q[0]) for q in parts]),
        band=np.concatenate([np.full(len(q[2]), q[1]) for q in parts]),
        sample=np.concatenate([q[2][:, 1] + DARK_SAMPLES for q in parts]),
        line=np.concatenate([q[2][:, 0] for q in parts]),
        normal=np.concatenate([q[3] for q in parts]),
        bands=bands,
        depth=np.concatenate([q[4] for q in parts]) if len(parts[0]) > 4 else None,
    )


def _gradient_peak(
    img: np.ndarray, points: np.ndarray, normal: np.ndarray, reach: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Move (line, sample) points along unit normals (d sample, d line) to the edge.

    The edge is where the directional derivative of the (Gaussian-smoothed, sigma 1)
    image peaks, refined by a parabola. Inside a lit limb the brightness keeps
    rising (``B + g t``), which pulls that peak inwards by ``2 s^2 g / B`` (s^2 =
    the smoothing's variance plus a pixel's); the slope and level are measured on
    the bright side, three to four pixels in, and the shift is taken off.
    """
    t = np.arange(-reach, reach + 1.51, 0.5)
    rows = points[:, 0, None] + t[None, :] * normal[:, 1, None]
    cols = points[:, 1, None] + t[None, :] * normal[:, 0, None]
    prof = ndimage.map_coordinates(img, [rows, cols], order=1, mode="nearest")
    deriv = np.diff(prof, axis=1)  # at t + 0.25
    core = deriv[:, : int(round(2 * (2 * reach)))]  # peaks searched within +-reach
    k = np.argmax(core, axis=1)
    inner = (k > 0) & (k < core.shape[1] - 1)
    kk = np.clip(k, 1, core.shape[1] - 2)
    a = np.take_along_axis(deriv, (kk - 1)[:, None], 1)[:, 0]
    b = np.take_along_axis(deriv, kk[:, None], 1)[:, 0]
    c = np.take_along_axis(deriv, (kk + 1)[:, None], 1)[:, 0]
    den = a - 2 * b + c
    frac = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
    peak = t[0] + 0.25 + 0.5 * (kk + np.clip(frac, -0.5, 0.5))

    # brightness 2 and 3 px inside the peak (linear interpolation on the profile)
    def at(x: np.ndarray) -> np.ndarray:
        pos = np.clip((x - t[0]) / 0.5, 0, t.size - 1.001)
        i0 = np.floor(pos).astype(int)
        w = pos - i0
        lo = np.take_along_axis(prof, i0[:, None], 1)[:, 0]
        hi = np.take_along_axis(prof, (i0 + 1)[:, None], 1)[:, 0]
        return lo * (1 - w) + hi * w

    # three and four pixels in, where the smoothed step itself has levelled off
    f3, f4 = at(peak + 3.0), at(peak + 4.0)
    slope = f4 - f3
    level = f3 - 3.0 * slope
    with np.errstate(divide="ignore", invalid="ignore"):
        bias = np.where(level > 0, 2.0 * (1.0 + 1.0 / 12.0) * slope / level, 0.0)
    shift = peak - np.clip(np.nan_to_num(bias), -1.0, 1.0)
    moved = points + shift[:, None] * normal[:, ::-1]
    return moved, inner & (b > 0)


def _band_rays(
    camera: CameraModel,
    bands: tuple[Filter, ...],
    band: np.ndarray,
    sample: np.ndarray,
    line: np.ndarray,
) -> np.ndarray:
    """Camera-frame rays of pixels of several bands (``band`` indexes ``bands``)."""
    out = np.empty((sample.size, 3))
    for k, b in enumerate(bands):
        m = band == k
        out[m] = camera.pixel_to_ray(sample[m], line[m], b)
    return out


def _camera_rays(camera: CameraModel, edges: EdgePoints, shift: float = 0.0) -> np.ndarray:
    """Camera-frame rays of the edge points, optionally moved along their normals."""
    return _band_rays(
        camera,
        edges.bands,
        edges.band,
        edges.sample + shift * edges.normal[:, 0],
        edges.line + shift * edges.normal[:, 1],
    )


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
    norm: dict[Filter, np.ndarray], bands: tuple[Filter, ...], step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A regular subsample of normalised pixels: exposure, band, sample, line, brightness."""
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
    normalised: dict[Filter, np.ndarray] | None = None,
) -> Pointing:
    """A first attitude: the lit disc on the planet, roll and pan by grid search.

    The bright pixels' mean direction is turned onto the direction of Jupiter's
    centre; then the roll about that direction (every 3 degrees) and a pan within
    half the planet's apparent radius are chosen to maximise the agreement of the
    observed bright pixels with the predicted lit disc. The coarse steps use a thinned
    set of pixels (at least :data:`COARSE_RAYS`). ``normalised`` takes the bands'
    smoothed stacks when already made (see :func:`detect_edges`).

    Examples
    --------
    A one-exposure green frame of a synthetic pass: the first guess points the
    camera within a few degrees of the true (CK) attitude.

    >>> import tempfile
    >>> from junocam.metadata import from_website_json
    >>> from junocam.planet.simkernels import write_pass_kernels
    >>> from junocam.planet.spice import frame_ephemeris
    >>> from junocam.simulate import (PlanetTexture, SimulationSpec, simulate_planet_frame,
    ...                               website_metadata)
    >>> truth = write_pass_kernels(tempfile.mkdtemp())
    >>> spec = SimulationSpec(filters=(Filter.GREEN,), n_exposures=1, oversample=1)
    >>> eph = frame_ephemeris(from_website_json(website_metadata(spec, spec.true_spin())),
    ...                       truth.kernels)
    >>> sim = simulate_planet_frame(PlanetTexture.procedural((90, 180)), view_from_ck(eph), spec)
    >>> p = initial_pointing(Framelets(sim.linear, spec.filters), eph, spec.true_spin())
    >>> boresight = p.camera_to_j2000(np.array([0]))[0] @ [0.0, 0.0, 1.0]
    >>> true_boresight = eph.camera_to_j2000[0] @ [0.0, 0.0, 1.0]
    >>> round(float(np.degrees(np.arccos(boresight @ true_boresight))), 1)
    1.9
    """
    camera = camera or CameraModel()
    use = _nav_bands(framelets, bands)
    norm = _normalised(framelets, use) if normalised is None else normalised
    ex, bi, ss, ll, val = _sample_pixels(norm, use, step)
    bright = val > lit_fraction
    if bright.sum() < 20:
        raise GeometryError("too few bright pixels to find the planet")
    cam = _band_rays(camera, use, bi, ss.astype(np.float64), ll.astype(np.float64))
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
    # Every candidate below is ``base`` rolled about ``lit_dir`` (which keeps each ray's
    # angle to lit_dir), then turned by at most PAN + ROLL: a ray further from lit_dir
    # than the planet's reach plus that can never be lit, so it is left out of the
    # search (exact: the score counts it the same either way).
    pan, roll = 0.25 * math.sqrt(2.0) * radius, math.radians(4.0)
    centres = np.einsum("nji,nj->ni", ephemeris.j2000_to_body, -ephemeris.observer)
    c_dist = np.linalg.norm(centres, axis=1)
    reach = np.arcsin(np.minimum(1.0, float(ephemeris.body.radii.max()) / c_dist)) + np.arccos(
        np.clip(np.einsum("ni,i->n", centres / c_dist[:, None], lit_dir), -1.0, 1.0)
    )
    limit = float(reach.max()) + pan + roll + math.radians(0.5)
    base_sky = np.einsum("nj,kj->nk", sky, base)
    keep = np.arccos(np.clip(np.einsum("ni,i->n", base_sky, lit_dir), -1.0, 1.0)) <= limit

    def scorer(every: int) -> Callable[[np.ndarray], float]:
        """Agreement of a candidate attitude on every ``every``-th sampled pixel."""
        sub = slice(None, None, every)
        k, b = keep[sub], bright[sub]
        lit_of = _LitTest(sky[sub][k], ephemeris, ex[sub][k])
        bright_kept, n_bright = b[k], int(b.sum())

        def agreement(r: np.ndarray) -> float:
            lit = lit_of(r)
            # intersection over union: the sky, dark in both, must not dominate the score
            inter = int(np.sum(lit & bright_kept))
            union = n_bright + int(np.sum(lit & ~bright_kept))
            return float(inter / max(union, 1))

        return agreement

    def best_roll(
        score: Callable[[np.ndarray], float], r0: np.ndarray, axis: np.ndarray, angles: np.ndarray
    ) -> np.ndarray:
        cands = [rotation_matrix(axis, a) @ r0 for a in angles]
        return cands[int(np.argmax([score(r) for r in cands]))]

    # coarse to fine: the full turn of roll on at least COARSE_RAYS of the pixels, the
    # pan on twice as many, the final fine roll on all of them (the coarse steps only
    # need to land in the right 3 degrees / pan cell: the fits start from the result)
    every = max(1, ex.size // COARSE_RAYS)
    r = best_roll(scorer(every), base, lit_dir, np.radians(np.arange(0.0, 360.0, 3.0)))
    east, north = _tangent_axes(u)
    agreement = scorer(max(1, every // 2))
    best, score = r, agreement(r)
    for a in np.linspace(-0.25, 0.25, 7) * radius:
        for b in np.linspace(-0.25, 0.25, 7) * radius:
            cand = small_rotation(a * east + b * north) @ r  # turned by <= pan
            s = agreement(cand)
            if s > score:
                best, score = cand, s
    best = best_roll(scorer(1), best, u, np.radians(np.arange(-4.0, 4.01, 0.5)))  # <= roll
    return Pointing(best, spin)


class _LitTest:
    """Which sky directions, turned by a candidate attitude, see the lit planet.

    The same test as :func:`_mu0` (ray/spheroid intersection, cosine of incidence
    above 0.03) for one fixed set of rays and many attitudes: everything that does
    not depend on the attitude is prepared once, and the arithmetic runs on
    contiguous per-component arrays (several times faster than on (n, 3) arrays,
    which the grid search of :func:`initial_pointing` calls about 190 times).
    """

    def __init__(self, sky: np.ndarray, ephemeris: Ephemeris, exposure: np.ndarray) -> None:
        r = ephemeris.body.radii
        self.radii = [float(v) for v in r]
        self.sky = [np.ascontiguousarray(sky[:, k]) for k in range(3)]
        # body-fixed and scaled so that the spheroid is the unit sphere
        t = ephemeris.j2000_to_body[exposure] / r[None, :, None]
        self.t = [[np.ascontiguousarray(t[:, j, k]) for k in range(3)] for j in range(3)]
        o = ephemeris.observer[exposure] / r
        self.o = [np.ascontiguousarray(o[:, k]) for k in range(3)]
        self.c = self.o[0] ** 2 + self.o[1] ** 2 + self.o[2] ** 2 - 1.0
        sun = ephemeris.sun[exposure]
        self.sun_over_r = [np.ascontiguousarray(sun[:, k]) / r[k] for k in range(3)]

    def __call__(self, rot: np.ndarray) -> np.ndarray:
        sx, sy, sz = self.sky
        u = [rot[k, 0] * sx + rot[k, 1] * sy + rot[k, 2] * sz for k in range(3)]
        t = self.t
        d = [t[j][0] * u[0] + t[j][1] * u[1] + t[j][2] * u[2] for j in range(3)]
        ox, oy, oz = self.o
        a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        b = ox * d[0] + oy * d[1] + oz * d[2]
        disc = b * b - a * self.c
        hit = (disc >= 0) & (a > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = (-b - np.sqrt(np.where(hit, disc, 0.0))) / a
            hit &= dist > 0
            # the outward normal at p (body-fixed) is along p / r^2 = p' / r
            p = [o + dist * dk for o, dk in zip(self.o, d, strict=True)]
            sr = self.sun_over_r
            dot = p[0] * sr[0] + p[1] * sr[1] + p[2] * sr[2]
            norm = np.sqrt(sum((pk / rk) ** 2 for pk, rk in zip(p, self.radii, strict=True)))
            mu0 = dot / norm
        return hit & (mu0 > 0.03)


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
    limb_rms_px : float
        RMS distance (pixels) of the limb points kept in the fit from the predicted
        limb of the oblate planet.
    terminator_rms_px : float
        RMS distance (pixels) of the terminator points kept from the predicted
        terminator (after the fitted offset); NaN when none was used.
    n_limb, n_terminator : int
        Limb and terminator points used.
    attitude_sigma_deg : float
        1-sigma uncertainty of the attitude (largest axis, degrees); NaN with a CK.
    limb_offset_px, terminator_offset_px : float
        Fitted offsets of the observed limb (outwards +) and terminator (into the
        lit side +) from the predicted ones.
    turn_correction : float
        Relative correction of the spin's turn per exposure (no CK).
    used_ck : bool
    tied_frames : int
        How many frames shared this fit's spin axis (:func:`navigate_jointly`; 1: the
        frame alone).
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
    limb_offset_px: float
    terminator_offset_px: float
    turn_correction: float
    used_ck: bool
    tied_frames: int = 1

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
            "limb_offset_px": round(self.limb_offset_px, 3),
            "terminator_offset_px": round(self.terminator_offset_px, 3),
            "turn_correction": round(self.turn_correction, 7),
            "tied_frames": self.tied_frames,
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
    """Residuals for a parameter vector [attitude + turn (4, no CK)] [dt] [offsets (2)].

    Limb points give their distance (pixels) from the predicted limb of the
    oblate planet, less one fitted offset (haze above the 1-bar level and the
    edge finder's small bias). Terminator points -- where the disc's brightness
    first rises above the night side -- give their distance (pixels, along the
    image gradient) from the predicted terminator, less a second offset (the
    brightness there corresponds to a small, albedo-dependent cos(incidence)).
    Rolling the camera about the line of sight leaves a nearly circular limb
    unchanged but turns the terminator, which pins the roll.
    """

    def __init__(
        self,
        limb: EdgePoints,
        term: EdgePoints,
        ephemeris: Ephemeris,
        camera: CameraModel,
        base: Pointing | None,
        fit_time: bool,
    ) -> None:
        self.limb_pts = limb
        self.term_pts = term
        self.eph = ephemeris
        self.camera = camera
        self.base = base
        self.fit_time = fit_time
        self.rays = _camera_rays(camera, limb)
        self.t_rays = _camera_rays(camera, term) if term.size else np.zeros((0, 3))
        # the model extrapolates cos(incidence) over the same chord as the image's
        # brightness was, so the curvature of either along it cancels
        self.t_reach = term.reach
        self.t_rays_in = (
            _camera_rays(camera, term, shift=term.reach) if term.size else np.zeros((0, 3))
        )
        self.focal = camera.focal_px
        # three attitude angles and a relative correction of the turn per exposure:
        # the spin fitted from overlaps takes the planet's parallax (the spacecraft
        # moves 200 km in a frame) for rotation, which the ephemeris here separates
        self.n_att = 0 if base is None else 4
        self.i_dt = self.n_att
        self.i_off = self.n_att + int(fit_time)
        self.term_weight = 1.0

    def initial(self) -> np.ndarray:
        return np.zeros(self.i_off + 2)

    def view(self, p: np.ndarray) -> ViewGeometry:
        dt = float(p[self.i_dt]) if self.fit_time else 0.0
        if self.base is None:
            return view_from_ck(self.eph.shifted(dt), self.camera)
        return view_from_pointing(self.eph, self.pointing(p), self.camera)

    def pointing(self, p: np.ndarray) -> Pointing:
        assert self.base is not None
        dt = float(p[self.i_dt]) if self.fit_time else 0.0
        r = small_rotation(p[:3]) @ self.base.reference_to_j2000
        spin = replace(
            self.base.spin, turn_per_exposure=self.base.spin.turn_per_exposure * (1.0 + p[3])
        )
        return Pointing(r, spin, dt)

    def limb_px(
        self, v: ViewGeometry, sel: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Distance (px) from the predicted limb, in front flag and lit flag of the limb
        points (only those of the mask ``sel``: then no lit flag, None)."""
        e = self.limb_pts.exposure if sel is None else self.limb_pts.exposure[sel]
        rays = self.rays if sel is None else self.rays[sel]
        d = np.einsum("nij,nj->ni", v.camera_to_body[e], rays)
        miss, front = limb_miss(v.observer[e], d, v.body)
        lit = None if sel is not None else _tangent_mu0(v.observer[e], d, v.sun[e], v.body) > 0.02
        return miss * self.focal, front, lit

    def term_px(
        self, v: ViewGeometry, sel: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distance (px) from the predicted terminator, limb distance, usable flag (of
        the terminator points of the mask ``sel`` only, when given: the fit's rounds
        keep a few of the many points a noisy night side yields)."""
        e = self.term_pts.exposure if sel is None else self.term_pts.exposure[sel]
        rays = self.t_rays if sel is None else self.t_rays[sel]
        rays_in = self.t_rays_in if sel is None else self.t_rays_in[sel]
        o, sun = v.observer[e], v.sun[e]
        m = v.camera_to_body[e]
        d = np.einsum("nij,nj->ni", m, rays)
        d_in = np.einsum("nij,nj->ni", m, rays_in)
        mu, hit = _mu0(o, d, sun, v.body)
        mu_in, hit_in = _mu0(o, d_in, sun, v.body)
        rate = (mu_in - mu) / self.t_reach  # per pixel towards the bright side
        ok = hit & hit_in & (rate > 1e-7)
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.where(ok, mu / np.where(ok, rate, 1.0), 0.0)
        miss, _ = limb_miss(o, d, v.body)
        return dist, miss * self.focal, ok

    def classify(self, p: np.ndarray, gate: float) -> tuple[np.ndarray, np.ndarray]:
        v = self.view(p)
        miss_px, front, lit = self.limb_px(v)
        assert lit is not None
        limb = front & (np.abs(miss_px - p[self.i_off]) < gate) & lit
        if not self.term_pts.size:
            return limb, np.zeros(0, bool)
        dist, t_miss, ok = self.term_px(v)
        # terminator points well inside the disc, near the predicted terminator
        depth = self.term_pts.depth if self.term_pts.depth is not None else 0.0
        term = (
            ok
            & (t_miss < -max(3.0 * gate, 15.0))
            & (np.abs(dist - depth - p[self.i_off + 1]) < 2 * gate)
        )
        return limb, term

    def residuals(self, p: np.ndarray, limb: np.ndarray, term: np.ndarray) -> np.ndarray:
        v = self.view(p)
        miss_px, _, _ = self.limb_px(v, limb)
        parts = [miss_px - p[self.i_off]]
        if term.any():
            dist, _, _ = self.term_px(v, term)
            depth = self.term_pts.depth[term] if self.term_pts.depth is not None else 0.0
            parts.append(self.term_weight * (dist - depth - p[self.i_off + 1]))
        if self.fit_time:
            parts.append(np.array([p[self.i_dt] / TIME_PRIOR_S]))
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
    terminator_weight: float = 1.0,
) -> Navigation:
    """Fit the camera attitude (and start time) to the planet's limb and lit disc.

    Parameters
    ----------
    framelets : Framelets
        Linear framelets of the frame.
    ephemeris : Ephemeris
        Positions from the SPK (:func:`junocam.planet.spice.frame_ephemeris`).
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
        Weight of a terminator point relative to a limb point.

    Returns
    -------
    Navigation

    Raises
    ------
    GeometryError
        When no planet edge is seen or too few points sit on the predicted limb.

    Examples
    --------
    A one-exposure frame of a synthetic pass, rendered 15 ms later than its metadata
    says; with the CK attitude, navigation finds the start-time error on the limb:

    >>> import tempfile
    >>> from junocam.metadata import from_website_json
    >>> from junocam.planet.simkernels import write_pass_kernels
    >>> from junocam.planet.spice import frame_ephemeris
    >>> from junocam.simulate import (PlanetTexture, SimulationSpec, simulate_planet_frame,
    ...                               website_metadata)
    >>> truth = write_pass_kernels(tempfile.mkdtemp())
    >>> spec = SimulationSpec(n_exposures=1, oversample=1)
    >>> meta = from_website_json(website_metadata(spec, spec.true_spin()))
    >>> late = frame_ephemeris(meta, truth.kernels, time_offset=0.015)
    >>> sim = simulate_planet_frame(PlanetTexture.procedural((90, 180)), view_from_ck(late), spec)
    >>> eph = frame_ephemeris(meta, truth.kernels)
    >>> nav = navigate(Framelets(sim.linear, spec.filters), eph, spec.true_spin())
    >>> nav.used_ck, round(nav.time_offset, 3), nav.limb_rms_px < 0.5
    (True, 0.016, True)

    Without a CK (``use_ck=False`` or an ephemeris without attitude) the attitude is
    fitted too, starting from :func:`initial_pointing`; that needs a frame of many
    exposures and its spin fitted from their overlaps
    (:func:`junocam.geometry.fit_frame_spin`).

    On a close flyby of a moon (a few thousand km away, :func:`parallax_turn_bound`
    above :data:`CLOSE_FLYBY_PARALLAX`; Jupiter frames keep the plain fit) the
    overlap-fitted spin carries the parallax:
    the turn correction may then reach that bound, the spin axis' tilts are taken from
    the FK instead of the overlaps, and the whole limb, seen in every exposure, is fitted
    alone: its drift across the sweep (the flyby's parallax) is what pins the roll about
    the line of sight that a round body's outline leaves free. The terminator and the
    disc's shading are not used there: the moon's albedo biases both (a textured
    synthetic Ganymede's terminator depth is off by 5-10 px where the albedo changes;
    a shading fit tilted the roll by up to 1.8 degrees). That roll is the weakest part
    of such a fit: 0.3-1.0 degree on five synthetic Io, Europa and Ganymede passes,
    against at most 0.04 degree across the line of sight. Two or more frames of the
    flyby pin it: :func:`navigate_jointly` ties them to one spin axis.
    """
    camera = camera or CameraModel()
    ck = ephemeris.has_attitude if use_ck is None else use_ck
    if ck and not ephemeris.has_attitude:
        raise GeometryError("use_ck is set but the ephemeris has no CK attitude")
    use, norm, edges, term_pts, spin, camera, close, parallax = _inputs(
        framelets, ephemeris, spin, camera, bands, ck
    )
    base = (
        None
        if ck
        else initial
        or initial_pointing(framelets, ephemeris, spin, camera, bands=use, normalised=norm)
    )
    model = _Model(edges, term_pts, ephemeris, camera, base, fit_time)
    model.term_weight = terminator_weight
    p = model.initial()
    limb = term = np.zeros(0, bool)
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
            args=(limb, term),
            loss="soft_l1",
            f_scale=1.0,
            x_scale="jac",
            diff_step=1e-7,
        )
        p = sol.x
    assert sol is not None
    sig = np.sqrt(np.clip(np.diag(_covariance(sol.jac, sol.fun)), 0.0, None))
    return _result(model, p, sig, gates[-1], MAX_TURN_CORRECTION + (parallax if close else 0.0))


def _inputs(
    framelets: Framelets,
    ephemeris: Ephemeris,
    spin: SpinModel,
    camera: CameraModel,
    bands: tuple[Filter, ...] | None,
    ck: bool,
) -> tuple[
    tuple[Filter, ...],
    dict[Filter, np.ndarray],
    EdgePoints,
    EdgePoints,
    SpinModel,
    CameraModel,
    bool,
    float,
]:
    """Bands, smoothed stacks, limb and terminator points, spin, camera, close-flyby flag
    and parallax bound of a frame, as :func:`navigate` and :func:`navigate_jointly` fit
    them."""
    use = _nav_bands(framelets, bands)
    # smoothed and scaled once for the edges, the terminator and the first attitude
    norm = _normalised(framelets, use)
    edges = detect_edges(framelets, use, normalised=norm)
    parallax = parallax_turn_bound(ephemeris, spin)
    # moons only: Jupiter's own perijove frames keep the proven limb-only fit and guard
    close = parallax > CLOSE_FLYBY_PARALLAX and ephemeris.target.naif_id != 599
    if close and not ck:
        # the overlaps read the flyby's parallax as a tilt of the spin axis too, and the
        # limb cannot tell such a tilt from the roll about the line of sight; the axis
        # in the camera frame is a constant of the mounting, so take it from the FK.
        # The whole limb in every exposure then pins the attitude, the roll through the
        # parallax's drift across the sweep; the terminator is left out: on a textured
        # moon its depth is off by 5-10 px wherever the albedo changes along the chord
        # (measured at the true attitude of the synthetic Ganymede pass), which tilted
        # the fitted roll by more than half a degree
        spin = replace(spin, tilt_y=FK_TILT_Y, tilt_z=FK_TILT_Z)
        # the overlaps also read the parallax as a difference of scale between the
        # bands (0.2 % on a synthetic Io frame two spins after mid-pass, which put that
        # frame 0.11 degree off across the line of sight): the bands' focal lengths
        # are the instrument kernel's too
        camera = replace(camera, band_scale=CameraModel().band_scale)
        term_pts = _edge_points([], use)
    else:
        term_pts = detect_terminator(framelets, use, normalised=norm)
    return use, norm, edges, term_pts, spin, camera, close, parallax


def _result(
    model: _Model,
    p: np.ndarray,
    sig: np.ndarray,
    gate: float,
    max_turn: float,
    turn_before: float = 0.0,
) -> Navigation:
    """The :class:`Navigation` of a converged fit (parameters ``p``, 1-sigma ``sig``),
    refused when implausible. ``turn_before`` is a turn correction already in the
    model's base spin (a joint fit refining single-frame fits)."""
    limb, term = model.classify(p, gate)
    v = model.view(p)
    miss_px, _, _ = model.limb_px(v)
    l_res = miss_px[limb] - p[model.i_off]
    t_rms = float("nan")
    if term.any():
        dist, _, _ = model.term_px(v)
        depth = model.term_pts.depth[term] if model.term_pts.depth is not None else 0.0
        t_rms = float(np.sqrt(np.mean((dist[term] - depth - p[model.i_off + 1]) ** 2)))
    fitted = model.base is not None
    turn = (1.0 + turn_before) * (1.0 + float(p[3])) - 1.0 if fitted else 0.0
    problems = _implausible(int(limb.sum()), float(p[model.i_off]), turn, max_turn)
    if problems:
        raise GeometryError(
            "navigation is not trustworthy: " + "; ".join(problems) + " (the limb in view is "
            "too short or not the planet's; a CK would be needed)"
        )
    return Navigation(
        view=v,
        pointing=model.pointing(p) if fitted else None,
        time_offset=float(p[model.i_dt]) if model.fit_time else 0.0,
        time_offset_sigma=float(sig[model.i_dt]) if model.fit_time else 0.0,
        limb_rms_px=float(np.sqrt(np.mean(l_res**2))),
        terminator_rms_px=t_rms,
        n_limb=int(limb.sum()),
        n_terminator=int(term.sum()),
        attitude_sigma_deg=float(np.degrees(sig[:3].max())) if fitted else float("nan"),
        limb_offset_px=float(p[model.i_off]),
        terminator_offset_px=float(p[model.i_off + 1]),
        turn_correction=turn,
        used_ck=not fitted,
    )


@dataclass(frozen=True)
class NavFrame:
    """One frame of :func:`navigate_jointly`: what :func:`navigate` takes.

    Attributes
    ----------
    framelets : Framelets
        Linear framelets of the frame.
    ephemeris : Ephemeris
        Its SPK positions (no CK attitude is needed).
    spin : SpinModel
        Its self-calibrated spin (``SpinFit.spin``).
    camera : CameraModel, optional
        ``SpinFit.camera`` when it has per-band focal factors.
    """

    framelets: Framelets
    ephemeris: Ephemeris
    spin: SpinModel
    camera: CameraModel | None = None


#: Weight of the shared spin axis in :func:`navigate_jointly`, in limb-residual pixels
#: per radian of disagreement between two frames' axes: 0.001 degree costs 1.7 px, so
#: the frames share one axis to well under a thousandth of a degree.
AXIS_TIE_PX_PER_RAD = 1.0e5
#: A frame's limb RMS may grow this much (px) when its attitude is tied to the others'
#: spin axis; more means the frames do not share one axis (Juno turned between them).
MAX_JOINT_RMS_RISE_PX = 0.25


def navigate_jointly(
    frames: Sequence[NavFrame],
    *,
    navigations: Sequence[Navigation] | None = None,
    bands: tuple[Filter, ...] | None = None,
    gates: tuple[float, ...] = (5.0, 3.0),
) -> tuple[Navigation, ...]:
    """Navigate several frames of one flyby together: one spin axis for all of them.

    A single frame of a round moon leaves its roll about the line of sight weakly
    determined (only the limb's drift across one sweep, a few degrees of parallax,
    pins it: 0.3-1 degree on synthetic passes). Juno is spin-stabilised: between
    manoeuvres its spin axis stays fixed in space, while over a flyby the line of
    sight to the moon swings by tens of degrees. Each frame's disc fixes the camera's
    attitude across its own line of sight to a few hundredths of a degree; tying all
    frames to one spin axis turns those into the roll of every frame (synthetic Io
    and Ganymede passes, frames 60-120 s apart: roll 0.001-0.014 degree against
    0.02-2.9 for the same frames alone). Each frame keeps its own spin phase, turn
    correction, start time and limb offset.

    Parameters
    ----------
    frames : sequence of NavFrame
        Frames of one flyby, taken while Juno held its spin axis (no manoeuvre in
        between; frames minutes apart on one pass).
    navigations : sequence of Navigation, optional
        Their single-frame navigations (:func:`navigate`), when already done (e.g.
        cached); by default computed here.
    bands : tuple of Filter, optional
        Bands to use (default every non-methane band).
    gates : tuple of float
        Successive limb-distance limits (px) of the joint fit's rounds.

    Returns
    -------
    tuple of Navigation
        One per frame, in order. Frames navigated with a CK are returned as they are
        (their attitude is known); fewer than two without one: all unchanged.

    Raises
    ------
    GeometryError
        When a frame cannot be navigated, or a frame's limb fits clearly worse once
        tied to the others' spin axis (they do not share one). Two frames cannot show
        that: each one's roll can take up any turn of the axis between them (and would
        then be off by about the turn over the sine of the angle between the lines of
        sight); from three frames on a turn shows in the limbs.

    Examples
    --------
    Frames whose kernels have a CK keep their CK navigation (only frames without one
    are tied together); here a one-exposure frame of a synthetic pass, twice:

    >>> import tempfile
    >>> from junocam import simulate as sim
    >>> from junocam.metadata import from_website_json
    >>> from junocam.planet import simkernels, spice
    >>> kernels = simkernels.write_pass_kernels(tempfile.mkdtemp()).kernels
    >>> spec = sim.SimulationSpec(n_exposures=1, oversample=1)  # blue, green, red
    >>> meta = from_website_json(sim.website_metadata(spec, spec.true_spin()))
    >>> eph = spice.frame_ephemeris(meta, kernels)
    >>> disc = sim.simulate_planet_frame(sim.PlanetTexture.procedural((90, 180)),
    ...                                  view_from_ck(eph), spec).linear
    >>> one = NavFrame(Framelets(disc, spec.filters), eph, spec.true_spin())
    >>> [n.used_ck for n in navigate_jointly([one, one])]
    [True, True]

    The closed loops in ``tests/test_closed_loop_moons.py`` tie rendered Io and
    Ganymede frames without a CK.
    """
    navs = (
        list(navigations)
        if navigations is not None
        else [navigate(f.framelets, f.ephemeris, f.spin, f.camera, bands=bands) for f in frames]
    )
    if len(navs) != len(frames):
        raise GeometryError(f"{len(frames)} frames but {len(navs)} navigations")
    free = [k for k, n in enumerate(navs) if n.pointing is not None]
    if len(free) < 2:
        return tuple(navs)
    models: list[_Model] = []
    starts: list[np.ndarray] = []
    limits: list[float] = []
    for k in free:
        f, nav = frames[k], navs[k]
        assert nav.pointing is not None
        # the camera as the frame's own navigation had it (nominal band scales on a
        # close flyby)
        _, _, edges, term_pts, _, camera, close, parallax = _inputs(
            f.framelets, f.ephemeris, f.spin, f.camera or CameraModel(), bands, ck=False
        )
        model = _Model(edges, term_pts, f.ephemeris, camera, nav.pointing, True)
        p = model.initial()
        p[model.i_dt] = nav.time_offset
        p[model.i_off] = nav.limb_offset_px
        p[model.i_off + 1] = nav.terminator_offset_px
        models.append(model)
        starts.append(p)
        limits.append(MAX_TURN_CORRECTION + (parallax if close else 0.0))
    fit = _JointFit(models)
    x = np.concatenate(starts)
    sol = None
    for gate in gates:
        fit.keep([m.classify(p, gate) for m, p in zip(models, fit.split(x), strict=True)])
        sol = least_squares(
            fit.residuals, x, jac=fit.jacobian, loss=fit.loss, f_scale=1.0, x_scale="jac"
        )
        x = sol.x
    assert sol is not None
    sig = np.sqrt(np.clip(np.diag(_covariance(sol.jac, sol.fun)), 0.0, None))
    out = list(navs)
    for j, k in enumerate(free):
        lo, hi = fit.bounds[j], fit.bounds[j + 1]
        why = (
            f"frame {k + 1} of {len(frames)} does not share the others' spin axis (did "
            "Juno turn between the frames? navigate them alone): "
        )
        try:
            joint = _result(
                models[j], x[lo:hi], sig[lo:hi], gates[-1], limits[j], navs[k].turn_correction
            )
        except GeometryError as err:
            raise GeometryError(why + str(err)) from err
        if joint.limb_rms_px > navs[k].limb_rms_px + MAX_JOINT_RMS_RISE_PX:
            raise GeometryError(
                why + f"tied to it, its limb RMS grows from {navs[k].limb_rms_px:.2f} to "
                f"{joint.limb_rms_px:.2f} px"
            )
        out[k] = replace(joint, tied_frames=len(free))
    return tuple(out)


class _JointFit:
    """Residuals and Jacobian of :func:`navigate_jointly`: every frame's own residuals,
    then the differences of the frames' spin axes (J2000) from the first frame's."""

    def __init__(self, models: list[_Model]) -> None:
        self.models = models
        self.bounds = np.cumsum([0] + [m.initial().size for m in models])
        self.masks: list[tuple[np.ndarray, np.ndarray]] = []
        self.edge = np.zeros(0, bool)

    def keep(self, masks: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Use these limb and terminator masks in the next fit, and mark which residual
        rows they make edge points (the others are the time priors and the tie)."""
        self.masks = masks
        rows = []
        for (limb, term), m in zip(masks, self.models, strict=True):
            rows += [np.ones(int(limb.sum()) + int(term.sum()), bool)]
            rows += [np.zeros(int(m.fit_time), bool)]
        rows.append(np.zeros(3 * (len(self.models) - 1), bool))
        self.edge = np.concatenate(rows)

    def loss(self, z: np.ndarray) -> np.ndarray:
        """soft_l1 on the edge points (outliers), plain squares on the priors and the
        tie: a robust loss there would let a frame whose axis disagrees slip its tie
        (or its start time, by a minute) instead of showing the misfit."""
        edge = self.edge
        rho = np.empty((3, z.size))
        rho[0], rho[1], rho[2] = z, 1.0, 0.0
        t = 1.0 + z[edge]
        rho[0, edge] = 2.0 * (np.sqrt(t) - 1.0)
        rho[1, edge] = t**-0.5
        rho[2, edge] = -0.5 * t**-1.5
        return rho

    def split(self, x: np.ndarray) -> list[np.ndarray]:
        return [x[a:b] for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True)]

    def _frame(self, j: int, p: np.ndarray) -> np.ndarray:
        limb, term = self.masks[j]
        return self.models[j].residuals(p, limb, term)

    def _axis(self, j: int, p: np.ndarray) -> np.ndarray:
        base = self.models[j].base
        assert base is not None
        return small_rotation(p[:3]) @ base.reference_to_j2000 @ base.spin.axis

    def _tie(self, ps: list[np.ndarray]) -> np.ndarray:
        a0 = self._axis(0, ps[0])
        return AXIS_TIE_PX_PER_RAD * np.concatenate(
            [self._axis(j, ps[j]) - a0 for j in range(1, len(ps))]
        )

    def residuals(self, x: np.ndarray) -> np.ndarray:
        ps = self.split(x)
        return np.concatenate([self._frame(j, p) for j, p in enumerate(ps)] + [self._tie(ps)])

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        # each frame's residuals depend on its own parameters only: difference them
        # frame by frame instead of through every frame at once
        ps = self.split(x)
        own = [self._frame(j, p) for j, p in enumerate(ps)]
        tie = self._tie(ps)
        rows = np.cumsum([0] + [r.size for r in own])
        jac = np.zeros((rows[-1] + tie.size, x.size))
        step = 1e-7
        for j, p in enumerate(ps):
            for i in range(p.size):
                q = p.copy()
                q[i] += step
                col = self.bounds[j] + i
                jac[rows[j] : rows[j + 1], col] = (self._frame(j, q) - own[j]) / step
                if i < 3:  # only the attitude moves the spin axis
                    moved = list(ps)
                    moved[j] = q
                    jac[rows[-1] :, col] = (self._tie(moved) - tie) / step
        return jac


#: Limits of a plausible navigation: limb points, the limb's offset from the 1-bar
#: level (px; haze reaches a few hundred km) and the relative turn correction.
MIN_LIMB_POINTS = 200
MAX_LIMB_OFFSET_PX = 15.0
MAX_TURN_CORRECTION = 0.02
#: Above this parallax share of the turn (:func:`parallax_turn_bound`) a flyby counts
#: as close: navigation without a CK fits the spin axis' tilts as well.
CLOSE_FLYBY_PARALLAX = 0.005
#: The spin axis' tilts in the camera frame (radians), from the FK [juno_v12.tf] via
#: :data:`junocam.spin.FK_SPIN_AXIS`: what close flybys navigate with.
FK_TILT_Y = FK_SPIN_AXIS[1] / -FK_SPIN_AXIS[0]
FK_TILT_Z = FK_SPIN_AXIS[2] / -FK_SPIN_AXIS[0]


def parallax_turn_bound(ephemeris: Ephemeris, spin: SpinModel) -> float:
    """Largest fraction of the turn per exposure the flyby's parallax can take.

    The overlaps between exposures match surface features; while Juno moves, the
    features nearest to it (at ``range - radius``) swing across the sky at up to
    ``|v_perp| / (range - radius)`` rad/s, and the overlap fit reads that as spin.
    Far from the body (Jupiter maps) this is a few tenths of a percent; on a close
    moon flyby (Io at 2,340 km, 30 km/s) several percent. The navigation's turn
    correction may then exceed :data:`MAX_TURN_CORRECTION` by this much.

    Examples
    --------
    >>> from junocam.planet.spheroid import Ellipsoid
    >>> from junocam.planet.spice import Ephemeris
    >>> eph = Ephemeris("X", np.array([0.0, 0.373]), ("", ""),
    ...                 np.array([[4170.0, 0, 0], [4170.0, 11.2, 0]]),
    ...                 np.array([[0, 30.0, 0], [0, 30.0, 0]]), np.array([[1.0, 0, 0]] * 2),
    ...                 np.stack([np.eye(3)] * 2), None, None, Ellipsoid(1829.4, 1819.4, 1815.7))
    >>> round(parallax_turn_bound(eph, SpinModel.nominal(0.372)), 3)
    0.061
    """
    if ephemeris.n_exposures < 2:
        return 0.0
    r = ephemeris.observer
    v = ephemeris.observer_velocity
    dist = np.linalg.norm(r, axis=1)
    v_perp = np.linalg.norm(np.cross(r / dist[:, None], v), axis=1)
    near = np.maximum(dist - float(np.min(ephemeris.body.radii)), 1.0)
    period = float(np.median(np.diff(ephemeris.et)))
    return float(np.max(v_perp / near) * period / abs(spin.turn_per_exposure))


def _implausible(
    n_limb: int,
    limb_offset: float,
    turn_correction: float,
    max_turn: float = MAX_TURN_CORRECTION,
) -> list[str]:
    """Reasons to distrust a converged fit."""
    out = []
    if n_limb < MIN_LIMB_POINTS:
        out.append(f"only {n_limb} limb points (need {MIN_LIMB_POINTS})")
    if abs(limb_offset) > MAX_LIMB_OFFSET_PX:
        out.append(f"the limb sits {limb_offset:+.1f} px from the 1-bar level")
    if abs(turn_correction) > max_turn:
        out.append(f"the spin needed a {turn_correction * 100:+.1f} % turn correction")
    return out


def _covariance(jac: np.ndarray, fun: np.ndarray) -> np.ndarray:
    """Parameter covariance from the Jacobian, scaled by the residual variance."""
    dof = max(fun.size - jac.shape[1], 1)
    s2 = float(fun @ fun) / dof
    try:
        return np.linalg.pinv(jac.T @ jac) * s2
    except np.linalg.LinAlgError:
        return np.full((jac.shape[1], jac.shape[1]), np.nan)
