"""Frame-level geometry: fit the spin, choose the output grid, stitch every band.

This module ties :mod:`junocam.camera`, :mod:`junocam.spin`,
:mod:`junocam.spinfit` and :mod:`junocam.stitch` together for one frame, with
every choice in a small frozen :class:`GeometryOptions`. It does no I/O.

Examples
--------
>>> from junocam.simulate import JupiterScene, SimulationSpec, simulate_frame
>>> from junocam.companding import decompand
>>> from junocam.framelets import split
>>> spec = SimulationSpec(n_exposures=3, oversample=1)
>>> sim = simulate_frame(JupiterScene(radius_deg=4.0), spec)
>>> fr = split(decompand(sim.strip, "SQROOT"), spec.filters)
>>> out = stitch_frame(fr, spec.interframe_delay, GeometryOptions(fit_spin=False))
>>> sorted(b.value for b in out.result.bands)
['BLUE', 'GREEN', 'RED']
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .camera import CameraModel
from .companding import decompand
from .errors import GeometryError
from .framelets import Framelets
from .metadata import Filter
from .spin import NOMINAL_SPIN_RATE, SpinModel
from .spinfit import JunoCamWarning, SpinFit, fit_spin
from .stitch import CylinderGrid, PerspectiveGrid, StitchResult, perspective_grid_for, stitch

__all__ = [
    "GeometryOptions",
    "StitchedFrame",
    "stitch_frame",
    "fit_frame_spin",
    "SATURATION_CODE",
    "Resampler",
]

#: Raw SQROOT code from which samples are treated as saturated when fitting the spin.
#: Real frames pile up at codes 240-249 where the signal clips (e.g. PJ43 43C00078).
SATURATION_CODE = 240


@dataclass(frozen=True)
class GeometryOptions:
    """How to map a frame onto an output grid.

    Parameters
    ----------
    grid : {"cylinder", "perspective"}
        Spin-cylinder map, or a virtual camera (default centred on the target).
    fit_spin : bool
        Self-calibrate the turn per exposure and the axis tilt from overlaps.
    spin_rate : float
        Nominal spin rate (rad/s), the starting point of the fit.
    turn_per_exposure : float or None
        Use this turn (radians) and skip fitting it.
    fov_deg : float or None
        Perspective field of view; default fits the target.
    size : int or None
        Perspective output size (pixels, square); default one detector pixel per
        output pixel at the centre.
    center : (row, col) or None
        Cylinder-grid pixel the perspective camera looks at; default the target's
        brightness centroid.
    scale : float
        Output pixels per detector pixel at the centre (0.5 for a half-size preview).
    order : int
        Interpolation: 1 bilinear, 3 cubic.
    feather : float
        Blending ramp width (lines) at framelet edges.
    trim_lines : int
        Lines dropped at the top and bottom of every framelet.

    Examples
    --------
    >>> GeometryOptions(grid="perspective", fov_deg=30.0).grid
    'perspective'
    """

    grid: str = "cylinder"
    fit_spin: bool = True
    spin_rate: float = NOMINAL_SPIN_RATE
    turn_per_exposure: float | None = None
    fov_deg: float | None = None
    size: int | None = None
    center: tuple[float, float] | None = None
    scale: float = 1.0
    order: int = 1
    feather: float = 8.0
    trim_lines: int = 0

    def __post_init__(self) -> None:
        if self.grid not in ("cylinder", "perspective"):
            raise GeometryError(f"unknown grid {self.grid!r} (use cylinder or perspective)")
        if not (0.05 <= self.scale <= 8.0):
            raise GeometryError(f"scale {self.scale} is outside [0.05, 8]")
        if self.order not in (1, 3):
            raise GeometryError(f"interpolation order must be 1 or 3, got {self.order}")
        if self.fov_deg is not None and not (0.0 < self.fov_deg < 170.0):
            raise GeometryError(f"field of view {self.fov_deg} degrees is outside (0, 170)")
        if self.size is not None and not (16 <= self.size <= 20000):
            raise GeometryError(f"output size {self.size} is outside [16, 20000] pixels")
        if not (0.0 <= self.feather <= 64.0):
            raise GeometryError(f"feather {self.feather} lines is outside [0, 64]")
        if not (0 <= self.trim_lines <= 16):
            raise GeometryError(f"trim_lines {self.trim_lines} is outside [0, 16]")


@dataclass(frozen=True, eq=False)
class StitchedFrame:
    """A frame's bands on one grid, with the geometry used.

    Attributes
    ----------
    result : StitchResult
        Band images (float32, input units), masks, grid, spin.
    fit : SpinFit
        The spin self-calibration report (``fit.fallback`` when nominal was kept).
    """

    result: StitchResult
    fit: SpinFit

    @property
    def bands(self) -> dict[Filter, np.ndarray]:
        """Band images."""
        return dict(self.result.bands)

    @property
    def masks(self) -> dict[Filter, np.ndarray]:
        """Coverage masks."""
        return dict(self.result.masks)


#: ``resample(framelets, spin, grid, options) -> StitchResult``: renders the bands on
#: the grid :func:`stitch_frame` chose, in place of the spin-only stitch (``junocam
#: process --kernels`` renders from the SPICE positions and attitudes,
#: :func:`junocam.planet.viewstitch.stitch_from_view`).
Resampler = Callable[
    [Framelets, SpinModel, "CylinderGrid | PerspectiveGrid", "GeometryOptions"], StitchResult
]


def _nominal_fit(spin: SpinModel, message: str) -> SpinFit:
    nan = math.nan
    return SpinFit(spin, spin, 0, 0, nan, nan, nan, True, message)


def stitch_frame(
    framelets: Framelets,
    interframe_delay: float | None,
    options: GeometryOptions = GeometryOptions(),
    camera: CameraModel | None = None,
    *,
    saturation: float | None = None,
    spin_fit: SpinFit | None = None,
    resample: Resampler | None = None,
) -> StitchedFrame:
    """Fit the spin (optional), build the output grid and stitch every band.

    Parameters
    ----------
    framelets : Framelets
        Linear (decompanded, optionally cleaned) framelets.
    interframe_delay : float or None
        INTERFRAME_DELAY in seconds; required unless ``options.turn_per_exposure``.
    options : GeometryOptions
    camera : CameraModel, optional
        Defaults to the instrument-kernel model.
    saturation : float, optional
        Linear level from which pixels are ignored by the spin fit; defaults to the
        SQROOT value of code :data:`SATURATION_CODE`.
    spin_fit : SpinFit, optional
        A fit already made for this frame (e.g. by another recipe): reused, not redone.
    resample : Resampler, optional
        Renders the bands on the chosen grid instead of the spin-only stitch (the
        grid, and so the output's size and scale, stay those of the plain stitch);
        the unusual-turn warning is then not given (the resampler knows the
        geometry).

    Returns
    -------
    StitchedFrame

    Raises
    ------
    GeometryError
        When the timing is unknown or the grid cannot be built.
    """
    camera = camera or CameraModel()
    ref = (framelets.n_exposures - 1) / 2.0
    if options.turn_per_exposure is not None:
        spin = SpinModel(turn_per_exposure=options.turn_per_exposure, reference_exposure=ref)
    elif interframe_delay is None:
        raise GeometryError(
            "INTERFRAME_DELAY is unknown: give --interframe-delay (seconds) or the metadata"
        )
    else:
        spin = SpinModel.nominal(interframe_delay, options.spin_rate, reference_exposure=ref)
    if saturation is None:
        saturation = float(decompand(np.array([SATURATION_CODE], np.uint8), "SQROOT")[0])
    if spin_fit is not None and options.turn_per_exposure is None:
        fit = spin_fit
        spin = spin_fit.spin
        camera = spin_fit.camera or camera
    elif options.fit_spin and options.turn_per_exposure is None:
        fit = fit_frame_spin(
            framelets,
            interframe_delay,
            options.spin_rate,
            camera,
            saturation,
            preview=options.scale <= 0.5,
        )
        spin = fit.spin
        camera = fit.camera or camera
    else:
        fit = _nominal_fit(spin, "spin fit disabled: nominal/explicit spin used")
    if options.turn_per_exposure is None and interframe_delay is not None and resample is None:
        # the plain stitch has no spacecraft positions: a close flyby's parallax in the
        # fitted turn distorts the body; say so
        warn_unusual_turn(fit, interframe_delay)
    scale = camera.focal_px * options.scale
    cyl = CylinderGrid.covering(framelets, camera, spin, scale=scale)
    grid: CylinderGrid | PerspectiveGrid = cyl
    if options.grid == "perspective":
        # find the target on a cheap low-resolution cylinder stitch of one band
        band = _brightest_band(framelets)
        preview_grid = CylinderGrid.covering(framelets, camera, spin, scale=scale / 4.0)
        prev = stitch(framelets, camera, spin, preview_grid, bands=[band])
        center = None
        if options.center is not None:
            center = (options.center[0] / 4.0, options.center[1] / 4.0)
        pg = perspective_grid_for(
            preview_grid,
            prev.bands[band],
            prev.masks[band],
            fov_deg=options.fov_deg,
            size=options.size,
            center=center,
        )
        if options.size is None:
            # perspective_grid_for sized it for the preview's scale
            n = int(round(2.0 * scale * math.tan(math.radians(_fov_of(pg)) / 2.0)))
            pg = PerspectiveGrid.looking_at(
                pg.rays_at(np.array(pg.center[0]), np.array(pg.center[1])),
                _fov_of(pg),
                (max(n, 16), max(n, 16)),
                up=-np.asarray(pg.rotation).reshape(3, 3)[:, 1],
            )
        grid = pg
    if resample is not None:
        return StitchedFrame(result=resample(framelets, spin, grid, options), fit=fit)
    result = stitch(
        framelets,
        camera,
        spin,
        grid,
        order=options.order,
        feather=options.feather,
        trim_lines=options.trim_lines,
    )
    return StitchedFrame(result=result, fit=fit)


def fit_frame_spin(
    framelets: Framelets,
    interframe_delay: float | None,
    spin_rate: float = NOMINAL_SPIN_RATE,
    camera: CameraModel | None = None,
    saturation: float | None = None,
    *,
    preview: bool = False,
) -> SpinFit:
    """Self-calibrate one frame's spin from its framelet overlaps (no stitching).

    Parameters
    ----------
    framelets : Framelets
        Linear (decompanded) framelets.
    interframe_delay : float or None
        INTERFRAME_DELAY, seconds.
    spin_rate : float
        Nominal spin rate, rad/s (starting point).
    camera : CameraModel, optional
    saturation : float, optional
        Linear level ignored by the fit (default: SQROOT code :data:`SATURATION_CODE`).
    preview : bool
        Measure on a half-scale grid only: for outputs at half scale or less, where
        that is precise enough, in about 70% of the time.

    Returns
    -------
    SpinFit

    Raises
    ------
    GeometryError
        When INTERFRAME_DELAY is unknown.

    Warns
    -----
    JunoCamWarning
        When the image has too little structure and the nominal spin is kept.
    """
    if interframe_delay is None:
        raise GeometryError(
            "INTERFRAME_DELAY is unknown: give --interframe-delay (seconds) or the metadata"
        )
    camera = camera or CameraModel()
    ref = (framelets.n_exposures - 1) / 2.0
    spin = SpinModel.nominal(interframe_delay, spin_rate, reference_exposure=ref)
    if saturation is None:
        saturation = float(decompand(np.array([SATURATION_CODE], np.uint8), "SQROOT")[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", JunoCamWarning)
        fit = fit_spin(framelets, camera, spin, saturation=saturation, preview=preview)
    for w in caught:
        warnings.warn(w.message, JunoCamWarning, stacklevel=2)
    return fit


#: Juno's spin as the real frames fit it: 1.9836-1.9909 rpm (-0.82% to -0.46% from
#: the nominal 2 rpm, docs/real_frames.md); the middle of that range, rad/s.
USUAL_SPIN_RATE = 1.9872 * 2.0 * math.pi / 60.0
#: Relative departure of a fitted turn from :data:`USUAL_SPIN_RATE` that is warned about.
UNUSUAL_TURN = 0.005


def warn_unusual_turn(fit: SpinFit, interframe_delay: float) -> float | None:
    """Warn when a fitted turn departs from Juno's usual spin by more than 0.5 %.

    Stitched from the spin alone, a frame taken close to a body (a moon flyby) reads
    the parallax of the moving spacecraft as extra turn: on a simulated PJ57-like Io
    pass at 2,340 km and 30 km/s the fit reads +4 % and Io comes out stretched along
    the spin. With kernels, ``junocam process`` and ``junocam map`` use the
    spacecraft's positions instead.

    Returns
    -------
    float or None
        The relative departure when a warning was issued.

    Examples
    --------
    >>> import warnings
    >>> from junocam.spin import SpinModel
    >>> fast = SpinModel.nominal(0.372, USUAL_SPIN_RATE * 1.04)
    >>> fit = SpinFit(fast, fast, 10, 10, 0.1, 0.1, 0.1, False, "")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     round(warn_unusual_turn(fit, 0.372), 3)
    0.04
    >>> "parallax" in str(caught[0].message)
    True
    """
    if fit.fallback or not interframe_delay:
        return None
    usual = SpinModel.nominal(interframe_delay, USUAL_SPIN_RATE).turn_per_exposure
    off = abs(fit.spin.turn_per_exposure) / abs(usual) - 1.0
    if abs(off) <= UNUSUAL_TURN:
        return None
    warnings.warn(
        f"the fitted spin turn is {off * 100:+.1f} % off Juno's usual spin (1.987 rpm): "
        "close to a body the spacecraft's motion (parallax) enters the fit and the body "
        "is stretched or squeezed along the spin; give the frame's SPICE kernels "
        "(junocam process/map --kernels) to use the spacecraft positions",
        JunoCamWarning,
        stacklevel=2,
    )
    return off


def _fov_of(grid: PerspectiveGrid) -> float:
    return math.degrees(2.0 * math.atan((grid.shape[1] / 2.0) / grid.focal))


def _brightest_band(framelets: Framelets) -> Filter:
    means = [float(np.mean(framelets.data[:, k, :, 30:-30])) for k in range(len(framelets.filters))]
    return framelets.filters[int(np.argmax(means))]
