"""Block matching of framelet overlaps in detector coordinates, all blocks at once.

The spin self-calibration (:mod:`junocam.spinfit`) needs, wherever two framelets see
the same sky, which CCD pixel of one sees what a CCD pixel of the other sees. This
module measures that directly between the two framelets' own pixels:

1. every framelet is prepared once (hot pixels and TDI streaks removed by a separable
   3 x 5 median, square-root compressed so that shot noise is about uniform, saturated
   areas marked) and reduced to a small pyramid (2 x 2 and 4 x 4 means), one framelet
   at a time so that the temporaries stay in the processor's cache;
2. the current camera and spin model map a lattice of framelet ``a``'s pixels into
   framelet ``b`` (an exact per-point warp, so no framelet is ever resampled onto a
   grid). The spin turns every exposure by the same angle about one axis, so that map
   depends only on the pair's kind (exposure gap, band of ``a``, band of ``b``): block
   extents, lattices and their images are computed once per kind;
3. each overlap block's residual shift in ``b``'s pixels is found by Lucas-Kanade
   with a brightness model (gain, offset and a linear gradient between the two, so
   bands of different brightness compare), for all blocks in vectorised Gauss-Newton
   steps over groups of blocks of a few tens of thousands of points: gathers of the
   points, per-block normal equations by segmented sums, and one batched 6 x 6 solve
   per step.

A block's result is a correspondence in CCD coordinates that no longer depends on the
model that measured it, so the spin parameters can be solved for exactly on those
(:func:`junocam.spinfit.fit_spin`). Measuring on the 4 x 4 level first gives a basin
of several full-resolution pixels without any search.

Examples
--------
>>> import numpy as np
>>> from junocam.camera import CameraModel
>>> from junocam.framelets import split
>>> from junocam.spin import SpinModel
>>> rng = np.random.default_rng(0)
>>> fr = split(rng.uniform(100, 900, (6 * 384, 1648)).astype(np.float32), ["BLUE", "GREEN", "RED"])
>>> prep = prepare(fr)
>>> pairs = overlapping_pairs(prep, CameraModel(), SpinModel.nominal(0.372))
>>> len(pairs) > 0, pairs[0][0] < pairs[0][2]
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .camera import CameraModel
from .framelets import Framelets
from .metadata import Filter
from .spin import SpinModel

__all__ = [
    "BlockMatches",
    "PreparedFramelets",
    "match_blocks",
    "median_3x5",
    "overlapping_pairs",
    "prepare",
]

#: Square-root units per integer step of the median filter's 16-bit copy.
_ROOT_SCALE = 64.0

#: Pixels prepared at a time (whole framelets): a chunk's temporaries stay in cache.
_CHUNK_PIXELS = 250_000

#: Points iterated together by the matcher (blocks are independent): a group's
#: temporaries stay in cache.
_GROUP_POINTS = 32_768

#: Lines trimmed at each framelet edge: the first and last line of a framelet carry
#: readout transients.
TRIM_LINES = 1


def _med3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def median_3x5(x: np.ndarray) -> np.ndarray:
    """Separable 3 x 5 median: a median of 3 along lines, then of 5 along samples.

    Not the exact 15-pixel median, but the same at what matters for matching: a hot
    pixel (one sample, one line) and a TDI hot streak (one or two samples wide, any
    length) both disappear, and edges and gradients pass. It needs ten minimum or
    maximum operations per pixel instead of a selection, several times faster.
    Works on the last two axes of any array; edges repeat the border value.

    Parameters
    ----------
    x : numpy.ndarray
        (..., lines, samples), finite.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype.

    Examples
    --------
    >>> x = np.zeros((5, 7), np.float32); x[2, 3] = 100.0; x[:, 5] = 50.0
    >>> float(median_3x5(x).max())
    0.0
    """
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (0, 0)], mode="edge")
    v = _med3(p[..., :-2, :], p[..., 1:-1, :], p[..., 2:, :])
    del p
    q = np.pad(v, [(0, 0)] * (x.ndim - 1) + [(2, 2)], mode="edge")
    del v
    a, b, c, d, e = (q[..., k : k + x.shape[-1]] for k in range(5))
    # the median of five is the median of the middle value and the two survivors of
    # the pairs (a, b) and (d, e) after dropping the pairs' extreme ends
    lo = np.maximum(np.minimum(a, b), np.minimum(d, e))
    hi = np.minimum(np.maximum(a, b), np.maximum(d, e))
    return _med3(lo, hi, c)


@dataclass(frozen=True, eq=False)
class _Level:
    """One pyramid level: the framelets' values flattened for gathers (the matcher takes
    derivatives from the bilinear interpolant itself)."""

    factor: int
    shape: tuple[int, int]  # (lines, samples) of one framelet at this level
    flat: np.ndarray  # (K * lines * samples,) float32 values, 0 where unusable
    bad: np.ndarray | None  # (K, lines, samples) bool: unusable (near saturation), or None
    wide_bad: np.ndarray | None  # bad grown by two more pixels: room for a match's steps


@dataclass(frozen=True, eq=False)
class PreparedFramelets:
    """A frame's framelets prepared for matching (see :func:`prepare`).

    Attributes
    ----------
    filters : tuple of Filter
    n_exposures, framelet_lines, samples : int
        Geometry of the full-resolution framelets.
    noise : dict of str to float
        Robust per-pixel noise sigma of the prepared (square-root) data per band.
    levels : dict of int to _Level
        Pyramid levels by reduction factor (1, 2, 4).
    """

    filters: tuple[Filter, ...]
    n_exposures: int
    framelet_lines: int
    samples: int
    noise: dict[str, float]
    levels: dict[int, _Level]


def _binomial(p: np.ndarray) -> np.ndarray:
    """[1, 2, 1] / 4 smoothing along both of the last two axes, edges repeated.

    Bilinear interpolation smooths the matched framelet by an amount that depends on
    the sub-pixel phase while the other stays sharp, which biases shifts towards whole
    pixels, the more so the sharper (more aliased) the image. Two passes (sigma
    about 1 px) make both nearly band-limited: residuals of a clean simulated frame
    fall from 0.037 to 0.021 px, and on the real PJ43 frames the independent
    blue-to-green registration of the stitch keeps its median below half a pixel.
    """
    # (the edge terms are added where the repeated border value falls, in the same
    # order as on a padded copy: the same numbers without the copies)
    v = p * 2.0
    v[..., 1:, :] += p[..., :-1, :]
    v[..., :1, :] += p[..., :1, :]
    v[..., :-1, :] += p[..., 1:, :]
    v[..., -1:, :] += p[..., -1:, :]
    h = v * 2.0
    h[..., 1:] += v[..., :-1]
    h[..., :1] += v[..., :1]
    h[..., :-1] += v[..., 1:]
    h[..., -1:] += v[..., -1:]
    del v
    h *= 0.0625
    return h


def _root(x: np.ndarray, finite: np.ndarray | None = None) -> np.ndarray:
    """Square root of linear data in 1/64 units, 0 where not finite or negative, at most
    65535 (what the 16-bit median takes). ``finite``: ``np.isfinite(x)`` if known."""
    finite = np.isfinite(x) if finite is None else finite
    r = np.maximum(x, np.float32(0.0)) if finite.all() else np.where(finite, x, np.float32(0.0))
    np.maximum(r, 0.0, out=r)
    np.sqrt(r, out=r)
    r *= _ROOT_SCALE
    np.minimum(r, 65535.0, out=r)
    return r


def _noise_sigma(x: np.ndarray) -> float:
    """Robust per-pixel noise of the square-root data (:func:`_root` units) of one band's
    linear framelets (exposures, lines, samples), from adjacent-sample differences on
    every fourth line, 40 samples in from either edge.

    Only the differences the estimate uses are computed (an even spread of a quarter
    of a million), each from the two pixels' square roots.
    """
    n_exp, n_lines, n_samples = x.shape
    lines = len(range(0, n_lines, 4))
    width = max(n_samples - 80, 0) - 1  # differences per line
    n = n_exp * lines * width if width > 0 else 0
    if n == 0:
        return 1.0
    # a quarter of a million differences fix a robust sigma to a fraction of a percent
    k = np.arange(0, n, max(1, n // 250_000))
    row, col = np.divmod(k, width)
    e, line = np.divmod(row, lines)
    line *= 4
    col += 40
    d = _root(x[e, line, col + 1]) - _root(x[e, line, col])
    d = d[np.isfinite(d)]
    if d.size == 0:
        return 1.0
    mad = float(np.median(np.abs(d - np.median(d))))
    # quantised dim data can have a zero MAD: fall back to the mean absolute difference
    if mad == 0.0:
        mad = float(np.mean(np.abs(d))) * 0.8
    return max(mad / 0.6745 / math.sqrt(2.0), 1e-3)


def _reduce(p: np.ndarray) -> np.ndarray:
    """2 x 2 means on the last two axes (NaN spreads to its block)."""
    h, w = p.shape[-2] // 2 * 2, p.shape[-1] // 2 * 2
    s = p[..., 0:h:2, 0:w:2] + p[..., 1:h:2, 0:w:2]
    s += p[..., 0:h:2, 1:w:2]
    s += p[..., 1:h:2, 1:w:2]
    s *= 0.25
    return s


def _grow(mask: np.ndarray, size: int) -> np.ndarray:
    """``mask`` (2-d bool) grown by a ``size`` x ``size`` square (odd ``size``): what
    ``ndimage.maximum_filter`` gives, computed on the masked pixels' bounding box with
    room for the window (a saturated limb is a small part of a framelet)."""
    out = np.zeros(mask.shape, bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return out
    r = size // 2
    # the window of every pixel that can be set lies inside the box grown by 2 r
    # (at the frame's edges the filter's reflection stays inside it too)
    r0, r1 = max(rows[0] - 2 * r, 0), min(rows[-1] + 2 * r + 1, mask.shape[0])
    c0, c1 = max(cols[0] - 2 * r, 0), min(cols[-1] + 2 * r + 1, mask.shape[1])
    grown = ndimage.maximum_filter(mask[r0:r1, c0:c1].view(np.uint8), size=size) > 0
    # only pixels within r of the box can be set: the rest of the crop's edge is
    # filtered as if the crop ended there, and is left False
    o0, o1 = max(rows[0] - r, 0), min(rows[-1] + r + 1, mask.shape[0])
    p0, p1 = max(cols[0] - r, 0), min(cols[-1] + r + 1, mask.shape[1])
    out[o0:o1, p0:p1] = grown[o0 - r0 : o1 - r0, p0 - c0 : p1 - c0]
    return out


def _level(p: np.ndarray, f: int, hit: np.ndarray) -> _Level:
    """A level from (exposures, bands, lines, samples) values (an array of our own,
    changed in place) with NaN where unusable, only ever in the framelets ``hit``
    (flat framelet indices)."""
    k = p.shape[0] * p.shape[1]
    shape = (p.shape[2], p.shape[3])
    frames = p.reshape(k, *shape)
    bad = wide = None
    if hit.size:
        # a bilinear stencil reaches one pixel on: a pixel of margin around NaN; the
        # wide mask leaves two more for a match's steps
        bad = np.zeros((k, *shape), bool)
        wide = np.zeros((k, *shape), bool)
        for i in hit.tolist():
            nan = ~np.isfinite(frames[i])
            bad[i] = _grow(nan, 3)
            wide[i] = _grow(bad[i], 5)
            frames[i][bad[i]] = 0.0
    return _Level(f, shape, frames.reshape(-1), bad, wide)


def prepare(
    framelets: Framelets,
    saturation: float | None = None,
    *,
    levels: tuple[int, ...] = (1, 2, 4),
) -> PreparedFramelets:
    """Prepare a frame's framelets for :func:`match_blocks`.

    Parameters
    ----------
    framelets : Framelets
        Linear (decompanded) framelets, any bands.
    saturation : float, optional
        Linear value at or above which pixels are unusable (saturated limb); they and
        three pixels around them are left out of every match.
    levels : tuple of int
        Pyramid reduction factors to build (1 = full resolution).

    Returns
    -------
    PreparedFramelets

    Examples
    --------
    >>> from junocam.framelets import split
    >>> fr = split(np.full((2 * 384, 1648), 400.0, np.float32), ["BLUE", "GREEN", "RED"])
    >>> p = prepare(fr)
    >>> sorted(p.levels), p.levels[4].shape
    ([1, 2, 4], (32, 412))
    """
    x = np.asarray(framelets.data, dtype=np.float32)
    n_exp, n_bands, n_lines, n_samples = x.shape
    noise = {
        band.value: _noise_sigma(x[:, k]) / _ROOT_SCALE for k, band in enumerate(framelets.filters)
    }
    # (only powers of two are levels: each is the 2 x 2 means of the one below)
    wanted = sorted({f for f in levels if f >= 1 and f & (f - 1) == 0})
    out = {f: np.empty((n_exp, n_bands, n_lines // f, n_samples // f), np.float32) for f in wanted}
    # a few framelets at a time: every step below works framelet by framelet, and on
    # chunks whose temporaries stay in the processor's cache (one 128-line framelet is
    # 0.8 MB of float32) the whole preparation runs two to three times as fast as on
    # full-frame temporaries (same arithmetic, same result)
    n_frames = n_exp * n_bands
    frames = x.reshape(n_frames, n_lines, n_samples)
    flat_out = {f: o.reshape(n_frames, *o.shape[2:]) for f, o in out.items()}
    step = max(1, _CHUNK_PIXELS // max(1, n_lines * n_samples))
    hit: list[int] = []  # framelets with pixels marked unusable (NaN)
    for k0 in range(0, n_frames, step):
        sl = slice(k0, min(k0 + step, n_frames))
        chunk = frames[sl]
        finite = np.isfinite(chunk)
        root = _root(chunk, finite)
        # the median commutes with the square root, and on 16-bit integers (1/64 of a
        # square-root unit, far below the noise) it runs several times faster than on
        # floats
        g = median_3x5(root.astype(np.uint16)).astype(np.float32)
        del root
        g *= 1.0 / _ROOT_SCALE
        unusable = ~finite
        if saturation is not None:
            unusable |= chunk >= saturation
        if unusable.any():
            for i in np.flatnonzero(unusable.any(axis=(1, 2))).tolist():
                hit.append(k0 + i)
                grown = _grow(unusable[i], 7)
                g[i][grown] = np.nan
        cur, f = g, 1
        while wanted and f <= wanted[-1]:
            if f in out:
                flat_out[f][sl] = _binomial(_binomial(cur)) if f == 1 else cur
            if f < wanted[-1]:
                cur = _reduce(cur)
            f *= 2
    built = {f: _level(p, f, np.array(hit, dtype=np.intp)) for f, p in out.items()}
    return PreparedFramelets(
        tuple(framelets.filters),
        framelets.n_exposures,
        framelets.framelet_lines,
        n_samples,
        noise,
        built,
    )


def _to_level(x: np.ndarray | float, f: int) -> np.ndarray:
    """Full-resolution pixel coordinate -> level coordinate (pixel centres line up)."""
    return (np.asarray(x, dtype=np.float64) + 0.5) / f - 0.5


def _from_level(u: np.ndarray | float, f: int) -> np.ndarray:
    return f * (np.asarray(u, dtype=np.float64) + 0.5) - 0.5


def _undistort(
    camera: CameraModel, sample: np.ndarray, line: np.ndarray, band: np.ndarray
) -> np.ndarray:
    """Undistorted focal-plane (x, y) of CCD points, (n, 2); ``band`` indexes Filter.

    The distortion does not depend on the band focal-length factors the spin fit
    changes, so this is computed once per point set and reused under every model.
    """
    bands = list(Filter)
    out = np.empty((sample.size, 2))
    for k in range(len(bands)):
        sel = band == k
        if sel.any():
            out[sel] = camera.pixel_to_ray(sample[sel], line[sel], bands[k])[:, :2]
    return out


def _map(
    camera: CameraModel,
    spin: SpinModel,
    und: np.ndarray,
    pairs: np.ndarray,
    group: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Points of framelets a -> where framelets b see the same sky (full resolution).

    ``und`` (n, 2) undistorted focal-plane points of ``a`` (:func:`_undistort`);
    ``pairs`` (g, 4) rows of (exposure a, band a, exposure b, band b) with bands as
    Filter indices; ``group`` (n,) the row of ``pairs`` of every point, in
    non-decreasing order.
    Returns b's (sample, line).
    """
    bands = list(Filter)
    ra = spin.rotation(pairs[:, 0].astype(np.float64))
    rb = spin.rotation(pairs[:, 2].astype(np.float64))
    # camera a -> sky -> camera b, one matrix per pair; the focal length of a's band
    # is the ray's third component, so it folds into the matrix's last column
    rel = np.einsum("gkj,gki->gji", rb, ra)  # rb^T @ ra
    focal = np.array([camera.focal_for(b) for b in bands])  # per band, not per pair
    rel[:, :, 2] *= focal[pairs[:, 1]][:, None]
    out = np.empty((und.shape[0], 3))
    # points come grouped: one small product per group beats a matrix per point
    bounds = np.searchsorted(group, np.arange(len(pairs) + 1))
    for g in np.flatnonzero(np.diff(bounds)).tolist():
        sl = slice(bounds[g], bounds[g + 1])
        out[sl] = und[sl] @ rel[g, :, :2].T + rel[g, :, 2]
    band_b = pairs[group, 3]
    s = np.empty(und.shape[0])
    ln = np.empty(und.shape[0])
    for k in range(len(bands)):
        sel = band_b == k
        if sel.any():
            s[sel], ln[sel] = camera.ray_to_pixel(out[sel], bands[k])
    return s, ln


def overlapping_pairs(
    prep: PreparedFramelets, camera: CameraModel, spin: SpinModel, *, max_gap: int = 4
) -> list[tuple[int, int, int, int]]:
    """Framelet pairs ``(exposure a, band a, exposure b, band b)`` that see common sky.

    Framelets of one exposure never overlap (the filter stripes are disjoint); pairs
    up to ``max_gap`` exposures apart whose centres map within a framelet height of
    each other are kept (``a`` always the earlier exposure).

    Examples
    --------
    >>> from junocam.framelets import split
    >>> fr = split(np.ones((4 * 128, 1648), np.float32), ["RED"])
    >>> p = prepare(fr, levels=(4,))
    >>> overlapping_pairs(p, CameraModel(), SpinModel.nominal(0.372))[:2]
    [(0, 3, 1, 3), (1, 3, 2, 3)]
    """
    bands = [list(Filter).index(b) for b in prep.filters]
    cand = [
        (i, p, j, q)
        for i in range(prep.n_exposures)
        for j in range(i + 1, min(i + max_gap, prep.n_exposures - 1) + 1)
        for p in bands
        for q in bands
    ]
    if not cand:
        return []
    c = np.array(cand, dtype=np.intp)
    mid_s = np.full(len(c), (camera.sample_range[0] + camera.sample_range[1]) / 2)
    mid_l = np.full(len(c), (prep.framelet_lines - 1) / 2)
    und = _undistort(camera, mid_s, mid_l, c[:, 1])
    s, ln = _map(camera, spin, und, c, np.arange(len(c)))
    near = np.abs(ln - mid_l) < prep.framelet_lines - 2 * TRIM_LINES
    near &= np.abs(s - mid_s) < 0.5 * (camera.sample_range[1] - camera.sample_range[0])
    return [tuple(int(v) for v in row) for row in c[near]]  # type: ignore[misc]


@dataclass(frozen=True)
class BlockMatches:
    """Measured correspondences between framelet pairs, one row per accepted block.

    All coordinates are full-resolution CCD pixels of each band's framelet. Arrays
    are (n, 2): column 0 for framelet ``a``, column 1 for ``b``.

    Attributes
    ----------
    exposure, band : numpy.ndarray
        Exposure index and :class:`Filter` index of each end.
    sample, line : numpy.ndarray
        CCD position of the block's centre in ``a`` and of what ``b`` sees there.
    weight : numpy.ndarray
        (n, 2) inverse variances (1 / px^2) of the line and sample components.
    shift : numpy.ndarray
        (n, 2) the residual (line, sample) shift measured under the model (pixels).
    score : numpy.ndarray
        (n,) correlation of the brightness model (1 is perfect).
    block : numpy.ndarray
        (n,) which column block of the pair's overlap.
    """

    exposure: np.ndarray
    band: np.ndarray
    sample: np.ndarray
    line: np.ndarray
    weight: np.ndarray
    shift: np.ndarray
    score: np.ndarray
    block: np.ndarray

    def __len__(self) -> int:
        return int(self.exposure.shape[0])

    @property
    def cross_band(self) -> np.ndarray:
        """(n,) whether the two ends are of different bands."""
        return np.asarray(self.band[:, 0] != self.band[:, 1])

    def keys(self) -> set[tuple[int, int, int, int, int]]:
        """``(exposure a, band a, exposure b, band b, block)`` of every row."""
        return {
            (int(e[0]), int(b[0]), int(e[1]), int(b[1]), int(k))
            for e, b, k in zip(self.exposure, self.band, self.block, strict=True)
        }


@dataclass(frozen=True, eq=False)
class _Blocks:
    """Points of every block, sorted by block (segments start at ``starts``)."""

    pair: np.ndarray  # (nb, 4) exposure a, band a, exposure b, band b
    block: np.ndarray  # (nb,) column block index
    starts: np.ndarray  # (nb,) first point of each block
    counts: np.ndarray  # (nb,)
    owner: np.ndarray  # (n,) block of each point
    kb: np.ndarray  # (n,) framelet index of b
    rb: np.ndarray  # (n,) b level line under the model
    cb: np.ndarray  # (n,) b level sample under the model
    rn: np.ndarray  # (n,) normalised line within the block
    cn: np.ndarray  # (n,) normalised sample within the block
    la: np.ndarray  # (n,) a level line
    sa: np.ndarray  # (n,) a level sample
    av: np.ndarray  # (n,) a's value at each point
    noise: np.ndarray  # (nb,) the larger of the two bands' noise sigmas


def _blocks(
    prep: PreparedFramelets,
    camera: CameraModel,
    spin: SpinModel,
    pairs: list[tuple[int, int, int, int]],
    f: int,
    *,
    column_blocks: int,
    min_rows: int,
    max_points: int,
    margin: float,
    only: set[tuple[int, int, int, int, int]] | None,
) -> _Blocks | None:
    level = prep.levels[f]
    nl, ns = level.shape
    bands = [list(Filter).index(b) for b in prep.filters]
    nbands = len(bands)
    lut = np.full(len(Filter), -1, np.intp)
    lut[np.array(bands)] = np.arange(nbands)
    s_lo, s_hi = (float(_to_level(v, f)) for v in camera.sample_range)
    l_lo = float(_to_level(TRIM_LINES, f))
    l_hi = float(_to_level(prep.framelet_lines - 1 - TRIM_LINES, f))
    edges = np.linspace(math.ceil(s_lo + margin), math.floor(s_hi - margin), column_blocks + 1)
    edges = np.round(edges).astype(int)
    lines = np.arange(math.ceil(l_lo), math.floor(l_hi) + 1)
    pr = np.array(pairs, dtype=np.intp)
    # The spin turns the camera by the same angle about the same axis from each
    # exposure to the next, so the map from a's pixels to b's depends on the pair's
    # kind (exposure gap, band a, band b) only: block extents, point lattices and
    # their images in b are computed once per kind and shared by its pairs.
    kinds, first, kind_of = np.unique(
        np.stack([pr[:, 2] - pr[:, 0], pr[:, 1], pr[:, 3]], axis=1),
        axis=0,
        return_index=True,
        return_inverse=True,
    )
    kind_of = kind_of.reshape(-1)
    rep = pr[first]  # one pair of each kind
    nk = len(kinds)
    # where each a line falls in b, at the first, middle and last sample of each block
    probe = np.stack([edges[:-1], (edges[:-1] + edges[1:]) // 2, edges[1:] - 1], axis=1)
    ps, pl = np.meshgrid(probe.ravel(), lines)
    ps_f, pl_f = _from_level(ps.ravel(), f), _from_level(pl.ravel(), f)
    # the probes are the same pixels for every kind: undistorted once per band
    per_band = {
        k: _undistort(camera, ps_f, pl_f, np.full(ps_f.size, k)) for k in np.unique(rep[:, 1])
    }
    und = np.concatenate([per_band[k] for k in rep[:, 1]])
    s, ln = _map(camera, spin, und, rep, np.repeat(np.arange(nk), ps.size))
    s = _to_level(s, f)
    ln = _to_level(ln, f)
    inside = (ln >= l_lo + margin) & (ln <= l_hi - margin) & (s >= s_lo + margin)
    inside &= s <= s_hi - margin
    # lens distortion bends the overlap of thin (same-band) pairs across a block: keep
    # the lines any probe sees inside; each point is checked on its own below
    seen = np.asarray(np.asarray(inside).reshape(nk, lines.size, column_blocks, 3).any(axis=3))
    # the lattice of points of each (kind, column block): spread evenly over the block
    lattice = np.full((nk, column_blocks), -1, np.intp)
    lat_r: list[np.ndarray] = []
    lat_c: list[np.ndarray] = []
    lat_kind: list[int] = []
    for ik in range(nk):
        for kc in range(column_blocks):
            ok = np.flatnonzero(seen[ik, :, kc])
            if ok.size < min_rows:
                continue
            r = lines[ok[0] : ok[-1] + 1]
            c = np.arange(edges[kc], edges[kc + 1])
            n = r.size * c.size
            take = (
                np.arange(n)
                if n <= max_points
                else np.linspace(0, n - 1, max_points).astype(np.intp)
            )
            lattice[ik, kc] = len(lat_r)
            lat_r.append(r[take // c.size])
            lat_c.append(c[take % c.size])
            lat_kind.append(ik)
    if not lat_r:
        return None
    lat_size = np.array([r.size for r in lat_r])
    lat_start = np.concatenate([[0], np.cumsum(lat_size)[:-1]])
    lr = np.concatenate(lat_r)
    lc = np.concatenate(lat_c)
    # every block: a pair and one of its kind's column blocks (pairs in order, then
    # column blocks in order)
    blk_pair, blk_kc = np.nonzero(lattice[kind_of] >= 0)
    if only is not None:
        want = [
            (int(pr[ip, 0]), int(pr[ip, 1]), int(pr[ip, 2]), int(pr[ip, 3]), int(kc)) in only
            for ip, kc in zip(blk_pair.tolist(), blk_kc.tolist(), strict=True)
        ]
        blk_pair, blk_kc = blk_pair[want], blk_kc[want]
    if blk_pair.size == 0:
        return None
    blk_lat = lattice[kind_of[blk_pair], blk_kc]
    size = lat_size[blk_lat]
    owner = np.repeat(np.arange(blk_pair.size), size)
    # each point's index into the lattices' arrays
    pts = np.arange(owner.size) - np.repeat(np.cumsum(size) - size - lat_start[blk_lat], size)
    pair = pr[blk_pair]
    kframe = pair[:, 0] * nbands + lut[pair[:, 1]]
    ka_all = (kframe[owner] * nl + lr[pts]) * ns + lc[pts]
    if level.bad is not None:
        good = ~level.bad.reshape(-1)[ka_all]
        owner, pts, ka_all = owner[good], pts[good], ka_all[good]
    # a block of a without structure above the noise (black sky, smooth haze) cannot
    # give a shift: leave it out before anything else
    av = np.take(level.flat, ka_all)
    npts = np.maximum(np.bincount(owner, minlength=len(pair)), 1).astype(np.float64)
    a1 = np.bincount(owner, av, minlength=len(pair)) / npts
    a2 = np.bincount(owner, av * av, minlength=len(pair)) / npts
    allb = list(Filter)
    noise = np.array(
        [max(prep.noise[allb[p].value], prep.noise[allb[q].value]) for p, q in pair[:, [1, 3]]]
    )
    # (the prepared data are smoothed: black sky varies by about a third of the noise)
    textured = np.sqrt(np.maximum(a2 - a1 * a1, 0.0)) > 0.8 * noise / f
    if not textured.any():
        return None
    keep_pts = textured[owner]
    renumber = np.cumsum(textured) - 1
    owner = renumber[owner[keep_pts]]
    pts = pts[keep_pts]
    pair = pair[textured]
    noise = noise[textured]
    block = blk_kc[textured]
    av = av[keep_pts]
    # where b sees the lattices under the model: once per lattice point
    lat_band = np.repeat(rep[np.array(lat_kind), 1], lat_size)
    und = _undistort(camera, _from_level(lc, f), _from_level(lr, f), lat_band)
    s_b, l_b = _map(camera, spin, und, rep, np.repeat(np.array(lat_kind), lat_size))
    rb, cb = _to_level(l_b, f)[pts], _to_level(s_b, f)[pts]
    kb = (pair[:, 2] * nbands + lut[pair[:, 3]])[owner]
    # b must see the point inside its usable area, away from saturation (with room for
    # the matcher's steps)
    edge = 0.5 * margin
    keep = (rb >= l_lo + edge) & (rb <= l_hi - edge) & (cb >= s_lo + edge) & (cb <= s_hi - edge)
    if level.wide_bad is not None:
        ri = np.clip(np.round(rb).astype(np.intp), 0, nl - 1)
        ci = np.clip(np.round(cb).astype(np.intp), 0, ns - 1)
        keep &= ~level.wide_bad.reshape(-1)[(kb * nl + ri) * ns + ci]
    counts = np.bincount(owner[keep], minlength=len(pair))
    enough = counts >= 200 // (f * f) + 50
    keep &= enough[owner]
    if not keep.any():
        return None
    renumber = np.cumsum(enough) - 1
    owner = renumber[owner[keep]]
    pair = pair[enough]
    counts = counts[enough]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pts = pts[keep]
    la_all = lr[pts].astype(np.float64)
    sa_all = lc[pts].astype(np.float64)

    def norm(x: np.ndarray) -> np.ndarray:
        mean = np.add.reduceat(x, starts) / counts
        span = np.maximum(np.maximum.reduceat(x, starts) - np.minimum.reduceat(x, starts), 1.0)
        return (x - mean[owner]) / span[owner]

    return _Blocks(
        pair=pair,
        block=block[enough],
        starts=starts,
        counts=counts,
        owner=owner,
        kb=kb[keep],
        rb=rb[keep],
        cb=cb[keep],
        rn=norm(la_all),
        cn=norm(sa_all),
        la=la_all,
        sa=sa_all,
        av=av[keep],
        noise=noise[enough],
    )


def _gather(
    level: _Level, base: np.ndarray, r: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear values of ``level`` at points (``base``: the first flat index of each
    point's framelet; line ``r``, sample ``c``), with the interpolant's own line and
    sample derivatives (so Gauss-Newton converges to the least-squares shift of the
    interpolated image). Points outside are clamped to the edge."""
    nl, ns = level.shape
    r = np.clip(r, 0.0, nl - 1.000001)
    c = np.clip(c, 0.0, ns - 1.000001)
    r0 = r.astype(np.intp)
    c0 = c.astype(np.intp)
    tr = (r - r0).astype(np.float32)
    tc = (c - c0).astype(np.float32)
    i = r0 * ns
    i += c0
    i += base
    g = level.flat
    # np.take is several times faster than fancy indexing for large gathers; the
    # right, lower and lower-right neighbours are taken from shifted views
    v00, v01 = np.take(g, i), np.take(g[1:], i)
    v10, v11 = np.take(g[ns:], i), np.take(g[ns + 1 :], i)
    v01 -= v00  # the sample differences along the upper and the lower line
    v11 -= v10
    top = v01 * tc
    top += v00
    bot = v11 * tc
    bot += v10
    d_line = bot - top
    val = d_line * tr
    val += top
    v11 -= v01
    v11 *= tr
    v11 += v01
    return val, d_line, v11


def _inside(level: _Level, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Which points lie inside the level's framelets (bilinear stencil included)."""
    nl, ns = level.shape
    return (r >= 0) & (r <= nl - 1) & (c >= 0) & (c <= ns - 1)


def _segsum(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(x, starts, dtype=np.float64)


def match_blocks(
    prep: PreparedFramelets,
    camera: CameraModel,
    spin: SpinModel,
    *,
    level: int = 1,
    max_gap: int = 4,
    column_blocks: int = 4,
    min_rows: int = 6,
    max_points: int = 1024,
    max_shift: float = 10.0,
    max_sd_px: float = 0.5,
    min_score: float = 0.3,
    iterations: int = 10,
    only: set[tuple[int, int, int, int, int]] | None = None,
    pairs: list[tuple[int, int, int, int]] | None = None,
) -> BlockMatches:
    """Measure where every overlap block of ``a`` lies in ``b``, all blocks at once.

    Parameters
    ----------
    prep : PreparedFramelets
    camera : CameraModel
    spin : SpinModel
        The model that maps ``a``'s pixels into ``b`` (the measured shift is what it
        leaves).
    level : int
        Pyramid level to measure on (1, 2 or 4); shifts, positions and weights are
        returned in full-resolution pixels whatever the level.
    max_gap : int
        Largest exposure gap of a pair.
    column_blocks : int
        Blocks across the samples of each overlap (constrains rotations too).
    min_rows : int
        Fewest level lines of an overlap block.
    max_points : int
        Points matched per block, spread evenly (precision falls only as the square
        root of the count, far below the overlaps' model residuals).
    max_shift : float
        Largest residual shift accepted (full-resolution pixels).
    max_sd_px : float
        Blocks less precise than this (predicted sigma of either component, full
        resolution pixels) are dropped: featureless sky, smooth cloud.
    min_score : float
        Smallest correlation of the brightness model accepted.
    iterations : int
        Largest number of Gauss-Newton steps.
    only : set, optional
        Measure only these blocks (keys as :meth:`BlockMatches.keys`).
    pairs : list, optional
        Pairs to consider (default :func:`overlapping_pairs`).

    Returns
    -------
    BlockMatches

    Examples
    --------
    >>> from junocam.companding import decompand
    >>> from junocam.framelets import split
    >>> from junocam.simulate import JupiterScene, SimulationSpec, simulate_frame
    >>> spec = SimulationSpec(n_exposures=4, oversample=1)
    >>> sim = simulate_frame(JupiterScene(radius_deg=12.0), spec)
    >>> fr = split(decompand(sim.strip, "SQROOT"), spec.filters)
    >>> m = match_blocks(prepare(fr), CameraModel(), sim.spin)
    >>> len(m) > 10, bool(np.median(np.abs(m.shift)) < 0.3)
    (True, True)
    """
    lv = prep.levels[level]
    f = level
    if pairs is None:
        pairs = overlapping_pairs(prep, camera, spin, max_gap=max_gap)
    empty = BlockMatches(
        exposure=np.zeros((0, 2), np.intp),
        band=np.zeros((0, 2), np.intp),
        sample=np.zeros((0, 2)),
        line=np.zeros((0, 2)),
        weight=np.zeros((0, 2)),
        shift=np.zeros((0, 2)),
        score=np.zeros(0),
        block=np.zeros(0, np.intp),
    )
    if not pairs:
        return empty
    blk = _blocks(
        prep,
        camera,
        spin,
        pairs,
        f,
        column_blocks=column_blocks,
        min_rows=min_rows,
        max_points=max_points,
        margin=2.0 if f == 1 else 1.0,
        only=only,
    )
    if blk is None:
        return empty
    nb = blk.starts.size
    noise = blk.noise
    plane = lv.shape[0] * lv.shape[1]
    d = np.zeros((nb, 2))
    limit = max_shift / f
    normal = np.zeros((nb, 6, 6))
    sol = np.full((nb, 6), np.nan)
    rejected = np.zeros(nb, bool)
    full = _all_blocks(blk, plane)
    # blocks are independent: iterate them a group at a time, so that a group's
    # temporaries stay in cache (the same steps and numbers as all at once)
    first_point = np.cumsum(blk.counts) - blk.counts
    cuts = np.flatnonzero(np.diff(first_point // _GROUP_POINTS)) + 1
    for ids in np.split(np.arange(nb), cuts):
        _lucas_kanade(
            lv,
            blk,
            full,
            ids,
            d,
            normal,
            sol,
            rejected,
            iterations=iterations,
            limit=limit,
            min_score=min_score,
        )
    cand = np.flatnonzero(~rejected & np.isfinite(sol).all(axis=1))
    if cand.size == 0:
        return empty
    fin = _subset(blk, full, cand)
    r_fin = fin.rb + np.repeat(d[cand, 0], fin.counts)
    c_fin = fin.cb + np.repeat(d[cand, 1], fin.counts)
    bv, gl, gs = _gather(lv, fin.base, r_fin, c_fin)
    inside = _inside(lv, r_fin, c_fin)
    sc = sol[cand]
    scs = [np.repeat(sc[:, k], fin.counts) for k in range(4)]
    model = scs[0] * fin.fixed[0] + scs[1] + scs[2] * fin.fixed[2] + scs[3] * fin.fixed[3]
    resid = bv - model
    fcnt = blk.counts[cand].astype(np.float64)
    score = _score(bv, resid, fin.starts)
    r2 = _segsum(resid * resid, fin.starts) / fcnt
    # white noise is reduced f-fold (in sigma) by the f x f means
    var = np.maximum(r2, (noise[cand] / f) ** 2)
    cov = _inv_corner(normal[cand]) * var[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        wr = 1.0 / np.maximum(cov[:, 0, 0], 1e-8) / (f * f)
        wc = 1.0 / np.maximum(cov[:, 1, 1], 1e-8) / (f * f)
    inside_share = _segsum(inside.astype(np.float32), fin.starts) / fcnt
    dc = d[cand]
    ok = (
        (np.max(np.abs(dc), axis=1) <= limit)
        & (sc[:, 0] > 0)
        & (score >= min_score)
        & (wr >= max_sd_px**-2)
        & (wc >= max_sd_px**-2)
        & (inside_share >= 0.98)
        & np.isfinite(wr)
        & np.isfinite(wc)
    )
    keep = cand[ok]
    # the correspondence at the block's centre: its mean a pixel and where b sees it
    # where the block's shift holds: Lucas-Kanade finds the shift of the block's
    # texture, so its centre is the gradient-energy-weighted one, not the geometric
    # one (they differ where the model's residual varies across a block: parallax)
    ge = gl * gl + gs * gs
    wsum = np.maximum(_segsum(ge, fin.starts), 1e-30)
    ca_l = (_segsum(ge * blk.la[fin.pts], fin.starts) / wsum)[ok]
    ca_s = (_segsum(ge * blk.sa[fin.pts], fin.starts) / wsum)[ok]
    # the block's shift is relative to the mapped points: the centre's partner is the
    # exact image of the centre plus that shift (the mean of the mapped points is not:
    # the map bends by up to a fifth of a pixel over a block)
    pr = blk.pair[keep]
    und = _undistort(camera, _from_level(ca_s, f), _from_level(ca_l, f), pr[:, 1])
    s_c, l_c = _map(camera, spin, und, pr, np.arange(keep.size))
    cb_l = _to_level(l_c, f) + d[keep, 0]
    cb_s = _to_level(s_c, f) + d[keep, 1]
    return BlockMatches(
        exposure=pr[:, [0, 2]],
        band=pr[:, [1, 3]],
        sample=np.stack([_from_level(ca_s, f), _from_level(cb_s, f)], axis=1),
        line=np.stack([_from_level(ca_l, f), _from_level(cb_l, f)], axis=1),
        weight=np.stack([wr[ok], wc[ok]], axis=1),
        shift=d[keep] * f,
        score=score[ok],
        block=blk.block[keep],
    )


def _lucas_kanade(
    lv: _Level,
    blk: _Blocks,
    full: _Subset,
    ids: np.ndarray,
    d: np.ndarray,
    normal: np.ndarray,
    sol: np.ndarray,
    rejected: np.ndarray,
    *,
    iterations: int,
    limit: float,
    min_score: float,
) -> None:
    """Gauss-Newton steps for blocks ``ids`` (consecutive): updates their rows of the
    shifts ``d``, the normal matrices, the solutions and the rejections in place."""
    sub = _subset(blk, full, ids)
    act = np.ones(sub.ids.size, bool)  # blocks of the subset still iterating
    for it in range(iterations):
        if not act.any():
            break
        if blk.counts[sub.ids[act]].sum() < 0.7 * sub.owner.size:
            # most points belong to finished blocks: gather only the others' from now
            sub = _subset(blk, full, sub.ids[act])
            act = np.ones(sub.ids.size, bool)
        dd = d[sub.ids]
        bv, gy, gx = _gather(
            lv,
            sub.base,
            sub.rb + np.repeat(dd[:, 0], sub.counts),
            sub.cb + np.repeat(dd[:, 1], sub.counts),
        )
        # b(x + d + e) ~ bv + gy e_r + gx e_c  and  b ~ g a + o + p_r r + p_c c
        # -> bv = g a + o + p_r r + p_c c - gy e_r - gx e_c: the shift's columns are -gy
        # and -gx (their sums are taken with gy and gx and negated: the same numbers)
        a, _, rn, cn = sub.fixed
        st = sub.starts
        nrm = np.empty((sub.ids.size, 6, 6))
        nrm[:, :4, :4] = sub.ff
        for y, g in ((4, gy), (5, gx)):
            sums = (_segsum(a * g, st), _segsum(g, st), _segsum(rn * g, st), _segsum(cn * g, st))
            for x in range(4):
                nrm[:, x, y] = nrm[:, y, x] = -sums[x]
        nrm[:, 4, 4] = _segsum(gy * gy, st)
        nrm[:, 5, 5] = _segsum(gx * gx, st)
        nrm[:, 4, 5] = nrm[:, 5, 4] = _segsum(gy * gx, st)
        rhs = np.stack(
            [
                _segsum(a * bv, st),
                _segsum(bv, st),
                _segsum(rn * bv, st),
                _segsum(cn * bv, st),
                -_segsum(gy * bv, st),
                -_segsum(gx * bv, st),
            ],
            axis=1,
        )
        x_sol = _solve6(nrm, rhs)
        upd = sub.ids[act]
        normal[upd], sol[upd] = nrm[act], x_sol[act]
        step = x_sol[act, 4:6]
        bad_step = ~np.isfinite(step).all(axis=1)
        d[upd] += np.where(bad_step[:, None], 0.0, step)
        done = np.max(np.abs(np.where(bad_step[:, None], 0.0, step)), axis=1) < 0.005
        lost = bad_step | (np.max(np.abs(d[upd]), axis=1) > limit)
        if it == 2:
            # a block that still matches this badly after three steps never reaches an
            # acceptable score: Gauss-Newton would only drift along the noise
            xs = [np.repeat(x_sol[:, k], sub.counts) for k in range(4)]
            model = xs[0] * sub.fixed[0] + xs[1]
            model += xs[2] * sub.fixed[2] + xs[3] * sub.fixed[3]
            lost |= _score(bv, bv - model, sub.starts)[act] < min_score - 0.2
        rejected[upd[lost]] = True
        act[np.flatnonzero(act)[done | lost]] = False


@dataclass(frozen=True, eq=False)
class _Subset:
    """The points of some blocks, renumbered, with their fixed design columns."""

    ids: np.ndarray  # the blocks, in order
    pts: np.ndarray  # the points, indices into the _Blocks arrays
    base: np.ndarray  # first flat index of each point's b framelet
    rb: np.ndarray
    cb: np.ndarray
    owner: np.ndarray  # position in ``ids`` of each point's block
    starts: np.ndarray
    counts: np.ndarray
    fixed: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # a, 1, line, sample
    ff: np.ndarray  # (k, 4, 4) sums of the fixed columns' products


def _all_blocks(blk: _Blocks, plane: int) -> _Subset:
    """The points of every block, with the per-block sums of the fixed columns'
    products (``plane``: pixels per framelet of the level)."""
    nb = blk.starts.size
    av = blk.av
    fixed = (av, np.ones_like(av), blk.rn.astype(np.float32), blk.cn.astype(np.float32))
    ff = np.empty((nb, 4, 4))
    for x in range(4):
        for y in range(x, 4):
            ff[:, x, y] = ff[:, y, x] = _segsum(fixed[x] * fixed[y], blk.starts)
    return _Subset(
        np.arange(nb),
        np.arange(blk.owner.size),
        blk.kb * plane,
        blk.rb,
        blk.cb,
        blk.owner,
        blk.starts,
        blk.counts,
        fixed,
        ff,
    )


def _subset(blk: _Blocks, full: _Subset, ids: np.ndarray) -> _Subset:
    """The points of blocks ``ids`` (in order), renumbered; ``full`` is
    :func:`_all_blocks`, which lends its per-point columns and per-block sums."""
    counts = blk.counts[ids]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
    owner = np.repeat(np.arange(ids.size), counts)
    # each point's index in the full set: its place here plus its block's offset
    pts = np.arange(int(counts.sum())) + np.repeat(blk.starts[ids] - starts, counts)
    fixed = (
        full.fixed[0][pts],
        np.ones(pts.size, np.float32),
        full.fixed[2][pts],
        full.fixed[3][pts],
    )
    return _Subset(
        ids,
        pts,
        full.base[pts],
        blk.rb[pts],
        blk.cb[pts],
        owner,
        starts,
        counts,
        fixed,
        full.ff[ids],
    )


def _solve6(normal: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched solve of the blocks' normal equations; NaN rows where singular."""
    ridge = 1e-9 * (np.trace(normal, axis1=1, axis2=2)[:, None, None] / 6.0 + 1e-12)
    a = normal + ridge * np.eye(6)
    try:
        return np.linalg.solve(a, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.full(rhs.shape, np.nan)
        for k in range(len(a)):
            try:
                out[k] = np.linalg.solve(a[k], rhs[k])
            except np.linalg.LinAlgError:
                pass
        return out


def _inv_corner(normal: np.ndarray) -> np.ndarray:
    """The shift block (last 2 x 2) of each normal matrix's inverse; inf where singular."""
    try:
        return np.linalg.inv(normal)[:, 4:6, 4:6]
    except np.linalg.LinAlgError:
        out = np.full((len(normal), 2, 2), np.inf)
        for k in range(len(normal)):
            try:
                out[k] = np.linalg.inv(normal[k])[4:6, 4:6]
            except np.linalg.LinAlgError:
                pass
        return out


def _score(bv: np.ndarray, resid: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per block 1 - sd(residual) / sd(b): the correlation of the brightness model."""
    n = np.diff(np.append(starts, bv.size)).astype(np.float64)
    r1, r2 = _segsum(resid, starts) / n, _segsum(resid * resid, starts) / n
    b1, b2 = _segsum(bv, starts) / n, _segsum(bv * bv, starts) / n
    sd_r = np.sqrt(np.maximum(r2 - r1 * r1, 0.0))
    sd_b = np.sqrt(np.maximum(b2 - b1 * b1, 1e-24))
    return 1.0 - sd_r / sd_b
