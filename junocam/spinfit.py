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
        RMS of the overlap shifts left after the fit, all pairs (pixels).
    band_registration_px : float
        RMS of the cross-band overlap shifts left after the fit (pixels); NaN for
        single-band frames.
    seam_rms_px : float
        RMS of the same-band (seam) overlap shifts left after the fit (pixels).
    fallback : bool
        True when the image had too little structure and the nominal model was kept.
    message : str
        A line for people.
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
            "iterations": self.iterations,
            "n_measurements": self.n_measurements,
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


def _bandpass(img: np.ndarray, sigma: float) -> np.ndarray:
    """Hot-pixel-free, square-root compressed, band-passed copy for matching.

    The 3x3 median removes fixed hot pixels (which would otherwise dominate the
    matching of dim frames), the square root makes shot noise roughly uniform, and
    the difference of Gaussians (1 px and ``sigma`` px) keeps the scene's structure
    while dropping its brightness level, so bands of different colour compare.
    """
    g = np.sqrt(np.maximum(ndimage.median_filter(img.astype(np.float32), size=3), 0.0))
    return ndimage.gaussian_filter(g, 1.0, mode="nearest") - ndimage.gaussian_filter(
        g, sigma, mode="nearest"
    )


def _bandpass_gain(sigma: float) -> float:
    """How much of white noise's standard deviation :func:`_bandpass` keeps (no median)."""
    d = np.zeros((65, 65), np.float32)
    d[32, 32] = 1.0
    k = ndimage.gaussian_filter(d, 1.0) - ndimage.gaussian_filter(d, sigma)
    return float(np.sqrt(np.sum(k * k)))


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
    a: np.ndarray, b: np.ndarray, valid: np.ndarray, noise: float, iters: int = 6
) -> tuple[float, float, float, float] | None:
    """Shift (dr, dc) such that b(x + d) ~ g * a(x) + o, with inverse variances.

    Gauss-Newton on a gain/offset-tolerant brightness-constancy model; b is resampled
    at the shifted positions each round.
    """
    h, w = a.shape
    rr, cc = np.nonzero(valid)
    if rr.size < 200:
        return None
    av = a[rr, cc].astype(np.float64)
    bz = np.where(np.isfinite(b), b, 0.0).astype(np.float32)
    gy = ndimage.sobel(bz, axis=0) / 8.0
    gx = ndimage.sobel(bz, axis=1) / 8.0
    d = np.zeros(2)
    normal = None
    for _ in range(iters):
        pos = np.stack([rr + d[0], cc + d[1]])
        bv = ndimage.map_coordinates(bz, pos, order=1, mode="nearest")
        by = ndimage.map_coordinates(gy, pos, order=1, mode="nearest")
        bx = ndimage.map_coordinates(gx, pos, order=1, mode="nearest")
        # model: a ~ g * b(x + d + delta) + o  ->  a ~ g*bv + g*by*dr + g*bx*dc + o
        m = np.stack([bv, by, bx, np.ones_like(bv)], axis=1)
        normal = m.T @ m
        try:
            sol = np.linalg.solve(normal + 1e-9 * np.eye(4), m.T @ av)
        except np.linalg.LinAlgError:
            return None
        g = sol[0]
        if not np.isfinite(g) or abs(g) < 0.2 or abs(g) > 5.0:
            return None
        step = sol[1:3] / g
        d += step
        if np.max(np.abs(step)) < 1e-3:
            break
        if np.max(np.abs(d)) > 8.0:
            return None
    # inverse variance of the shift from the normal matrix and the residual noise
    pos = np.stack([rr + d[0], cc + d[1]])
    bv = ndimage.map_coordinates(bz, pos, order=1, mode="nearest")
    resid = av - (sol[0] * bv + sol[3])
    var = max(float(np.mean(resid**2)), noise**2)
    try:
        cov = np.linalg.inv(normal)[1:3, 1:3] * var / (g * g)
    except np.linalg.LinAlgError:
        return None
    wr, wc = 1.0 / max(cov[0, 0], 1e-8), 1.0 / max(cov[1, 1], 1e-8)
    return float(d[0]), float(d[1]), wr, wc


def _coarse_shift(a: np.ndarray, b: np.ndarray, max_shift: int) -> tuple[int, int]:
    """Integer shift of b relative to a by normalised cross-power spectrum."""
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


def measure_overlaps(
    samples: list[FrameletSample],
    noise: dict[str, float],
    *,
    max_gap: int = 4,
    column_blocks: int = 4,
    min_rows: int = 6,
    max_shift: int = 12,
    texture_snr: float = 2.0,
) -> list[OverlapShift]:
    """Measure residual shifts wherever two resampled framelets overlap.

    Parameters
    ----------
    samples : list of FrameletSample
        High-passed framelets resampled onto one grid (NaN where unusable).
    noise : dict
        Noise sigma of the high-passed data per band name.
    max_gap : int
        Largest exposure gap of a pair.
    column_blocks : int
        Each overlap is measured in this many blocks across the columns, which
        constrains rotations as well as shifts.
    min_rows : int
        Smallest overlap height (rows) measured.
    max_shift : int
        Largest shift searched (pixels).
    texture_snr : float
        Minimum ratio of the block's signal spread to the noise.

    Returns
    -------
    list of OverlapShift
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
            va = sa.valid[
                r0 - sa.rows.start : r1 - sa.rows.start, c0 - sa.cols.start : c1 - sa.cols.start
            ]
            vb = sb.valid[
                r0 - sb.rows.start : r1 - sb.rows.start, c0 - sb.cols.start : c1 - sb.cols.start
            ]
            both = va & vb
            if both.sum() < 64 * min_rows:
                continue
            xa = sa.values[
                r0 - sa.rows.start : r1 - sa.rows.start, c0 - sa.cols.start : c1 - sa.cols.start
            ]
            xb = sb.values[
                r0 - sb.rows.start : r1 - sb.rows.start, c0 - sb.cols.start : c1 - sb.cols.start
            ]
            both &= np.isfinite(xa) & np.isfinite(xb)
            edges = np.linspace(0, c1 - c0, column_blocks + 1).astype(int)
            for k in range(column_blocks):
                blk = both[:, edges[k] : edges[k + 1]]
                rows_ok = np.flatnonzero(blk.mean(axis=1) > 0.9)
                if rows_ok.size < min_rows:
                    continue
                rs = slice(rows_ok[0], rows_ok[-1] + 1)
                cs = slice(edges[k], edges[k + 1])
                m = both[rs, cs]
                a = np.where(m, xa[rs, cs], 0.0).astype(np.float32)
                b = np.where(np.isfinite(xb[rs, cs]), xb[rs, cs], 0.0).astype(np.float32)
                n_a, n_b = noise[sa.band.value], noise[sb.band.value]
                if a[m].std() < texture_snr * n_a or b[m].std() < texture_snr * n_b:
                    continue
                # normalise contrast so different bands compare
                a = np.where(m, (a - a[m].mean()) / a[m].std(), 0.0).astype(np.float32)
                bm = np.isfinite(xb[rs, cs])
                b = np.where(bm, (b - b[bm].mean()) / max(b[bm].std(), 1e-9), 0.0).astype(
                    np.float32
                )
                h = a.shape[0]
                if h >= 16:
                    cr, cc = _coarse_shift(a * m, b, max_shift)
                else:
                    cr, cc = 0, 0
                lk = _lk_shift_from(a, b, m, cr, cc, noise=1.0 / max(texture_snr, 1.0))
                if lk is None:
                    continue
                dr, dc, wr, wc = lk
                if abs(dr) > max_shift or abs(dc) > max_shift:
                    continue
                ri, ci = np.nonzero(m)
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
                        n_pixels=int(m.sum()),
                    )
                )
    return out


def _lk_shift_from(
    a: np.ndarray, b: np.ndarray, valid: np.ndarray, dr0: int, dc0: int, noise: float
) -> tuple[float, float, float, float] | None:
    """Lucas-Kanade refinement starting from an integer shift."""
    h, w = a.shape
    rr, cc = np.nonzero(valid)
    keep = (rr + dr0 >= 0) & (rr + dr0 <= h - 1) & (cc + dc0 >= 0) & (cc + dc0 <= w - 1)
    v = np.zeros_like(valid)
    v[rr[keep], cc[keep]] = True
    # shift b by the integer part so LK starts near the answer
    b0 = ndimage.shift(b, (-dr0, -dc0), order=0, mode="nearest")
    res = _lk_shift(a, b0, v, noise)
    if res is None:
        return None
    dr, dc, wr, wc = res
    return dr + dr0, dc + dc0, wr, wc


# parameters fitted: turn per exposure, tilt_y, tilt_z
_PARAMS = ("turn_per_exposure", "tilt_y", "tilt_z")
_STEPS = (1e-5, 1e-4, 1e-4)
# weak prior (1 sigma, radians) that keeps the tilt near the FK value when the
# overlaps do not constrain it
_PRIOR_SIGMA = (0.05, 0.005, 0.005)


def _displacement_jacobian(
    camera: CameraModel,
    spin: SpinModel,
    grid: CylinderGrid,
    exposure: int,
    row: float,
    col: float,
) -> np.ndarray:
    """d(grid position of the framelet content at (row, col)) / d(parameters), 2x3."""
    ray = grid.rays_at(np.array(row), np.array(col))
    cam_ray = ray @ spin.rotation(exposure)
    jac = np.zeros((2, len(_PARAMS)))
    for k, (name, eps) in enumerate(zip(_PARAMS, _STEPS, strict=True)):
        moved = replace(spin, **{name: getattr(spin, name) + eps})
        r2, c2 = grid.to_pixel(cam_ray @ moved.rotation(exposure).T)
        jac[:, k] = [(float(r2) - row) / eps, (float(c2) - col) / eps]
    return jac


def _solve_update(
    shifts: list[OverlapShift],
    camera: CameraModel,
    spin: SpinModel,
    nominal: SpinModel,
    grid: CylinderGrid,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted, Huber-robust least-squares parameter update; returns (delta, residuals)."""
    rows_a, rhs, w = [], [], []
    for s in shifts:
        ja = _displacement_jacobian(camera, spin, grid, s.a[0], s.row, s.col)
        jb = _displacement_jacobian(camera, spin, grid, s.b[0], s.row + s.d_row, s.col + s.d_col)
        a = ja - jb
        rows_a.extend(a)
        rhs.extend([s.d_row, s.d_col])
        w.extend([s.weight_row, s.weight_col])
    a = np.asarray(rows_a)
    y = np.asarray(rhs)
    w0 = np.asarray(w)
    current = np.array([getattr(spin, p) for p in _PARAMS])
    prior = np.array([getattr(nominal, p) for p in _PARAMS])
    prior_w = 1.0 / np.square(
        np.asarray(_PRIOR_SIGMA) * np.array([nominal.turn_per_exposure, 1, 1])
    )
    hub = np.ones_like(w0)
    delta = np.zeros(len(_PARAMS))
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


def _rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(v)))) if v.size else float("nan")


def fit_spin(
    framelets: Framelets,
    camera: CameraModel,
    initial: SpinModel,
    *,
    max_iter: int = 5,
    min_measurements: int = 8,
    saturation: float | None = None,
    highpass_sigma: float = 4.0,
    tolerance_px: float = 0.005,
) -> SpinFit:
    """Fit the turn per exposure and the spin-axis tilt so framelet overlaps agree.

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
    highpass_sigma : float
        Gaussian sigma (pixels) of the high-pass used for matching.
    tolerance_px : float
        Stop when the update moves the farthest framelet by less than this.

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
    gain = _bandpass_gain(highpass_sigma)
    for k, band in enumerate(framelets.filters):
        for i in range(framelets.n_exposures):
            img = np.asarray(framelets.data[i, k], dtype=np.float32)
            h = _bandpass(img, highpass_sigma)
            if saturation is not None:
                bad = ndimage.binary_dilation(img >= saturation, iterations=3)
                h[bad] = np.nan
            hp[i, k] = h
        noise[band.value] = gain * _noise_sigma(framelets.data[:, k, :, 40:-40])
    hp_fr = Framelets(hp, framelets.filters)
    spin = initial
    shifts: list[OverlapShift] = []
    resid = np.zeros(0)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (used after the loop)
        grid = CylinderGrid.covering(framelets, camera, spin)
        samples = list(framelet_footprints(hp_fr, camera, spin, grid, order=1, feather=1.0))
        # NaN (saturated) samples become invalid
        samples = [replace(s, valid=s.valid & np.isfinite(s.values)) for s in samples]
        shifts = measure_overlaps(samples, noise)
        if len(shifts) < min_measurements:
            break
        delta, resid = _solve_update(shifts, camera, spin, initial, grid)
        new = replace(
            spin,
            **{p: getattr(spin, p) + d for p, d in zip(_PARAMS, delta, strict=True)},
            fitted=True,
        )
        moved = (
            abs(delta[0]) * camera.focal_px * framelets.n_exposures
            + (abs(delta[1]) + abs(delta[2]))
            * camera.focal_px
            * abs(spin.turn_per_exposure)
            * framelets.n_exposures
        )
        spin = new
        if moved < tolerance_px:
            break
    if len(shifts) < min_measurements:
        msg = (
            f"only {len(shifts)} usable framelet overlaps (need {min_measurements}): "
            "too little structure, nominal spin kept"
        )
        warnings.warn(msg, JunoCamWarning, stacklevel=2)
        return SpinFit(initial, initial, it, len(shifts), math.nan, math.nan, math.nan, True, msg)
    # residuals after the last update, split by pair type
    comps = np.asarray(resid).reshape(-1, 2)
    cross = np.array([s.cross_band for s in shifts])
    mag = np.hypot(comps[:, 0], comps[:, 1])
    fit = SpinFit(
        spin=spin,
        nominal=initial,
        iterations=it,
        n_measurements=len(shifts),
        residual_rms_px=_rms(mag),
        band_registration_px=_rms(mag[cross]),
        seam_rms_px=_rms(mag[~cross]),
        fallback=False,
        message=(
            f"fitted turn {spin.turn_per_exposure:.6f} rad/exposure "
            f"({(spin.turn_per_exposure / initial.turn_per_exposure - 1) * 100:+.3f}% vs nominal) "
            f"from {len(shifts)} overlaps, residual {_rms(mag):.3f} px"
        ),
    )
    return fit
