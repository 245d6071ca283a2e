"""Self-calibration of the spin model from the overlaps of a frame's framelets.

The metadata timing has tens of milliseconds of jitter and the spin rate is only
nominal, so the turn between exposures (and the small tilt of the spin axis) are
fitted from the image itself. Framelets overlap: consecutive framelets of one band
by about a dozen lines, and framelets of different bands from nearby exposures by
50 to 90 lines. Every framelet is resampled on its own onto a common spin-cylinder
grid with the current parameters; wherever two framelets overlap and the scene has
structure, the residual shift between them is measured to a small fraction of a
pixel (gain-tolerant Lucas-Kanade on high-passed, square-root-compressed data, so
that bands of different brightness compare); a linearised model of how each
parameter moves each framelet turns those shifts into a parameter update (weighted,
Huber-robust least squares with a weak prior on the tilt). Three or four rounds
converge.

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
from .stitch import CylinderGrid, FrameletSample, framelet_footprints

__all__ = ["SpinFit", "fit_spin", "measure_overlaps", "OverlapShift", "JunoCamWarning"]


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

    def as_dict(self, interframe_delay: float | None = None) -> dict[str, float | int | bool | str]:
        """Plain numbers for reports and manifests.

        Examples
        --------
        >>> s = SpinModel(0.078)
        >>> SpinFit(s, s, 0, 0, 0.0, 0.0, 0.0, True, "x").as_dict()["turn_per_exposure_rad"]
        0.078
        """
        d: dict[str, float | int | bool | str] = {
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
    g = np.sqrt(np.maximum(np.asarray(img, dtype=np.float32), 0.0))
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
) -> tuple[float, float, float, float, float] | None:
    """Sub-pixel shift ``d`` with ``b(x + d) ~ g a(x) + o + plane`` over ``valid``.

    Gauss-Newton on a brightness model that tolerates a gain, an offset and a
    linear gradient between the two images (different bands, limb darkening).
    ``b`` must be finite wherever ``valid`` shifted by up to ``max_shift`` + 1 lands.

    ``give_up`` abandons a block whose correlation is below it at the start (with the
    brightness model only) or after two rounds (see :func:`measure_overlaps`).

    Returns
    -------
    (d_row, d_col, w_row, w_col, score) or None
        Shift, inverse variances (1/px^2) and the correlation of the fit.
    """
    rr, cc = np.nonzero(valid)
    if rr.size < 200:
        return None
    av = a[rr, cc].astype(np.float64)
    pad = int(math.ceil(max_shift)) + 2
    rn = (rr - rr.mean()) / max(float(np.ptp(rr)), 1.0)
    cn = (cc - cc.mean()) / max(float(np.ptp(cc)), 1.0)
    d = np.array(start, dtype=np.float64)
    m = np.empty((av.size, 6))
    m[:, 0], m[:, 1], m[:, 2], m[:, 3] = av, 1.0, rn, cn
    bp = np.pad(b, pad, mode="edge")
    if give_up > -np.inf:
        # the brightness model alone at the start: a block this unlike b at its coarse
        # shift never ends with an acceptable score, so skip the gradients and rounds
        bv = _sample_shifted(bp[None], pad, b.shape, d)[0][valid]
        m4 = m[:, :4]
        try:
            r = bv - m4 @ np.linalg.solve(m4.T @ m4 + 1e-9 * np.eye(4), m4.T @ bv)
        except np.linalg.LinAlgError:
            return None
        if 1.0 - float(np.std(r)) / max(float(np.std(bv)), 1e-12) < give_up:
            return None
    # b and its gradients in one stack, so each iteration samples all three at once
    stack = np.stack(
        [
            bp,
            np.pad(ndimage.sobel(b, axis=0, mode="nearest") / 8.0, pad, mode="edge"),
            np.pad(ndimage.sobel(b, axis=1, mode="nearest") / 8.0, pad, mode="edge"),
        ]
    )
    normal = sol = None
    for k in range(iters):
        bv, by, bx = _sample_shifted(stack, pad, b.shape, d)[:, valid]
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
    bv = _sample_shifted(stack[:1], pad, b.shape, d)[0][valid]
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


def _sample_shifted(
    stack: np.ndarray, pad: int, shape: tuple[int, int], d: np.ndarray
) -> np.ndarray:
    """Bilinear values of each padded image of ``stack`` (k, H, W) on the block grid
    shifted by d, (k, h, w).

    A uniform shift makes bilinear interpolation a fixed 2x2 stencil of slices, far
    cheaper than general coordinate mapping.
    """
    fr, fc = math.floor(d[0]), math.floor(d[1])
    tr, tc = d[0] - fr, d[1] - fc
    h, w = shape
    r0, c0 = pad + fr, pad + fc
    arr = stack
    top = (
        arr[:, r0 : r0 + h, c0 : c0 + w] * (1 - tc) + arr[:, r0 : r0 + h, c0 + 1 : c0 + 1 + w] * tc
    )
    bot = (
        arr[:, r0 + 1 : r0 + 1 + h, c0 : c0 + w] * (1 - tc)
        + arr[:, r0 + 1 : r0 + 1 + h, c0 + 1 : c0 + 1 + w] * tc
    )
    return top * (1 - tr) + bot * tr


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
                cs = slice(edges[k], edges[k + 1])
                blk = both[:, cs]
                rows_ok = np.flatnonzero(blk.mean(axis=1) > 0.9)
                if rows_ok.size < min_rows:
                    continue
                rs = slice(rows_ok[0], rows_ok[-1] + 1)
                m = both[rs, cs]
                a = np.where(m, xa[rs, cs], 0.0).astype(np.float32)
                b = bf[rs, cs]
                if a.shape[0] >= 16:
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
        scales = list(camera.band_scale)
        scales[list(Filter).index(self.band)] += delta
        return spin, replace(camera, band_scale=tuple(scales))


def _parameters(framelets: Framelets, initial: SpinModel, band_scale: bool) -> list[_Param]:
    """What to fit. Weak priors (1 sigma) keep weakly constrained values near nominal:
    5% on the turn, 0.005 rad on the axis tilt (FK value), 0.5% on band scales.
    One band's scale stays fixed: only the product of focal length and turn is seen.
    ``max_step`` bounds one round's update (2% of the turn, 0.004 rad of tilt,
    0.2% of scale), so a round on noisy data cannot throw the fit away.
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


def _displacement_jacobian(
    params: list[_Param],
    camera: CameraModel,
    spin: SpinModel,
    grid: CylinderGrid,
    exposure: int,
    band: Filter,
    row: float,
    col: float,
) -> np.ndarray:
    """d(grid position of framelet content now at (row, col)) / d(parameters), 2 x n."""
    ray = grid.rays_at(np.array([row]), np.array([col]))
    sample, line = camera.ray_to_pixel(ray @ spin.rotation(exposure), band)

    def place(sp: SpinModel, cam: CameraModel) -> np.ndarray:
        sky = cam.pixel_to_ray(sample, line, band) @ sp.rotation(exposure).T
        r, c = grid.to_pixel(sky)
        return np.array([float(r[0]), float(c[0])])

    base = place(spin, camera)
    jac = np.zeros((2, len(params)))
    for k, p in enumerate(params):
        jac[:, k] = (place(*p.add(spin, camera, p.step)) - base) / p.step
    return jac


def _solve_update(
    shifts: list[OverlapShift],
    params: list[_Param],
    camera: CameraModel,
    spin: SpinModel,
    nominal_camera: CameraModel,
    nominal: SpinModel,
    grid: CylinderGrid,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted, Huber-robust least-squares parameter update; returns (delta, residuals)."""
    rows_a, rhs, w = [], [], []
    for s in shifts:
        ja = _displacement_jacobian(
            params, camera, spin, grid, s.a[0], Filter.parse(s.a[1]), s.row, s.col
        )
        jb = _displacement_jacobian(
            params,
            camera,
            spin,
            grid,
            s.b[0],
            Filter.parse(s.b[1]),
            s.row + s.d_row,
            s.col + s.d_col,
        )
        rows_a.extend(ja - jb)
        rhs.extend([s.d_row, s.d_col])
        w.extend([s.weight_row, s.weight_col])
    a = np.asarray(rows_a)
    y = np.asarray(rhs)
    w0 = np.asarray(w)
    current = np.array([p.get(spin, camera) for p in params])
    prior = np.array([p.get(nominal, nominal_camera) for p in params])
    prior_w = 1.0 / np.square([p.prior_sigma for p in params])
    hub = np.ones_like(w0)
    delta = np.zeros(len(params))
    for _ in range(8):
        ww = w0 * hub
        n = a.T @ (a * ww[:, None]) + np.diag(prior_w)
        g = a.T @ (ww * y) + prior_w * (prior - current)
        delta = np.linalg.solve(n, g)
        r = y - a @ delta
        # Huber weights at 1.5 robust sigmas of the normalised residuals
        z = np.abs(r) * np.sqrt(w0)
        scale = max(1.4826 * float(np.median(z)), 1e-6)
        k = 1.5 * scale
        hub = np.where(z <= k, 1.0, k / np.maximum(z, 1e-12))
    return delta, y - a @ delta


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
    columns stay, so the overlap windows and their column blocks are unchanged.
    """
    valid = s.valid & np.isfinite(s.values)
    rows = np.flatnonzero(valid.any(axis=1))
    if rows.size == 0:
        return replace(s, valid=valid)
    r = slice(int(rows[0]), int(rows[-1]) + 1)
    box = slice(s.rows.start + r.start, s.rows.start + r.stop)
    return replace(
        s, rows=box, valid=valid[r], values=s.values[r].copy(), weights=s.weights[r].copy()
    )


def _rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(v)))) if v.size else float("nan")


def fit_spin(
    framelets: Framelets,
    camera: CameraModel,
    initial: SpinModel,
    *,
    max_iter: int = 4,
    min_measurements: int = 8,
    saturation: float | None = None,
    tolerance_px: float = 0.1,
    band_scale: bool = True,
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
    spin = initial
    cam = camera
    params = _parameters(framelets, initial, band_scale)
    shifts: list[OverlapShift] = []
    last: tuple[SpinModel, CameraModel, list[OverlapShift]] | None = None
    resid = np.zeros(0)
    it = 0
    # one fixed sky parametrisation for all rounds, so that measured shifts respond to
    # parameter changes exactly as the Jacobian says
    grid = CylinderGrid.covering(framelets, camera, spin, margin=24)
    for it in range(1, max_iter + 1):  # noqa: B007 (used after the loop)
        samples = [
            _usable_rows(s)
            for s in framelet_footprints(hp_fr, cam, spin, grid, order=1, feather=1.0, trim_lines=1)
        ]
        measured = measure_overlaps(samples, noise)
        if len(measured) < min_measurements:
            if last is not None:
                # the last update made the overlaps disagree (noisy, weakly constrained
                # data): go back to where they were measured and report them as they are
                spin, cam, shifts = last
                resid = np.array([[m.d_row, m.d_col] for m in shifts]).ravel()
            else:
                shifts = measured
            break
        shifts = measured
        delta, resid = _solve_update(shifts, params, cam, spin, camera, initial, grid)
        # trust region: no single round may move a parameter further than this
        delta = np.clip(
            delta, -np.array([p.max_step for p in params]), np.array([p.max_step for p in params])
        )
        last = (spin, cam, shifts)
        new, new_cam = spin, cam
        for p, d in zip(params, delta, strict=True):
            new, new_cam = p.add(new, new_cam, float(d))
        new = replace(new, fitted=True)
        moved = _max_displacement(framelets, cam, new_cam, spin, new, grid)
        spin, cam = new, new_cam
        if moved < tolerance_px:
            break
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
