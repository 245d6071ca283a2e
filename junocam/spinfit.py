"""Self-calibration of the spin model from the overlaps of a frame's framelets.

The metadata timing has tens of milliseconds of jitter and the spin rate is only
nominal, so the turn between exposures (and the small tilt of the spin axis) are
fitted from the image itself. Framelets overlap: consecutive framelets of one band
by about a dozen lines, and framelets of different bands from nearby exposures by
50 to 90 lines. Every framelet is resampled on its own onto a common spin-cylinder
grid with the current parameters; wherever two framelets overlap and the scene has
structure, the residual shift between them is measured to a small fraction of a
pixel (gain-tolerant Lucas-Kanade on square-root-compressed data, so that bands of
different brightness compare). Each shift becomes a pair of CCD coordinates that see
the same sky; the parameters are then solved for exactly on those pairs (prior-weighted,
Huber-robust Gauss-Newton with a weak prior on the tilt), and the overlaps are measured
again under the new model. The first round measures on a half-scale grid (a quarter of
the pixels); one or two full-scale rounds follow.

What overlaps agree on is the *effective* camera turn, which also absorbs the
apparent motion of a nearby planet: that is what a seamless stitch needs.

Examples
--------
>>> import numpy as np
>>> from junocam.camera import CameraModel
>>> from junocam.framelets import split
>>> from junocam.spin import SpinModel
>>> fr = split(np.zeros((4 * 384, 1648), np.float32), ["BLUE", "GREEN", "RED"])
>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     fit = fit_spin(fr, CameraModel(), SpinModel.nominal(0.372))
>>> fit.fallback   # a black frame has nothing to fit on
True
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from .camera import CameraModel
from .framelets import Framelets
from .metadata import Filter
from .spin import SpinModel
from .stitch import CylinderGrid, FrameletSample, resample_framelets

__all__ = ["SpinFit", "fit_spin", "measure_overlaps", "OverlapShift", "JunoCamWarning"]


#: Pixels matched per overlap block (spread evenly): enough for a few hundredths of a
#: pixel of precision, well below the overlaps' model residuals (about 1 px on real
#: frames), at a fraction of the cost of the 20 000 to 40 000 pixels of a full block.
_MATCH_PIXELS = 4096


class JunoCamWarning(UserWarning):
    """A processing step fell back to a weaker method (reported, not fatal)."""


@dataclass(frozen=True)
class OverlapShift:
    """Residual shift between two framelets where they overlap on the grid.

    Attributes
    ----------
    a, b : tuple of (int, str)
        (exposure, band name) of the two framelets.
    row, col : float
        Grid position (pixels) of the measurement.
    d_row, d_col : float
        Where ``b``'s content sits relative to ``a``'s (pixels).
    weight_row, weight_col : float
        Inverse variances (1 / px^2) of the two components.
    n_pixels : int
        Overlap pixels used.
    block : int
        Which of the overlap's column blocks was measured (-1: unknown).
    """

    a: tuple[int, str]
    b: tuple[int, str]
    row: float
    col: float
    d_row: float
    d_col: float
    weight_row: float
    weight_col: float
    n_pixels: int
    block: int = -1

    @property
    def cross_band(self) -> bool:
        """Whether the two framelets are of different bands."""
        return self.a[1] != self.b[1]


@dataclass(frozen=True)
class SpinFit:
    """Result of :func:`fit_spin`.

    Attributes
    ----------
    spin : SpinModel
        The fitted (or, on fallback, the nominal) model.
    nominal : SpinModel
        The starting model.
    iterations : int
    n_measurements : int
        Overlap shifts used in the last round.
    residual_rms_px : float
        RMS of the overlap shifts left after the fit, all pairs (pixels), outliers
        (beyond 4 robust sigmas, at least 0.5 px) excluded.
    band_registration_px : float
        RMS of the cross-band overlap shifts left after the fit (pixels); NaN for
        single-band frames.
    seam_rms_px : float
        RMS of the same-band (seam) overlap shifts left after the fit (pixels).
    fallback : bool
        True when the image had too little structure and the nominal model was kept.
    message : str
        A line for people.
    n_outliers : int
        Measurements left out of the residual figures.
    camera : CameraModel or None
        The camera model with fitted band focal-length factors (None: unchanged).
    """

    spin: SpinModel
    nominal: SpinModel
    iterations: int
    n_measurements: int
    residual_rms_px: float
    band_registration_px: float
    seam_rms_px: float
    fallback: bool
    message: str
    n_outliers: int = 0
    camera: CameraModel | None = None

    def as_dict(
        self, interframe_delay: float | None = None
    ) -> dict[str, float | int | bool | str | list[float]]:
        """Plain numbers for reports and manifests.

        Examples
        --------
        >>> s = SpinModel(0.078)
        >>> SpinFit(s, s, 0, 0, 0.0, 0.0, 0.0, True, "x").as_dict()["turn_per_exposure_rad"]
        0.078
        """
        d: dict[str, float | int | bool | str | list[float]] = {
            "turn_per_exposure_rad": self.spin.turn_per_exposure,
            "nominal_turn_per_exposure_rad": self.nominal.turn_per_exposure,
            "tilt_y_rad": self.spin.tilt_y,
            "tilt_z_rad": self.spin.tilt_z,
            "band_scale": list(self.camera.band_scale) if self.camera else [1.0] * 4,
            "iterations": self.iterations,
            "n_measurements": self.n_measurements,
            "n_outliers": self.n_outliers,
            "residual_rms_px": self.residual_rms_px,
            "band_registration_px": self.band_registration_px,
            "seam_rms_px": self.seam_rms_px,
            "fallback": self.fallback,
            "message": self.message,
        }
        if interframe_delay is not None:
            rate = self.spin.spin_rate(interframe_delay)
            d["spin_rate_rpm"] = rate * 60.0 / (2.0 * math.pi)
        return d


def _prepare(img: np.ndarray, saturation: float | None) -> np.ndarray:
    """Hot-pixel-free, square-root compressed copy for matching (NaN where unusable).

    The 3x5 median removes fixed hot pixels and TDI hot streaks (which would dominate the
    matching of dim frames) and the square root makes shot noise roughly uniform.
    No high-pass filter: filters are biased near framelet edges, which is exactly
    where framelets overlap; brightness differences are modelled in the matcher.
    """
    x = img.astype(np.float32)
    g = np.sqrt(np.maximum(_median_3x5(x), 0.0))
    if saturation is not None:
        g[ndimage.binary_dilation(x >= saturation, iterations=3)] = np.nan
    return g


def _median_3x5(x: np.ndarray) -> np.ndarray:
    """``ndimage.median_filter(x, size=(3, 5), mode="nearest")``, exactly.

    Selecting the middle of the 15 window values with ``np.partition`` on a strided
    view is about twice as fast as the generic rank filter for this small window.
    NaN and infinity (which ``partition`` orders differently) use the rank filter.
    """
    if x.ndim != 2 or not np.isfinite(x).all():
        return ndimage.median_filter(x, size=(3, 5), mode="nearest")
    p = np.pad(x, ((1, 1), (2, 2)), mode="edge")  # numpy edge = scipy nearest
    win = np.lib.stride_tricks.sliding_window_view(p, (3, 5)).reshape(*x.shape, 15)
    return np.partition(win, 7, axis=-1)[..., 7]


def _noise_sigma(img: np.ndarray) -> float:
    """Robust per-pixel noise of the square-root data from adjacent-sample differences."""
    # every fourth line is plenty for one robust number and four times cheaper
    lines = np.asarray(img)[..., ::4, :]
    g = np.sqrt(np.maximum(np.asarray(lines, dtype=np.float32), 0.0))
    d = np.diff(g, axis=-1).ravel()
    if d.size == 0:
        return 1.0
    mad = float(np.median(np.abs(d - np.median(d))))
    # quantised dim data can have a zero MAD: fall back to the mean absolute difference
    if mad == 0.0:
        mad = float(np.mean(np.abs(d))) * 0.8
    return max(mad / 0.6745 / math.sqrt(2.0), 1e-3)


def _lk_shift(
    a: np.ndarray,
    b: np.ndarray,
    valid: np.ndarray,
    start: tuple[float, float],
    noise: float,
    max_shift: float,
    iters: int = 10,
    give_up: float = -np.inf,
    max_pixels: int | None = None,
) -> tuple[float, float, float, float, float] | None:
    """Sub-pixel shift ``d`` with ``b(x + d) ~ g a(x) + o + plane`` over ``valid``.

    Gauss-Newton on a brightness model that tolerates a gain, an offset and a
    linear gradient between the two images (different bands, limb darkening).
    ``b`` must be finite wherever ``valid`` shifted by up to ``max_shift`` + 1 lands.

    ``give_up`` abandons a block whose correlation is below it at the start (with the
    brightness model only) or after two rounds (see :func:`measure_overlaps`).
    ``max_pixels`` thins a larger ``valid`` set to that many pixels spread evenly over
    the block: the shift's precision falls only as the square root of the count, far
    below the overlaps' model residuals, while the cost falls linearly.

    Returns
    -------
    (d_row, d_col, w_row, w_col, score) or None
        Shift, inverse variances (1/px^2) and the correlation of the fit.
    """
    rr, cc = np.nonzero(valid)
    if rr.size < 200:
        return None
    if max_pixels is not None and rr.size > max_pixels:
        # every k-th pixel in raster order: a staggered lattice over the whole block
        keep = np.linspace(0, rr.size - 1, max_pixels).astype(np.intp)
        rr, cc = rr[keep], cc[keep]
    av = a[rr, cc].astype(np.float64)
    pad = int(math.ceil(max_shift)) + 2
    rn = (rr - rr.mean()) / max(float(np.ptp(rr)), 1.0)
    cn = (cc - cc.mean()) / max(float(np.ptp(cc)), 1.0)
    d = np.array(start, dtype=np.float64)
    m = np.empty((av.size, 6))
    m[:, 0], m[:, 1], m[:, 2], m[:, 3] = av, 1.0, rn, cn
    # b and its gradients in one padded stack, flattened: each iteration gathers the
    # bilinear stencil of all three at the block's pixels only
    stack = np.stack(
        [
            np.pad(b, pad, mode="edge"),
            np.pad(ndimage.sobel(b, axis=0, mode="nearest") / 8.0, pad, mode="edge"),
            np.pad(ndimage.sobel(b, axis=1, mode="nearest") / 8.0, pad, mode="edge"),
        ]
    )
    width = stack.shape[2]
    flat = stack.reshape(3, -1)
    base = (rr + pad) * width + (cc + pad)
    if give_up > -np.inf:
        # the brightness model alone at the start: a block this unlike b at its coarse
        # shift never ends with an acceptable score, so skip the gradients and rounds
        bv = _gather(flat[:1], base, width, d)[0]
        m4 = m[:, :4]
        try:
            r = bv - m4 @ np.linalg.solve(m4.T @ m4 + 1e-9 * np.eye(4), m4.T @ bv)
        except np.linalg.LinAlgError:
            return None
        if 1.0 - float(np.std(r)) / max(float(np.std(bv)), 1e-12) < give_up:
            return None
    normal = sol = None
    for k in range(iters):
        bv, by, bx = _gather(flat, base, width, d)
        # b(x + d + e) ~ bv + by e_r + bx e_c  and  b ~ g a + o + p_r r + p_c c
        # -> bv - g a - o - p.r  =  -by e_r - bx e_c ; unknowns (g, o, p_r, p_c, e_r, e_c)
        np.negative(by, out=m[:, 4])
        np.negative(bx, out=m[:, 5])
        normal = m.T @ m
        try:
            sol = np.linalg.solve(normal + 1e-9 * np.eye(6), m.T @ bv)
        except np.linalg.LinAlgError:
            return None
        step = sol[4:6]
        d += step
        if not np.all(np.isfinite(d)) or np.max(np.abs(d)) > max_shift:
            return None
        if np.max(np.abs(step)) < 1e-3:
            break
        # a block that still matches this badly after two rounds never reaches an
        # acceptable score (on 44C00029 the score of accepted blocks changes by less
        # than 0.11 from round one on); Gauss-Newton would only drift along the noise
        r = bv - m @ sol
        if k >= 1 and 1.0 - float(np.std(r)) / max(float(np.std(bv)), 1e-12) < give_up:
            return None
    assert normal is not None and sol is not None
    if sol[0] <= 0:
        return None
    bv = _gather(flat[:1], base, width, d)[0]
    model = sol[0] * av + sol[1] + sol[2] * rn + sol[3] * cn
    resid = bv - model
    var = max(float(np.mean(resid**2)), noise**2)
    try:
        cov = np.linalg.inv(normal)[4:6, 4:6] * var
    except np.linalg.LinAlgError:
        return None
    spread = float(np.std(bv))
    score = 1.0 - float(np.std(resid)) / max(spread, 1e-12)
    wr, wc = 1.0 / max(cov[0, 0], 1e-8), 1.0 / max(cov[1, 1], 1e-8)
    return float(d[0]), float(d[1]), wr, wc, score


def _gather(flat: np.ndarray, base: np.ndarray, width: int, d: np.ndarray) -> np.ndarray:
    """Bilinear values of each flattened padded image of ``flat`` (k, H*W) at the pixels
    ``base`` (flat indices) shifted by d, (k, n).

    A uniform shift gives every pixel the same four stencil weights, so the stencil is
    four gathers at fixed index offsets.
    """
    fr, fc = math.floor(d[0]), math.floor(d[1])
    tr, tc = d[0] - fr, d[1] - fc
    i = base + (fr * width + fc)
    top = flat[:, i] * (1.0 - tc) + flat[:, i + 1] * tc
    bot = flat[:, i + width] * (1.0 - tc) + flat[:, i + width + 1] * tc
    return top * (1.0 - tr) + bot * tr


def _coarse_shift(a: np.ndarray, b: np.ndarray, max_shift: int) -> tuple[int, int]:
    """Integer shift d with b(x + d) ~ a(x), by the normalised cross-power spectrum."""
    fa = np.fft.rfft2(a)
    fb = np.fft.rfft2(b)
    x = fb * np.conj(fa)
    x /= np.maximum(np.abs(x), 1e-12)
    corr = np.fft.irfft2(x, s=a.shape)
    h, w = a.shape
    # only shifts within +-max_shift are physical
    rs = np.r_[0 : min(max_shift, h // 2) + 1, h - min(max_shift, (h - 1) // 2) : h]
    cs = np.r_[0 : min(max_shift, w // 2) + 1, w - min(max_shift, (w - 1) // 2) : w]
    sub = corr[np.ix_(rs, cs)]
    i, j = np.unravel_index(int(np.argmax(sub)), sub.shape)
    dr, dc = int(rs[i]), int(cs[j])
    return (dr - h if dr > h // 2 else dr), (dc - w if dc > w // 2 else dc)


def _window(s: FrameletSample, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, ...]:
    rs = slice(r0 - s.rows.start, r1 - s.rows.start)
    cs = slice(c0 - s.cols.start, c1 - s.cols.start)
    return s.values[rs, cs], s.valid[rs, cs]


def measure_overlaps(
    samples: list[FrameletSample],
    noise: dict[str, float],
    *,
    max_gap: int = 4,
    column_blocks: int = 4,
    min_rows: int = 6,
    max_shift: int = 10,
    max_sd_px: float = 0.5,
    min_score: float = 0.3,
    search: bool = True,
    max_pixels: int | None = None,
    only: set[tuple[tuple[int, str], tuple[int, str], int]] | None = None,
) -> list[OverlapShift]:
    """Measure residual shifts wherever two resampled framelets overlap.

    Parameters
    ----------
    samples : list of FrameletSample
        Prepared framelets (see :func:`fit_spin`) resampled onto one grid, NaN or
        invalid where unusable.
    noise : dict
        Noise sigma of the prepared data per band name.
    max_gap : int
        Largest exposure gap of a pair.
    column_blocks : int
        Each overlap is measured in this many blocks across the columns, which
        constrains rotations as well as shifts.
    min_rows : int
        Smallest overlap height (rows) measured.
    max_shift : int
        Largest shift searched (pixels).
    max_sd_px : float
        Measurements less precise than this (predicted standard deviation of the
        row or column shift) are dropped: featureless sky, smooth cloud.
    min_score : float
        Smallest acceptable correlation of the matched blocks.
    search : bool
        Find each block's whole-pixel shift by phase correlation before refining it;
        without the search every block starts at zero shift (enough when the
        geometry is already within a pixel or two).
    max_pixels : int, optional
        Match at most this many pixels of each block (spread evenly).
    only : set, optional
        Measure only these blocks, keyed ``(a, b, block)`` as in :class:`OverlapShift`
        (e.g. the ones that gave a measurement in the previous round).

    Returns
    -------
    list of OverlapShift
        ``d_row, d_col`` give where ``b``'s content sits relative to ``a``'s.
    """
    out: list[OverlapShift] = []
    for ia, sa in enumerate(samples):
        for sb in samples[ia + 1 :]:
            if sb.exposure == sa.exposure or abs(sb.exposure - sa.exposure) > max_gap:
                continue
            r0 = max(sa.rows.start, sb.rows.start)
            r1 = min(sa.rows.stop, sb.rows.stop)
            c0 = max(sa.cols.start, sb.cols.start)
            c1 = min(sa.cols.stop, sb.cols.stop)
            if r1 - r0 < min_rows or c1 - c0 < 64:
                continue
            xa, va = _window(sa, r0, r1, c0, c1)
            xb, vb = _window(sb, r0, r1, c0, c1)
            va = va & np.isfinite(xa)
            vb = vb & np.isfinite(xb)
            both = va & vb
            if both.sum() < 64 * min_rows:
                continue
            # b is sampled around the shifted positions: fill its holes with its mean
            # and measure only pixels whose shifted position stays inside b's
            # footprint (checked below)
            bf = np.where(vb, xb, np.nanmean(xb[vb]) if vb.any() else 0.0).astype(np.float32)
            edges = np.linspace(0, c1 - c0, column_blocks + 1).astype(int)
            for k in range(column_blocks):
                key = ((sa.exposure, sa.band.value), (sb.exposure, sb.band.value), k)
                if only is not None and key not in only:
                    continue
                cs = slice(edges[k], edges[k + 1])
                blk = both[:, cs]
                rows_ok = np.flatnonzero(blk.mean(axis=1) > 0.9)
                if rows_ok.size < min_rows:
                    continue
                rs = slice(rows_ok[0], rows_ok[-1] + 1)
                m = both[rs, cs]
                a = np.where(m, xa[rs, cs], 0.0).astype(np.float32)
                b = bf[rs, cs]
                if search and a.shape[0] >= 16:
                    am = np.where(m, a - a[m].mean(), 0.0)
                    bm = np.where(m, b - b[m].mean(), 0.0)
                    start = _coarse_shift(am, bm, max_shift)
                else:
                    start = (0, 0)
                inner = ndimage.binary_erosion(m, iterations=2, border_value=0)
                res = _lk_shift(
                    a,
                    b,
                    inner,
                    start,
                    noise=max(noise[sa.band.value], noise[sb.band.value]),
                    max_shift=float(max_shift),
                    give_up=min_score - 0.2,
                    max_pixels=max_pixels,
                )
                if res is None:
                    continue
                dr, dc, wr, wc, score = res
                if score < min_score or wr < max_sd_px**-2 or wc < max_sd_px**-2:
                    continue
                # the shifted block must stay inside b's real footprint
                vbb = vb[rs, cs]
                ri, ci = np.nonzero(inner)
                rq = np.clip(np.round(ri + dr).astype(int), 0, vbb.shape[0] - 1)
                cq = np.clip(np.round(ci + dc).astype(int), 0, vbb.shape[1] - 1)
                if vbb[rq, cq].mean() < 0.98:
                    continue
                out.append(
                    OverlapShift(
                        a=(sa.exposure, sa.band.value),
                        b=(sb.exposure, sb.band.value),
                        row=float(r0 + rs.start + ri.mean()),
                        col=float(c0 + cs.start + ci.mean()),
                        d_row=dr,
                        d_col=dc,
                        weight_row=wr,
                        weight_col=wc,
                        n_pixels=int(ri.size),
                        block=k,
                    )
                )
    return out


@dataclass(frozen=True)
class _Param:
    """One fitted quantity: a SpinModel field or a band's focal-length factor."""

    name: str
    step: float
    prior_sigma: float
    max_step: float
    band: Filter | None = None

    def get(self, spin: SpinModel, camera: CameraModel) -> float:
        if self.band is None:
            return float(getattr(spin, self.name))
        return float(camera.band_scale[list(Filter).index(self.band)])

    def add(
        self, spin: SpinModel, camera: CameraModel, delta: float
    ) -> tuple[SpinModel, CameraModel]:
        if self.band is None:
            return replace(spin, **{self.name: getattr(spin, self.name) + delta}), camera
        s = list(camera.band_scale)
        s[list(Filter).index(self.band)] += delta
        return spin, replace(camera, band_scale=(s[0], s[1], s[2], s[3]))


def _parameters(framelets: Framelets, initial: SpinModel, band_scale: bool) -> list[_Param]:
    """What to fit. Weak priors (1 sigma) keep weakly constrained values near nominal:
    5% on the turn, 0.005 rad on the axis tilt (FK value), 0.5% on band scales.
    One band's scale stays fixed: only the product of focal length and turn is seen.
    ``max_step`` bounds one Gauss-Newton step (2% of the turn, 0.004 rad of tilt,
    0.2% of scale), so a step on noisy data cannot throw the fit away; the solver
    takes more steps where the data call for a larger change.
    """
    turn = abs(initial.turn_per_exposure)
    params = [
        _Param("turn_per_exposure", 1e-5, 0.05 * turn, 0.02 * turn),
        _Param("tilt_y", 1e-4, 0.005, 0.004),
        _Param("tilt_z", 1e-4, 0.005, 0.004),
    ]
    bands = framelets.filters
    if band_scale and len(bands) > 1:
        ref = Filter.GREEN if Filter.GREEN in bands else bands[0]
        params += [_Param(f"scale_{b.value}", 1e-4, 0.005, 0.002, b) for b in bands if b is not ref]
    return params


@dataclass(frozen=True)
class _Matches:
    """Overlap shifts as detector-coordinate correspondences.

    A shift measured on a grid under one model says which CCD pixel of framelet ``b``
    sees what a given CCD pixel of framelet ``a`` sees; that statement no longer
    depends on the model, so the parameters can be solved for exactly (not through a
    linearisation about the model that resampled the overlaps). Arrays are (n, 2):
    column 0 for ``a``, column 1 for ``b``; ``weight`` holds the row and column
    inverse variances in full-scale grid pixels^-2.
    """

    exposure: np.ndarray
    band: np.ndarray
    sample: np.ndarray
    line: np.ndarray
    weight: np.ndarray


def _to_matches(
    shifts: list[OverlapShift],
    camera: CameraModel,
    spin: SpinModel,
    grid: CylinderGrid,
    px_scale: float,
) -> _Matches:
    """CCD coordinates of both ends of every shift under the model that measured them.

    ``px_scale`` is full-scale grid pixels per pixel of ``grid`` (2 on a half-scale grid).
    """
    n = len(shifts)
    bands = list(Filter)
    exposure = np.array([[s.a[0], s.b[0]] for s in shifts], dtype=np.intp).reshape(n, 2)
    band = np.array(
        [[bands.index(Filter.parse(s.a[1])), bands.index(Filter.parse(s.b[1]))] for s in shifts],
        dtype=np.intp,
    ).reshape(n, 2)
    pos = np.array(
        [[[s.row, s.col], [s.row + s.d_row, s.col + s.d_col]] for s in shifts], dtype=np.float64
    ).reshape(n, 2, 2)
    sample = np.empty((n, 2))
    line = np.empty((n, 2))
    for side in (0, 1):
        sky = grid.rays_at(pos[:, side, 0], pos[:, side, 1])
        # camera ray = sky ray @ R for the exposure's rotation R (camera -> sky)
        cam = np.einsum("nj,njk->nk", sky, spin.rotation(exposure[:, side].astype(np.float64)))
        for k in np.unique(band[:, side]):
            sel = band[:, side] == k
            sample[sel, side], line[sel, side] = camera.ray_to_pixel(cam[sel], bands[k])
    weight = np.array([[s.weight_row, s.weight_col] for s in shifts]).reshape(n, 2)
    return _Matches(exposure, band, sample, line, weight / px_scale**2)


def _match_offsets(
    m: _Matches, spin: SpinModel, camera: CameraModel, grid: CylinderGrid
) -> np.ndarray:
    """Where ``b``'s CCD point lands on ``grid`` relative to ``a``'s, (n, 2) pixels:
    zero for a model that makes the overlaps agree."""
    bands = list(Filter)
    placed = np.empty((len(m.sample), 2, 2))
    for side in (0, 1):
        cam = np.empty((len(m.sample), 3))
        for k in np.unique(m.band[:, side]):
            sel = m.band[:, side] == k
            cam[sel] = camera.pixel_to_ray(m.sample[sel, side], m.line[sel, side], bands[k])
        rot = spin.rotation(m.exposure[:, side].astype(np.float64))
        sky = np.einsum("njk,nk->nj", rot, cam)
        placed[:, side, 0], placed[:, side, 1] = grid.to_pixel(sky)
    return placed[:, 1] - placed[:, 0]


def _solve(
    m: _Matches,
    params: list[_Param],
    camera: CameraModel,
    spin: SpinModel,
    nominal_camera: CameraModel,
    nominal: SpinModel,
    grid: CylinderGrid,
    max_steps: int = 30,
) -> tuple[SpinModel, CameraModel, np.ndarray]:
    """Huber-robust, prior-weighted Gauss-Newton fit of ``params`` to the matches.

    Starts at (``spin``, ``camera``); the weak priors pull towards (``nominal``,
    ``nominal_camera``); the robust weights are renewed every step (iteratively
    reweighted least squares). Returns the fitted model and the offsets left, (n, 2).
    """

    def model(theta: np.ndarray) -> tuple[SpinModel, CameraModel]:
        sp, cam = spin, camera
        for p, d in zip(params, theta, strict=True):
            sp, cam = p.add(sp, cam, float(d))
        return sp, cam

    def offsets(theta: np.ndarray) -> np.ndarray:
        return _match_offsets(m, *model(theta), grid).ravel()

    w0 = m.weight.ravel()
    sw = np.sqrt(w0)
    start = np.array([p.get(spin, camera) for p in params])
    prior = np.array([p.get(nominal, nominal_camera) for p in params])
    prior_w = 1.0 / np.square([p.prior_sigma for p in params])
    limit = np.array([p.max_step for p in params])
    steps = np.array([p.step for p in params])
    theta = np.zeros(len(params))
    for k in range(max_steps):
        e = offsets(theta)
        jac = np.empty((e.size, len(params)))
        for j in range(len(params)):
            t = theta.copy()
            t[j] += steps[j]
            jac[:, j] = (offsets(t) - e) / steps[j]
        # Huber weights at 1.5 robust sigmas of the offsets in units of their own
        # measurement sigma; never below one such sigma, so that on data the model
        # fits to within their precision the weights stay ordinary least squares
        z = np.abs(e) * sw
        scale = max(1.4826 * float(np.median(z)), 1.0)
        hub = np.minimum(1.0, 1.5 * scale / np.maximum(z, 1e-12))
        ww = w0 * hub
        normal = jac.T @ (jac * ww[:, None]) + np.diag(prior_w)
        grad = -jac.T @ (ww * e) + prior_w * (prior - start - theta)
        step = np.clip(np.linalg.solve(normal, grad), -limit, limit)
        theta += step
        # converged once a step moves no match by a thousandth of a pixel (after a
        # few steps, so that the robust weights have settled)
        if k >= 3 and float(np.max(np.abs(jac @ step))) < 1e-3:
            break
    sp, cam = model(theta)
    return sp, cam, _match_offsets(m, sp, cam, grid)


def _max_displacement(
    framelets: Framelets,
    camera: CameraModel,
    new_camera: CameraModel,
    old: SpinModel,
    new: SpinModel,
    grid: CylinderGrid,
) -> float:
    """Largest move (grid pixels) of any framelet corner between two models."""
    s0, s1 = camera.sample_range
    ls = float(framelets.framelet_lines - 1)
    s = np.array([s0, s1, s0, s1, (s0 + s1) / 2])
    ln = np.array([0.0, 0.0, ls, ls, ls / 2])
    worst = 0.0
    for i in range(framelets.n_exposures):
        for band in framelets.filters:
            r0, c0 = grid.to_pixel(camera.pixel_to_ray(s, ln, band) @ old.rotation(i).T)
            r1, c1 = grid.to_pixel(new_camera.pixel_to_ray(s, ln, band) @ new.rotation(i).T)
            worst = max(worst, float(np.max(np.hypot(r1 - r0, c1 - c0))))
    return worst


def _usable_rows(s: FrameletSample) -> FrameletSample:
    """The sample with NaN (saturated) pixels invalid, cut to the rows it covers.

    A sample's box spans every band's stripe of its exposure, so most of its rows are
    empty; keeping only the covered ones cuts the fit's memory about fourfold. The
    columns stay, so the overlap windows and their column blocks are unchanged. The
    feather weights, which the matcher does not use, are dropped.
    """
    valid = s.valid & np.isfinite(s.values)
    rows = np.flatnonzero(valid.any(axis=1))
    if rows.size == 0:
        return replace(s, valid=valid)
    r = slice(int(rows[0]), int(rows[-1]) + 1)
    box = slice(s.rows.start + r.start, s.rows.start + r.stop)
    # the matcher never reads the feather weights: an empty array saves a third
    return replace(
        s, rows=box, valid=valid[r], values=s.values[r].copy(), weights=np.empty((0, 0), np.float32)
    )


def _rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(v)))) if v.size else float("nan")


def fit_spin(
    framelets: Framelets,
    camera: CameraModel,
    initial: SpinModel,
    *,
    max_iter: int = 3,
    min_measurements: int = 8,
    saturation: float | None = None,
    tolerance_px: float = 0.1,
    band_scale: bool = True,
    coarse: bool = True,
    preview: bool = False,
) -> SpinFit:
    """Fit the turn per exposure and the spin-axis tilt so framelet overlaps agree.

    With several bands, each band's focal-length factor relative to green (lateral
    colour of the lens) is fitted too, so bands register across the whole field.

    Parameters
    ----------
    framelets : Framelets
        Linear float data (decompanded), any bands.
    camera : CameraModel
    initial : SpinModel
        Starting (nominal) model, e.g. ``SpinModel.nominal(meta.interframe_delay)``.
    max_iter : int
        Rounds of measure-and-update.
    min_measurements : int
        Fewer usable overlap measurements than this -> keep ``initial`` with a warning.
    saturation : float, optional
        Linear value at or above which pixels are ignored (saturated limb).
    tolerance_px : float
        Stop when the update moves the farthest framelet by less than this.
    band_scale : bool
        Also fit per-band focal-length factors (multi-band frames only).
    coarse : bool
        Measure the first round on a half-scale grid (about four times cheaper; the
        full-scale rounds that follow set the precision).
    preview : bool
        Measure every round on the half-scale grid, with the tolerance doubled: good
        to about a tenth of a pixel of a half-scale output (``--fast``), in about
        70% of the time on real frames (the preparation does not shrink).

    Returns
    -------
    SpinFit

    Warns
    -----
    JunoCamWarning
        When falling back to the nominal model.
    """
    if framelets.n_exposures < 2:
        fit = SpinFit(
            initial,
            initial,
            0,
            0,
            math.nan,
            math.nan,
            math.nan,
            True,
            "single exposure: nothing to fit, nominal spin kept",
        )
        warnings.warn(fit.message, JunoCamWarning, stacklevel=2)
        return fit
    hp = np.empty(framelets.data.shape, np.float32)
    noise: dict[str, float] = {}
    for k, band in enumerate(framelets.filters):
        for i in range(framelets.n_exposures):
            hp[i, k] = _prepare(np.asarray(framelets.data[i, k]), saturation)
        noise[band.value] = _noise_sigma(framelets.data[:, k, :, 40:-40])
    hp_fr = Framelets(hp, framelets.filters)
    if coarse or preview:
        # anti-aliased for the half-scale grid (NaN, i.e. saturation, spreads by a few
        # pixels, which only widens the ignored rim)
        coarse_fr: Framelets | None = Framelets(
            ndimage.gaussian_filter(hp, (0.0, 0.0, 1.0, 1.0), mode="nearest", truncate=3.0),
            framelets.filters,
        )
        # smoothing with sigma 1 px leaves about a third of the white noise
        coarse_noise = {k: v * 0.35 for k, v in noise.items()}
    spin = initial
    cam = camera
    params = _parameters(framelets, initial, band_scale)
    shifts: list[OverlapShift] = []
    last: tuple[SpinModel, CameraModel, list[OverlapShift], np.ndarray] | None = None
    resid = np.zeros((0, 2))
    it = 0
    # residuals and displacements are expressed on one fixed full-scale grid
    solve_grid = CylinderGrid.covering(framelets, camera, spin, margin=24)
    # round one measures on a half-scale grid: a quarter of the pixels, and the
    # nominal model's shifts of several pixels are half as large
    half = preview or (coarse and max_iter > 1)
    measured_blocks: set[tuple[tuple[int, str], tuple[int, str], int]] | None = None
    while it < max_iter:
        it += 1
        factor = 2.0 if half else 1.0
        # a grid about the current model's own spin axis lets one inverse map per
        # band serve every exposure
        grid = CylinderGrid.covering(
            framelets, cam, spin, scale=cam.focal_px / factor, margin=24 // int(factor)
        )
        source = coarse_fr if half else hp_fr
        assert source is not None  # the half-scale copy is freed only after its round
        samples = [
            _usable_rows(s)
            for s in resample_framelets(source, cam, spin, grid, order=1, feather=1.0, trim_lines=1)
        ]
        # rounds after a fit start within a pixel or so: no whole-pixel search; a
        # block that gave nothing at full scale (featureless, saturated, moving cloud)
        # is not tried again there
        measured = measure_overlaps(
            samples,
            coarse_noise if half else noise,
            min_rows=4 if half else 6,
            search=last is None,
            max_pixels=_MATCH_PIXELS,
            only=None if half else measured_blocks,
        )
        del samples  # before the next round resamples
        if len(measured) < min_measurements:
            if half:
                # the thin same-band overlaps of single-band frames can be too thin at
                # half scale: measure at full scale instead
                half = False
                it -= 1
                continue
            if last is not None:
                # the last update made the overlaps disagree (noisy, weakly constrained
                # data): go back to where they were measured and report them as they are
                spin, cam, shifts, resid = last
            else:
                shifts = measured
            break
        shifts = measured
        if not half:
            measured_blocks = {(m.a, m.b, m.block) for m in measured}
        elif not preview:
            coarse_fr = None  # its one round is done: free the smoothed copy
        matches = _to_matches(shifts, cam, spin, grid, factor)
        # the first half-scale round fits what whole-pixel shifts fix (the turn and the
        # band scales); the axis tilt, a slight rotation of the overlaps, waits for the
        # rounds that start from a fit
        coarse_only = half and last is None
        use = [p for p in params if p.name.startswith(("turn", "scale"))] if coarse_only else params
        new, new_cam, resid = _solve(matches, use, cam, spin, camera, initial, solve_grid)
        last = (spin, cam, shifts, np.array([[m.d_row, m.d_col] for m in shifts]) * factor)
        new = replace(new, fitted=True)
        moved = _max_displacement(framelets, cam, new_cam, spin, new, solve_grid)
        spin, cam = new, new_cam
        if (preview or not half) and moved < tolerance_px * (2.0 if preview else 1.0):
            break
        half = preview
    if len(shifts) < min_measurements:
        msg = (
            f"only {len(shifts)} usable framelet overlaps (need {min_measurements}): "
            "too little structure, nominal spin kept"
        )
        warnings.warn(msg, JunoCamWarning, stacklevel=2)
        return SpinFit(initial, initial, it, len(shifts), math.nan, math.nan, math.nan, True, msg)
    # residuals after the last update, split by pair type; gross outliers (moving
    # clouds near the terminator, saturated limbs, cosmic rays) are counted, not
    # averaged in
    comps = np.asarray(resid).reshape(-1, 2)
    cross = np.array([s.cross_band for s in shifts])
    mag = np.hypot(comps[:, 0], comps[:, 1])
    limit = max(4.0 * 1.4826 * float(np.median(mag)), 0.5)
    inlier = mag <= limit
    fit = SpinFit(
        camera=cam,
        spin=spin,
        nominal=initial,
        iterations=it,
        n_measurements=len(shifts),
        residual_rms_px=_rms(mag[inlier]),
        band_registration_px=_rms(mag[cross & inlier]),
        seam_rms_px=_rms(mag[~cross & inlier]),
        fallback=False,
        message=(
            f"fitted turn {spin.turn_per_exposure:.6f} rad/exposure "
            f"({(spin.turn_per_exposure / initial.turn_per_exposure - 1) * 100:+.3f}% vs nominal) "
            f"from {len(shifts)} overlaps ({int((~inlier).sum())} outliers), "
            f"residual {_rms(mag[inlier]):.3f} px"
        ),
        n_outliers=int((~inlier).sum()),
    )
    return fit
