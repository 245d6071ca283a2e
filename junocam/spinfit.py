"""Self-calibration of the spin model from the overlaps of a frame's framelets.

The metadata timing has tens of milliseconds of jitter and the spin rate is only
nominal, so the turn between exposures (and the small tilt of the spin axis) are
fitted from the image itself. Framelets overlap: consecutive framelets of one band
by about a dozen lines, and framelets of different bands from nearby exposures by
50 to 90 lines. :mod:`junocam.matching` measures, for every overlap block of every
pair at once, which CCD pixel of one framelet sees what a CCD pixel of the other
sees (Lucas-Kanade with a brightness model, between the framelets' own pixels, no
resampling). Those correspondences no longer depend on the model that measured them,
so the parameters are then solved for exactly on them (prior-weighted, Huber-robust
Gauss-Newton with a weak prior on the tilt). The first round measures on 4 x 4 means
(a basin of several pixels, no search) and fits the turn and band scales; the second
measures at full resolution from that model and fits everything. A third round
re-measures only when the second moved the framelets by more than a pixel (the
correspondences then come from block warps the model had visibly wrong).

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

from .camera import CameraModel
from .framelets import Framelets
from .matching import BlockMatches, PreparedFramelets, _undistort, match_blocks, prepare
from .metadata import Filter
from .spin import SpinModel
from .stitch import CylinderGrid

__all__ = ["SpinFit", "fit_spin", "JunoCamWarning"]


#: Pixels matched per overlap block (spread evenly): a few hundredths of a pixel of
#: precision, well below the overlaps' model residuals (about 1 px on real frames), at
#: a small fraction of the cost of the 20 000 to 40 000 pixels of a full block.
MATCH_POINTS = 1024

#: A full-resolution round is measured again when its update moved some framelet
#: by more than this (pixels): below it, the block warps of the measuring model were
#: right to well under the measurements' precision.
REMEASURE_PX = 1.0


class JunoCamWarning(UserWarning):
    """A processing step fell back to a weaker method (reported, not fatal)."""


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
    """Detector-coordinate correspondences for :func:`_solve`.

    Which CCD pixel of framelet ``b`` sees what a given CCD pixel of framelet ``a``
    sees: that statement does not depend on any model, so the parameters can be
    solved for exactly (not through a linearisation about the model that measured
    them). Arrays are (n, 2): column 0 for ``a``, column 1 for ``b``; ``weight`` holds
    the row and column inverse variances in full-scale pixels^-2.
    """

    exposure: np.ndarray
    band: np.ndarray
    sample: np.ndarray
    line: np.ndarray
    weight: np.ndarray


def _match_offsets(
    m: _Matches,
    spin: SpinModel,
    camera: CameraModel,
    grid: CylinderGrid,
    undistorted: np.ndarray | None = None,
) -> np.ndarray:
    """Where ``b``'s CCD point lands on ``grid`` relative to ``a``'s, (n, 2) pixels:
    zero for a model that makes the overlaps agree.

    ``undistorted`` (n, 2, 2), from :func:`_undistorted`, saves the distortion
    inversion when the same matches are placed under many models (only the focal
    lengths differ between them).
    """
    bands = list(Filter)
    if undistorted is None:
        undistorted = _undistorted(m, camera)
    placed = np.empty((len(m.sample), 2, 2))
    for side in (0, 1):
        cam = np.empty((len(m.sample), 3))
        cam[:, :2] = undistorted[:, side]
        for k in np.unique(m.band[:, side]):
            cam[m.band[:, side] == k, 2] = camera.focal_for(bands[k])
        # one matrix per exposure, not per match (the same numbers)
        ex, which = np.unique(m.exposure[:, side], return_inverse=True)
        rot = spin.rotation(ex.astype(np.float64))[which.reshape(-1)]
        sky = np.einsum("njk,nk->nj", rot, cam)
        placed[:, side, 0], placed[:, side, 1] = grid.to_pixel(sky)
    return placed[:, 1] - placed[:, 0]


def _undistorted(m: _Matches, camera: CameraModel) -> np.ndarray:
    """Undistorted focal-plane coordinates (x, y) of both ends of every match, (n, 2, 2)."""
    return np.stack(
        [
            _undistort(camera, m.sample[:, side], m.line[:, side], m.band[:, side])
            for side in (0, 1)
        ],
        axis=1,
    )


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

    und = _undistorted(m, camera)

    def offsets(theta: np.ndarray) -> np.ndarray:
        return _match_offsets(m, *model(theta), grid, und).ravel()

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
    return sp, cam, _match_offsets(m, sp, cam, grid, und)


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
    exposures = np.arange(framelets.n_exposures, dtype=np.float64)
    r_old, r_new = old.rotation(exposures), new.rotation(exposures)  # (E, 3, 3)
    worst = 0.0
    for band in framelets.filters:
        # every exposure's corners in one go: rays (5, 3) -> sky (E, 5, 3)
        sky0 = np.einsum("ekj,pj->epk", r_old, camera.pixel_to_ray(s, ln, band))
        sky1 = np.einsum("ekj,pj->epk", r_new, new_camera.pixel_to_ray(s, ln, band))
        r0, c0 = grid.to_pixel(sky0)
        r1, c1 = grid.to_pixel(sky1)
        worst = max(worst, float(np.max(np.hypot(r1 - r0, c1 - c0))))
    return worst


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
    tolerance_px: float | None = None,
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
        Most rounds of measure-and-solve, the coarse one included.
    min_measurements : int
        Fewer usable overlap measurements than this -> keep ``initial`` with a warning.
    saturation : float, optional
        Linear value at or above which pixels are ignored (saturated limb).
    tolerance_px : float
        Measure again at the fine level while the last update moved the farthest
        framelet by more than this (pixels).
    band_scale : bool
        Also fit per-band focal-length factors (multi-band frames only).
    coarse : bool
        Measure a first round on 4 x 4 means (a basin of several pixels: the nominal
        model can be that far off; the fine round then starts within a pixel).
    preview : bool
        Measure the fine rounds on 2 x 2 means: good to about a tenth of a pixel of a
        half-scale output (``--fast``).

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
    fine = 2 if preview else 1
    tolerance_px = REMEASURE_PX if tolerance_px is None else tolerance_px
    levels = (fine, 2, 4) if coarse else (fine,)
    prep = prepare(framelets, saturation, levels=tuple(sorted(set(levels))))
    params = _parameters(framelets, initial, band_scale)
    # residuals and displacements are expressed on one fixed full-scale grid
    solve_grid = CylinderGrid.covering(framelets, camera, initial, margin=24)
    spin, cam = initial, camera
    it = 0
    if coarse and max_iter > 1:
        # the nominal model can be pixels off: 4 x 4 means first, then 2 x 2 (the thin
        # same-band overlaps of single-band frames are too thin on 4 x 4 means)
        for level in (4, 2):
            m = _measure(prep, cam, spin, level)
            if len(m) >= min_measurements:
                break
        if len(m) >= min_measurements:
            it += 1
            # the coarse round fits what whole-pixel shifts fix (the turn and the band
            # scales); the axis tilt, a slight rotation of the overlaps, waits
            use = [p for p in params if p.name.startswith(("turn", "scale"))]
            spin, cam, _ = _solve(_as_matches(m), use, cam, spin, camera, initial, solve_grid)
    matches: BlockMatches | None = None
    resid = np.zeros((0, 2))
    only = None
    while it < max_iter:
        it += 1
        m = _measure(prep, cam, spin, fine, only=only)
        if len(m) < min_measurements:
            if matches is None and (spin != initial or cam != camera):
                # the coarse fit misled the fine round: measure from nominal instead
                spin, cam = initial, camera
                m = _measure(prep, cam, spin, fine)
            if len(m) < min_measurements:
                break
        matches = m
        new, new_cam, resid = _solve(_as_matches(m), params, cam, spin, camera, initial, solve_grid)
        moved = _max_displacement(framelets, cam, new_cam, spin, new, solve_grid)
        spin, cam = replace(new, fitted=True), new_cam
        if moved < tolerance_px:
            break
        only = m.keys()
    if matches is None or len(matches) < min_measurements:
        n = 0 if matches is None else len(matches)
        msg = (
            f"only {n} usable framelet overlaps (need {min_measurements}): "
            "too little structure, nominal spin kept"
        )
        warnings.warn(msg, JunoCamWarning, stacklevel=2)
        return SpinFit(initial, initial, it, n, math.nan, math.nan, math.nan, True, msg)
    # residuals after the last update, split by pair type; gross outliers (moving
    # clouds near the terminator, saturated limbs, cosmic rays) are counted, not
    # averaged in
    comps = np.asarray(resid).reshape(-1, 2)
    cross = matches.cross_band
    mag = np.hypot(comps[:, 0], comps[:, 1])
    limit = max(4.0 * 1.4826 * float(np.median(mag)), 0.5)
    inlier = mag <= limit
    return SpinFit(
        camera=cam,
        spin=spin,
        nominal=initial,
        iterations=it,
        n_measurements=len(matches),
        residual_rms_px=_rms(mag[inlier]),
        band_registration_px=_rms(mag[cross & inlier]),
        seam_rms_px=_rms(mag[~cross & inlier]),
        fallback=False,
        message=(
            f"fitted turn {spin.turn_per_exposure:.6f} rad/exposure "
            f"({(spin.turn_per_exposure / initial.turn_per_exposure - 1) * 100:+.3f}% vs nominal) "
            f"from {len(matches)} overlaps ({int((~inlier).sum())} outliers), "
            f"residual {_rms(mag[inlier]):.3f} px"
        ),
        n_outliers=int((~inlier).sum()),
    )


def _measure(
    prep: PreparedFramelets,
    camera: CameraModel,
    spin: SpinModel,
    level: int,
    only: set[tuple[int, int, int, int, int]] | None = None,
) -> BlockMatches:
    """One round of overlap measurements on a pyramid level."""
    return match_blocks(
        prep,
        camera,
        spin,
        level=level,
        # overlaps of a dozen lines are three to five lines tall on 2 x 2 means
        min_rows=6 if level == 1 else 3,
        # 4 x 4 means only need a start within a pixel: a quarter of the points
        max_points=MATCH_POINTS if level == 1 else MATCH_POINTS // 4,
        only=only,
    )


def _as_matches(m: BlockMatches) -> _Matches:
    return _Matches(m.exposure, m.band, m.sample, m.line, m.weight)
