"""Clean-up stages on linear JunoCam data: hot pixels, dark, flat, blemishes, black level.

Every function here works on LINEAR float32 data, i.e. decompanded data numbers (DN,
see :mod:`junocam.companding`), of one band. The usual shape is a band's framelet
stack ``(n_exposures, lines, samples)`` as returned by
:meth:`junocam.framelets.Framelets.band` (``lines`` is 128, or 64 for 2x2 summed
products; ``samples`` is 1648 including the 23 dark samples). A single framelet
``(lines, samples)`` is accepted too. Calibration images (dark, flat, bad-pixel mask)
have the shape of one framelet, ``(lines, samples)``, and broadcast over exposures.

The functions are pure: they never modify their input and return a new float32
array. Out-of-range parameters raise :class:`ValueError` with a clear message; files
that cannot be read raise :class:`junocam.errors.FormatError` naming the file.

A typical order (Kevin M. Gill's pipeline, CAMERA.md "How the community processes")::

    x = black_level_from_dark_columns(x)   # or subtract_dark(x, cal.dark[band])
    x = apply_flat(x, cal.flat.get(band, radial_flat_model(band=band)))
    x = inpaint_mask(x, cal.mask[band])    # fixed blemishes and known bad pixels
    x, hot = repair_hot_pixels(x, return_mask=True)
    x = normalise_exposure(x, exposure_s=meta.exposure_duration)

Examples
--------
>>> import numpy as np
>>> from junocam.calibrate import apply_flat, radial_flat_model
>>> stack = np.full((2, 128, 1648), 100.0, dtype=np.float32)
>>> flat = radial_flat_model(128, 1648, "green")
>>> out = apply_flat(stack * flat, flat)
>>> bool(np.allclose(out, 100.0, rtol=1e-5))
True
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
from scipy import ndimage

from . import rank
from .camera import IK_BAND_CY, IK_CX, IK_FOCAL_LENGTH_MM, IK_PIXEL_SIZE_MM
from .errors import FormatError, JunoCamError
from .framelets import DARK_SAMPLES, PHOTOACTIVE
from .metadata import FRAMELET_LINES, LINE_SAMPLES, Filter

__all__ = [
    "remove_line_noise",
    "block_rank_map",
    "estimate_background",
    "subtract_background",
    "line_gain_profile",
    "correct_line_gain",
    "Calibration",
    "load_calibration",
    "repair_hot_pixels",
    "remove_fixed_pattern",
    "correct_blemishes",
    "subtract_dark",
    "normalise_flat",
    "apply_flat",
    "inpaint_mask",
    "black_level_from_dark_columns",
    "normalise_exposure",
    "denoise",
    "radial_flat_model",
    "OPTICAL_CENTRE_SAMPLE",
    "OPTICAL_CENTRE_LINE",
    "FOCAL_LENGTH_PX",
    "TDI_STAGE_S",
    "REFERENCE_EXPOSURE_S",
    "DEFAULT_VIGNETTING_STRENGTH",
]

#: Optical centre sample, line per band and focal length in pixels: the camera
#: model's instrument-kernel values (one place: :mod:`junocam.camera`).
OPTICAL_CENTRE_SAMPLE = IK_CX
OPTICAL_CENTRE_LINE = IK_BAND_CY
FOCAL_LENGTH_PX = IK_FOCAL_LENGTH_MM / IK_PIXEL_SIZE_MM
#: Duration of one TDI stage in seconds; EXPOSURE_DURATION = TDI x 3.2 ms [H17].
TDI_STAGE_S = 0.0032
#: Reference exposure of :func:`normalise_exposure`: one TDI stage, 3.2 ms.
REFERENCE_EXPOSURE_S = TDI_STAGE_S
#: Default exponent of :func:`radial_flat_model`. A least-squares fit of
#: ``cos(theta) ** p`` to the photoactive area of the three community flats in
#: ``calibration/kmgill_junocam_processing`` gave p = 2.28 (blue), 2.10 (green) and
#: 2.47 (red) with about 2.5 % rms residual; 2.3 is their rounded mean.
DEFAULT_VIGNETTING_STRENGTH = 2.3

# --------------------------------------------------------------------------- helpers


def _as_stack(x: object, name: str = "stack") -> np.ndarray:
    """Return ``x`` as a float32 array of 2 or 3 dimensions (no copy when possible)."""
    a = np.asarray(x)
    if a.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be a framelet (lines, samples) or a stack "
            f"(n_exposures, lines, samples); got shape {a.shape}"
        )
    if a.dtype != np.float32:
        a = a.astype(np.float32)
    return a


def _check_frame_shape(stack: np.ndarray, image: np.ndarray, what: str) -> np.ndarray:
    """Check that a calibration image matches the framelet shape of ``stack``."""
    img = np.asarray(image)
    if img.shape != stack.shape[-2:]:
        raise ValueError(
            f"{what} has shape {img.shape} but the framelets are {stack.shape[-2:]} "
            "(lines, samples); a calibration image must match one framelet"
        )
    return img


# ----------------------------------------------------------------------- hot pixels

#: Values (about 2 MB of float32) per piece of the stages that work on a stack a
#: few exposures or lines at a time, to bound their full-size temporaries.
_CHUNK_VALUES = 500_000


def repair_hot_pixels(
    stack: np.ndarray,
    threshold: float = 8.0,
    size: int = 3,
    *,
    shot_noise: float = 0.5,
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Find isolated hot and dead pixels and replace them with the local median.

    Each framelet is tested on its own (the median never mixes exposures). A pixel is
    an outlier when all three hold:

    1. its distance to the ``size`` x ``size`` median, ``|x - med|``, exceeds
       ``threshold`` times a robust local noise scale: 1.4826 x the median absolute
       residual in a ``2 * size + 1`` window, floored at half the framelet's global
       value, at ``shot_noise * sqrt(med)`` (Poisson noise and the SQROOT companding
       step, which both grow as the square root of the signal in DN) and at 0.5 DN;
    2. it is a strict local extreme: above the maximum (hot) or below the minimum
       (dead) of its 8 neighbours, so edges and corners of real detail (the limb)
       are left alone;
    3. it stands out from its neighbours by more than the same noise threshold.

    Parameters
    ----------
    stack : numpy.ndarray
        Linear data, (n_exposures, lines, samples) or (lines, samples).
    threshold : float
        Detection threshold in robust standard deviations, in [3, 100]. The default 8
        flags well under 0.1 % of clean pixels on noisy smooth data.
    size : int
        Odd median window size in pixels, 3 to 15.
    shot_noise : float
        Noise floor in units of sqrt(DN), in [0, 10]. The SQROOT companding step is
        0.3-0.7 sqrt(DN), so 0.5 keeps quantisation steps of bright areas from being
        taken for hot pixels. Set 0 for data that is not in decompanded DN.
    return_mask : bool
        Also return the boolean mask of repaired pixels.

    Returns
    -------
    repaired : numpy.ndarray
        float32 copy with outliers replaced by the local median.
    mask : numpy.ndarray
        Only when ``return_mask``: bool array of the input's shape, True where a pixel
        was replaced.

    Raises
    ------
    ValueError
        If ``threshold`` or ``size`` is out of range, or the array is not 2-D or 3-D.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = (100 + rng.normal(0, 2, (1, 32, 40))).astype(np.float32)
    >>> x[0, 10, 20] = 4000.0
    >>> y, hot = repair_hot_pixels(x, return_mask=True)
    >>> bool(hot[0, 10, 20]), int(hot.sum()), bool(abs(y[0, 10, 20] - 100) < 10)
    (True, 1, True)
    """
    if not 3.0 <= float(threshold) <= 100.0:
        raise ValueError(f"threshold must be in [3, 100] robust sigmas, got {threshold}")
    if not 0.0 <= float(shot_noise) <= 10.0:
        raise ValueError(f"shot_noise must be in [0, 10] sqrt(DN), got {shot_noise}")
    if int(size) != size or size < 3 or size > 15 or size % 2 == 0:
        raise ValueError(f"size must be an odd integer from 3 to 15, got {size}")
    size = int(size)
    x = _as_stack(stack)
    squeeze = x.ndim == 2
    if squeeze:
        x = x[None]
    # every framelet is tested on its own: a few exposures at a time bound the
    # dozen full-size temporaries of the test to a few MB each
    out = np.empty(x.shape, np.float32)
    bad = np.empty(x.shape, dtype=bool)
    step = max(1, _CHUNK_VALUES // max(x[0].size, 1))
    for i in range(0, x.shape[0], step):
        out[i : i + step], bad[i : i + step] = _hot_pixels_of(
            x[i : i + step], float(threshold), size, float(shot_noise)
        )
    if squeeze:
        out, bad = out[0], bad[0]
    return (out, bad) if return_mask else out


def _hot_pixels_of(
    x: np.ndarray, threshold: float, size: int, shot_noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`repair_hot_pixels` of a float32 (n, lines, samples) stack: the repaired
    stack and the mask of replaced pixels."""
    finite = bool(np.isfinite(x).all())
    # one mirrored copy serves the 3 x 3 median and the ring extremes
    padded = (
        np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect")  # numpy reflect = scipy mirror
        if finite and min(x.shape[-2:]) >= 3
        else None
    )
    med = _median_filter_lines_samples(x, size, padded=padded)
    absr = x - med  # |residual|; the residual itself is needed at candidates only
    np.abs(absr, out=absr)
    if finite:  # np.median's values, from a bracketed selection (junocam.rank)
        global_mad = np.array([rank.median(a) for a in absr], np.float32)[:, None, None]
    else:
        global_mad = np.median(absr.reshape(absr.shape[0], -1), axis=1)[:, None, None]
    # neighbour extremes (the 3x3 ring without the centre)
    nmax, nmin = _ring_extremes(x, padded=padded)
    up, down = np.subtract(x, nmax, out=nmax), np.subtract(nmin, x, out=nmin)

    def floor_at(at: tuple[np.ndarray, ...]) -> np.ndarray:
        # shot noise and companding quantisation: the MAD is 0 on flat quantised areas
        return np.float32(shot_noise) * np.sqrt(np.maximum(med[at], 1.0))

    def limit_of(
        local: np.ndarray | float, gmad: np.ndarray, fl: np.ndarray | np.floating
    ) -> np.ndarray:
        sigma = 1.4826 * np.maximum(local, 0.5 * gmad)
        return np.float32(threshold) * np.maximum(np.maximum(sigma, fl), np.float32(0.5))

    def outlier(r: np.ndarray, up: np.ndarray, down: np.ndarray, lim: np.ndarray) -> np.ndarray:
        return ((r > lim) & (up > lim)) | ((-r > lim) & (down > lim))

    # The robust noise is the local median of |residual| in a 2 * size + 1 window,
    # floored by the framelet's global one. That median is by far the dearest step,
    # but it only raises the limit: with it at its floor (0) the limit is a lower
    # bound, so only the few pixels that pass the cheap test need the exact value.
    # The cheap test itself runs in two steps: the limit without the shot-noise
    # floor bounds it from below again (one scalar per framelet), and a pixel above
    # its ring's maximum by more than a positive limit is above the 3 x 3 median by
    # more too (the median of nine is at most the second largest), so the ring test
    # alone picks a superset; the full test then runs on those few pixels only.
    if finite:
        low = limit_of(0.0, global_mad, np.float32(0.0))
        pre = np.nonzero((up > low) | (down > low))
        keep = outlier(
            x[pre] - med[pre],
            up[pre],
            down[pre],
            limit_of(0.0, global_mad[pre[0], 0, 0], floor_at(pre)),
        )
        cand = tuple(i[keep] for i in pre)
    else:  # NaN breaks the bound (and the selection): every pixel, full rank filter
        cand = np.nonzero(np.ones(x.shape, dtype=bool))
    nwin = 2 * size + 1
    local = _window_median_at(absr, nwin, cand)
    lim = limit_of(local, global_mad[cand[0], 0, 0], floor_at(cand))
    bad = np.zeros(x.shape, dtype=bool)
    bad[cand] = outlier(x[cand] - med[cand], up[cand], down[cand], lim)
    return np.where(bad, med, x).astype(np.float32, copy=False), bad


def _ring_extremes(
    x: np.ndarray, *, padded: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum and minimum of each pixel's 8 neighbours (lines and samples, mirrored
    edges): ``ndimage.maximum_filter``/``minimum_filter`` with the 3 x 3 ring as
    footprint, exactly, from shifted views (the generic footprint filter is several
    times slower). Non-finite data use the filters. ``padded``: ``x`` already padded
    by one line and sample, mirrored (finite data only)."""
    if padded is None and (min(x.shape[-2:]) < 2 or not np.isfinite(x).all()):
        ring = np.ones((1, 3, 3), dtype=bool)
        ring[0, 1, 1] = False
        return (
            ndimage.maximum_filter(x, footprint=ring, mode="mirror"),
            ndimage.minimum_filter(x, footprint=ring, mode="mirror"),
        )
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect") if padded is None else padded
    lines, samples = x.shape[-2:]
    # the ring is the row of three above, the row of three below and the two side
    # neighbours: extremes of every row of three once (they serve two rings each)
    left, centre, right = p[..., 0:samples], p[..., 1 : samples + 1], p[..., 2 : samples + 2]
    hi3 = np.maximum(left, centre)
    np.maximum(hi3, right, out=hi3)
    lo3 = np.minimum(left, centre)
    np.minimum(lo3, right, out=lo3)
    side_l, side_r = left[:, 1 : lines + 1], right[:, 1 : lines + 1]
    hi = np.maximum(hi3[:, 0:lines], hi3[:, 2 : lines + 2])
    np.maximum(hi, side_l, out=hi)
    np.maximum(hi, side_r, out=hi)
    lo = np.minimum(lo3[:, 0:lines], lo3[:, 2 : lines + 2])
    np.minimum(lo, side_l, out=lo)
    np.minimum(lo, side_r, out=lo)
    return hi, lo


def _median_filter_lines_samples(
    x: np.ndarray, size: int, *, padded: np.ndarray | None = None
) -> np.ndarray:
    """``ndimage.median_filter(x, (1, size, size), mode="mirror")``, exactly.

    For the usual 3 x 3 window, the classic selection network (sort each column of
    three, then the median of the column maxima, medians and minima) on whole-array
    minima and maxima is several times faster than the generic rank filter and picks
    the same element. Non-finite data and other sizes use the rank filter.
    ``padded``: ``x`` already padded by one line and sample, mirrored (finite data).
    """
    if size != 3 or min(x.shape[-2:]) < 3 or (padded is None and not np.isfinite(x).all()):
        return ndimage.median_filter(x, size=(1, size, size), mode="mirror")
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect") if padded is None else padded
    a, b, c = p[:, :-2], p[:, 1:-1], p[:, 2:]
    # the same minima and maxima as the textbook network, written into few buffers
    # (a fresh full-size array per step cost as much as the comparisons)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    mid = np.minimum(hi, c)
    np.maximum(lo, mid, out=mid)
    np.minimum(lo, c, out=lo)
    np.maximum(hi, c, out=hi)
    low = np.maximum(lo[..., :-2], lo[..., 1:-1])
    np.maximum(low, lo[..., 2:], out=low)
    high = np.minimum(hi[..., :-2], hi[..., 1:-1])
    np.minimum(high, hi[..., 2:], out=high)
    del lo, hi
    middle = _median3_into(mid[..., :-2], mid[..., 1:-1], mid[..., 2:])
    del mid
    return _median3_into(low, middle, high)


def _median3_into(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """:func:`_median3` computed in two new buffers instead of four."""
    small = np.minimum(a, b)
    big = np.maximum(a, b)
    np.minimum(big, c, out=big)
    np.maximum(small, big, out=small)
    return small


def _median5(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, e: np.ndarray
) -> np.ndarray:
    """Element-wise median of five arrays: dropping the least and the greatest of
    a..d leaves two values whose median with e is the median of all five."""
    low = np.maximum(np.minimum(a, b), np.minimum(c, d))
    high = np.minimum(np.maximum(a, b), np.maximum(c, d))
    return _median3(e, low, high)


def _median9_along_samples(p: np.ndarray, n: int) -> np.ndarray:
    """Median of each 9 consecutive samples of ``p`` (padded by 4 on both sides),
    ``n`` results per line.

    A window of nine is three consecutive triples, and the median of nine values
    split into three triples is the median of the largest of the triples' minima,
    the median of their medians and the smallest of their maxima (the classic
    3 x 3 identity). Sorting every triple of consecutive samples once serves the
    nine windows that contain it: a third of the comparisons of the 19-exchange
    network, and no copies. Minima and maxima pick elements: the same values.
    """
    m = n + 6  # triples starting at samples 0 .. n + 5
    a, b, c = p[..., 0:m], p[..., 1 : m + 1], p[..., 2 : m + 2]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    mid = np.minimum(hi, c)
    np.maximum(lo, mid, out=mid)
    np.minimum(lo, c, out=lo)
    np.maximum(hi, c, out=hi)
    low = np.maximum(lo[..., 0:n], lo[..., 3 : n + 3])
    np.maximum(low, lo[..., 6 : n + 6], out=low)
    high = np.minimum(hi[..., 0:n], hi[..., 3 : n + 3])
    np.minimum(high, hi[..., 6 : n + 6], out=high)
    del lo, hi
    middle = _median3_into(mid[..., 0:n], mid[..., 3 : n + 3], mid[..., 6 : n + 6])
    del mid
    return _median3_into(low, middle, high)


def _median_along_samples(x: np.ndarray, width: int) -> np.ndarray:
    """``ndimage.median_filter(x, (1, 1, width), mode="nearest")``, exactly.

    For the default widths 5 and 9 a selection network on whole-array minima and
    maxima of the shifted lines (a few exposures at a time, to bound the
    temporaries) picks the same element several times faster than the rank filter;
    from 7 samples on, other widths select the middle of each window with
    ``np.partition`` on a strided view, narrower ones use the rank filter.
    Non-finite data (ordered differently by both) use the rank filter.
    """
    if x.ndim != 3 or x.shape[-1] < width or not np.isfinite(x).all():
        return ndimage.median_filter(x, size=(1, 1, width), mode="nearest")
    h = width // 2
    if width in (5, 9):
        out = np.empty(x.shape, x.dtype)
        n = x.shape[-1]
        step = max(1, _CHUNK_VALUES // max(x[0].size, 1))
        for i in range(0, x.shape[0], step):
            p = np.pad(x[i : i + step], ((0, 0), (0, 0), (h, h)), mode="edge")
            if width == 5:
                out[i : i + step] = _median5(*[p[..., k : k + n] for k in range(5)])
            else:
                out[i : i + step] = _median9_along_samples(p, n)
        return out
    if width < 7:
        return ndimage.median_filter(x, size=(1, 1, width), mode="nearest")
    out = np.empty(x.shape, x.dtype)
    for i in range(x.shape[0]):
        p = np.pad(x[i], ((0, 0), (h, h)), mode="edge")  # numpy edge = scipy nearest
        win = np.lib.stride_tricks.sliding_window_view(p, width, axis=-1)
        out[i] = np.partition(win, h, axis=-1)[..., h]
    return out


def _line_chunks(x: np.ndarray) -> list[slice]:
    """Slices of the lines of an (n, lines, samples) stack, about 2 MB of it each."""
    step = max(1, _CHUNK_VALUES // max(x.shape[0] * x.shape[2], 1))
    return [slice(i, min(i + step, x.shape[1])) for i in range(0, x.shape[1], step)]


def _nanmedian_over_exposures(x: np.ndarray) -> np.ndarray:
    """``np.nanmedian(x, axis=0)`` of an (n, m) array with at least one number per
    column: sorting puts NaN last, so the median of the first ``count`` values is
    picked directly (numpy's nanmedian goes through masked arrays for short axes,
    several times slower). Even counts average the middle two, as numpy does."""
    s = np.sort(x, axis=0)
    count = np.count_nonzero(~np.isnan(s), axis=0)
    low = np.take_along_axis(s, ((count - 1) // 2)[None], axis=0)[0]
    high = np.take_along_axis(s, (count // 2)[None], axis=0)[0]
    out = low + high
    out /= 2
    return out


def _median_over_exposures(x: np.ndarray) -> np.ndarray:
    """``np.median(x, axis=0)`` of a finite stack, exactly: sorting the few exposures
    of every pixel is about twice as fast as numpy's partition across the first axis."""
    if not np.isfinite(x).all():
        return np.median(x, axis=0)
    s = np.sort(x, axis=0)
    n = x.shape[0]
    if n % 2:
        return s[n // 2]
    return np.mean(s[n // 2 - 1 : n // 2 + 1], axis=0)


def _median(x: np.ndarray) -> np.floating:
    """``np.median(x)``, exactly; by :func:`junocam.rank.median` when ``x`` is finite."""
    if x.size and np.isfinite(x).all():
        return x.dtype.type(rank.median(x))
    return np.median(x)


def _percentile(x: np.ndarray, q: list[float]) -> np.ndarray:
    """``np.percentile(x, q)``, exactly; by :func:`junocam.rank.percentile` when ``x``
    is finite."""
    if x.size and np.isfinite(x).all():
        return rank.percentile(x, q)
    return np.percentile(x, q)


def _median3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _window_median_at(x: np.ndarray, width: int, at: tuple[np.ndarray, ...]) -> np.ndarray:
    """``ndimage.median_filter(x, (1, width, width), mode="mirror")[at]``, computed only
    at the (exposure, line, sample) indices ``at``."""
    if at[0].size == 0:
        return np.zeros(0, x.dtype)
    h = width // 2
    if min(x.shape[-2:]) <= h or not np.isfinite(x[at]).all():
        return ndimage.median_filter(x, size=(1, width, width), mode="mirror")[at]
    # the windows' mirrored indices (numpy's "reflect", scipy's "mirror") gathered
    # directly: no padded copy of the whole stack for a few windows
    d = np.arange(-h, h + 1)

    def mirrored(i: np.ndarray, n: int) -> np.ndarray:
        j = np.abs(i[:, None] + d)
        return np.where(j > n - 1, 2 * (n - 1) - j, j)

    rows = mirrored(at[1], x.shape[1])
    cols = mirrored(at[2], x.shape[2])
    vals = x[at[0][:, None, None], rows[:, :, None], cols[:, None, :]].reshape(at[0].size, -1)
    return np.partition(vals, vals.shape[1] // 2, axis=1)[:, vals.shape[1] // 2]


# ----------------------------------------------------------------------- dark, flat


def _exposure_stack(stack: np.ndarray, width: int) -> np.ndarray:
    """float32 (n_exposures, lines, samples) stack for the across-exposure defect stages,
    after checking its shape and the odd across-line median ``width``."""
    x = np.asarray(stack, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"expected a (n_exposures, lines, samples) stack, got shape {x.shape}")
    if width < 3 or width % 2 == 0:
        raise ValueError(f"width must be an odd number >= 3, got {width}")
    return x


def remove_fixed_pattern(
    stack: np.ndarray,
    threshold: float = 5.0,
    width: int = 5,
    *,
    return_pattern: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Remove fixed-pattern defects (hot pixels, TDI hot streaks, warm columns).

    Hot pixels sit at fixed places on the CCD, and with time delay integration a hot
    pixel becomes a streak along the line direction that is as long as the TDI
    stage count. The scene, in contrast, moves by about 116 lines from one exposure
    to the next. So the median over exposures of each framelet's small-scale
    across-line residual, ``x - median(x over width samples of the same line)``, is
    the fixed pattern; where it stands out from the noise by more than
    ``threshold`` robust sigmas, it is subtracted from every exposure.

    Parameters
    ----------
    stack : numpy.ndarray
        float (n_exposures, lines, samples) linear DN of one band. Needs at least
        three exposures; fewer are returned unchanged.
    threshold : float
        Robust sigmas (of the pattern itself) above which a pixel is corrected.
    width : int
        Odd number of samples of the across-line median.
    return_pattern : bool
        Also return the subtracted pattern.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        float32 corrected stack (and the (lines, samples) pattern).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> stack = rng.normal(100, 2, (6, 128, 200)).astype(np.float32)
    >>> stack[:, 40:72, 50] += 300          # a hot TDI streak, the same in every exposure
    >>> out = remove_fixed_pattern(stack)
    >>> bool(abs(float(out[:, 40:72, 50].mean()) - 100) < 3)
    True
    """
    x = _exposure_stack(stack, width)
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    if x.shape[0] < 3:
        out = x.copy()
        return (out, np.zeros(x.shape[1:], np.float32)) if return_pattern else out
    # lines are independent here: a band of them at a time bounds the temporaries
    pattern = np.empty(x.shape[1:], np.float32)
    for ls in _line_chunks(x):
        resid = _median_along_samples(x[:, ls], width)
        np.subtract(x[:, ls], resid, out=resid)
        pattern[ls] = _median_over_exposures(resid)
    mad = float(_median(np.abs(pattern - _median(pattern))))
    # quantised data often give the pattern a zero MAD: use the larger of the MAD and
    # the standard deviation of the central 99.8% of the pattern (defects are rarer)
    lo, hi = _percentile(pattern, [0.1, 99.9])
    core = pattern[(pattern >= lo) & (pattern <= hi)]
    sigma = max(1.4826 * mad, float(core.std()) if core.size else 0.0, 1e-6)
    keep = np.abs(pattern) > threshold * sigma
    pattern = np.where(keep, pattern, 0.0).astype(np.float32)
    out = x - pattern[None]
    return (out, pattern) if return_pattern else out


def correct_blemishes(
    stack: np.ndarray,
    threshold: float = 5.0,
    min_depth: float = 0.03,
    width: int = 9,
    *,
    return_gain: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Correct fixed multiplicative defects (dust shadows, cold pixels) from the frame.

    Blemishes scale the signal at fixed CCD places, so they show up where the scene
    is bright and hide in dark sky. For every exposure the ratio of each pixel to the
    across-line median of ``width`` samples is formed where the scene is bright; its
    median over exposures (the scene moves by about 116 lines per exposure) is the
    pixel's relative gain. Gains that differ from 1 by more than ``threshold`` robust
    sigmas and by at least ``min_depth`` are divided out; pixels that have lost most
    of their response (gain < 0.2) are replaced by the across-line median instead.

    Parameters
    ----------
    stack : numpy.ndarray
        float (n_exposures, lines, samples) linear DN of one band; needs at least
        three exposures (fewer are returned unchanged).
    threshold : float
        Robust sigmas of the gain map.
    min_depth : float
        Smallest relative deviation corrected (0.03 = 3%).
    width : int
        Odd number of samples of the across-line median.
    return_gain : bool
        Also return the (lines, samples) gain map applied (1 where nothing was done).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> stack = rng.normal(500, 5, (6, 64, 300)).astype(np.float32)
    >>> stack[:, 30:33, 100:103] *= 0.6      # a dust shadow, the same in every exposure
    >>> out = correct_blemishes(stack)
    >>> bool(abs(float(out[:, 30:33, 100:103].mean()) - 500) < 10)
    True
    """
    x = _exposure_stack(stack, width)
    if threshold <= 0 or not (0.0 < min_depth < 1.0):
        raise ValueError("threshold must be positive and min_depth in (0, 1)")
    ones = np.ones(x.shape[1:], np.float32)
    if x.shape[0] < 3:
        return (x.copy(), ones) if return_gain else x.copy()
    smooth = _median_along_samples(x, width)
    level = 0.2 * float(_percentile(smooth, [99.0])[0])
    cut = max(level, 1e-3)
    enough = np.zeros(x.shape[1:], dtype=bool)
    gain = np.ones(x.shape[1:], np.float32)
    for ls in _line_chunks(x):  # lines are independent: a band of them at a time
        bright = smooth[:, ls] > cut
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(bright, x[:, ls] / np.where(bright, smooth[:, ls], 1.0), np.nan)
        ok = np.sum(bright, axis=0) >= 3
        enough[ls] = ok
        gain[ls][ok] = _nanmedian_over_exposures(ratio[:, ok])
    if not enough.any():
        return (x.copy(), ones) if return_gain else x.copy()
    dev = gain[enough] - 1.0
    sigma = max(1.4826 * float(_median(np.abs(dev - _median(dev)))), 1e-6)
    flagged = enough & (np.abs(gain - 1.0) > max(threshold * sigma, min_depth))
    gain = np.where(flagged, gain, 1.0).astype(np.float32)
    dead = flagged & (gain < 0.2)
    # the smoothed stack is needed at the dead pixels only: freed before the copy
    smooth_dead = smooth[:, dead]
    del smooth
    # only the flagged pixels change: a copy, corrected at those places
    out = x.copy()
    fix = flagged & ~dead
    out[:, fix] = x[:, fix] / np.maximum(gain, 0.2)[fix]
    out[:, dead] = smooth_dead
    return (out, gain) if return_gain else out


def subtract_dark(
    stack: np.ndarray, dark: np.ndarray, scale: float = 1.0, *, clip: bool = False
) -> np.ndarray:
    """Subtract a dark frame from every framelet.

    Parameters
    ----------
    stack : numpy.ndarray
        Linear data (n_exposures, lines, samples) or (lines, samples), in DN.
    dark : numpy.ndarray
        Dark image of one framelet's shape (lines, samples), in the same DN units
        (the community darks are 12-bit DN, a few DN per pixel).
    scale : float
        Factor applied to the dark first, in [0, 100] (for example the ratio of
        exposure times when dark current dominates); 0 leaves the data unchanged.
    clip : bool
        Clip negative results to 0. Off by default, so noise statistics stay unbiased.

    Returns
    -------
    numpy.ndarray
        float32 ``stack - scale * dark``.

    Raises
    ------
    ValueError
        If the dark's shape differs from one framelet, or ``scale`` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.full((2, 4, 5), 10, np.float32)
    >>> subtract_dark(x, np.full((4, 5), 3.0))[1, 0, 0]
    np.float32(7.0)
    """
    if not 0.0 <= float(scale) <= 100.0:
        raise ValueError(f"dark scale must be in [0, 100], got {scale}")
    x = _as_stack(stack)
    d = _check_frame_shape(x, dark, "dark").astype(np.float32)
    out = x - np.float32(scale) * d
    if clip:
        np.maximum(out, 0.0, out=out)
    return out.astype(np.float32, copy=False)


def normalise_flat(flat: np.ndarray, min_value: float = 0.05) -> np.ndarray:
    """Normalise a flat field to mean 1 over its photoactive area.

    When the flat is 1648 samples wide, only the photoactive samples 23..1630 are
    used for the mean, and the dark and padding samples are set to 1 (a flat never
    applies to them). Values below ``min_value`` after normalisation, and non-finite
    values, are set to 1 (left uncorrected) so that dividing never blows up; mask
    such pixels with :func:`inpaint_mask` instead.

    Parameters
    ----------
    flat : numpy.ndarray
        2-D flat image in any units (the community flats are uint16).
    min_value : float
        Smallest accepted normalised value, in (0, 1).

    Returns
    -------
    numpy.ndarray
        float32 flat with mean 1 over the photoactive area.

    Raises
    ------
    ValueError
        If the flat is not 2-D, has no positive finite values, or ``min_value`` is
        out of range.

    Examples
    --------
    >>> import numpy as np
    >>> f = normalise_flat(np.array([[2.0, 4.0], [0.0, 6.0]]))
    >>> f.tolist()
    [[0.5, 1.0], [1.0, 1.5]]
    """
    if not 0.0 < float(min_value) < 1.0:
        raise ValueError(f"min_value must be in (0, 1), got {min_value}")
    f = np.asarray(flat, dtype=np.float32)
    if f.ndim != 2:
        raise ValueError(f"flat must be 2-D (lines, samples), got shape {f.shape}")
    area = f[:, PHOTOACTIVE] if f.shape[1] == LINE_SAMPLES else f
    good = np.isfinite(area) & (area > 0)
    if not good.any():
        raise ValueError("flat has no positive finite values")
    # mean over the usable pixels; zeros are defects, not part of the response
    norm = f / np.float32(area[good].mean())
    ok = np.isfinite(norm) & (norm >= min_value)
    norm = np.where(ok, norm, np.float32(1.0))
    if f.shape[1] == LINE_SAMPLES:
        norm[:, :DARK_SAMPLES] = 1.0
        norm[:, PHOTOACTIVE.stop :] = 1.0
    return norm.astype(np.float32, copy=False)


def apply_flat(stack: np.ndarray, flat: np.ndarray, min_value: float = 0.05) -> np.ndarray:
    """Divide every framelet by a flat field (normalised with :func:`normalise_flat`).

    Parameters
    ----------
    stack : numpy.ndarray
        Linear data (n_exposures, lines, samples) or (lines, samples); apply after
        dark or black-level subtraction.
    flat : numpy.ndarray
        Flat of one framelet's shape, any units; a calibration flat or
        :func:`radial_flat_model`.
    min_value : float
        See :func:`normalise_flat`; pixels whose flat is below it are not divided.

    Returns
    -------
    numpy.ndarray
        float32 flat-fielded data.

    Raises
    ------
    ValueError
        If the flat's shape differs from one framelet.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[1.0, 2.0, 3.0]]], np.float32)
    >>> apply_flat(x, np.array([[1.0, 2.0, 3.0]])).tolist()
    [[[2.0, 2.0, 2.0]]]
    """
    x = _as_stack(stack)
    f = normalise_flat(_check_frame_shape(x, flat, "flat"), min_value)
    return (x / f).astype(np.float32, copy=False)


def radial_flat_model(
    lines: int = FRAMELET_LINES,
    samples: int = LINE_SAMPLES,
    band: Filter | str = Filter.GREEN,
    strength: float = DEFAULT_VIGNETTING_STRENGTH,
) -> np.ndarray:
    """Built-in smooth vignetting model: the default flat when no calibration is given.

    The relative response is ``cos(theta) ** strength`` with ``theta`` the off-axis
    angle of the pixel, ``tan(theta) = r / f``; ``r`` is the distance to the optical
    centre (sample 814.21, band-specific line, CAMERA.md) and ``f`` = 1480.6 pixels.
    ``strength`` 4 is the classic cos^4 law of an ideal lens; the default 2.3 is
    fitted to the community flats (see :data:`DEFAULT_VIGNETTING_STRENGTH`). The
    result is normalised to mean 1 over the photoactive area (:func:`normalise_flat`).

    For framelets that are not 128 x 1648 (2x2 summed products are 64 lines), pixel
    coordinates are scaled so the model covers the same area of the CCD.

    Parameters
    ----------
    lines, samples : int
        Framelet shape, each 1 to 4096.
    band : Filter or str
        Band whose framelet the model describes (sets the optical centre line).
    strength : float
        Exponent, in [0, 8]; 0 gives a flat of ones (no correction).

    Returns
    -------
    numpy.ndarray
        float32 (lines, samples), largest near the optical axis.

    Raises
    ------
    ValueError
        If a parameter is out of range.

    Examples
    --------
    >>> f = radial_flat_model(band="green")
    >>> f.shape, f.dtype
    ((128, 1648), dtype('float32'))
    >>> bool(f[0, 814] > f[0, 30] and f[0, 814] > f[127, 814])
    True
    >>> float(radial_flat_model(4, 8, "red", strength=0).max())
    1.0
    """
    if not 0.0 <= float(strength) <= 8.0:
        raise ValueError(f"vignetting strength must be in [0, 8], got {strength}")
    for name, n in (("lines", lines), ("samples", samples)):
        if int(n) != n or not 1 <= n <= 4096:
            raise ValueError(f"{name} must be an integer from 1 to 4096, got {n}")
    try:
        f_band = Filter.parse(band)
    except JunoCamError as err:
        raise ValueError(str(err)) from None
    sy = FRAMELET_LINES / lines
    sx = LINE_SAMPLES / samples
    y = (np.arange(lines, dtype=np.float32) + 0.5) * sy - 0.5
    x = (np.arange(samples, dtype=np.float32) + 0.5) * sx - 0.5
    dy = y[:, None] - np.float32(OPTICAL_CENTRE_LINE[f_band])
    dx = x[None, :] - np.float32(OPTICAL_CENTRE_SAMPLE)
    r2 = (dx * dx + dy * dy) / np.float32(FOCAL_LENGTH_PX**2)
    # cos(theta) = 1 / sqrt(1 + tan^2 theta)
    model = (1.0 + r2) ** np.float32(-0.5 * float(strength))
    if samples == LINE_SAMPLES:
        return normalise_flat(model)
    return (model / model.mean()).astype(np.float32)


# ---------------------------------------------------------------------- in-painting


def inpaint_mask(stack: np.ndarray, mask: np.ndarray, radius: float = 1.5) -> np.ndarray:
    """Fill masked (bad) pixels from their good neighbours by normalised convolution.

    Each bad pixel becomes the Gaussian-weighted mean of the good pixels around it,
    within its own framelet. Holes wider than the kernel are filled by repeating
    with a kernel twice as wide (up to 6 times), so every pixel with any good pixel
    in its framelet gets a value. Good pixels are returned unchanged.

    Parameters
    ----------
    stack : numpy.ndarray
        Linear data (n_exposures, lines, samples) or (lines, samples).
    mask : numpy.ndarray
        Boolean (or 0/non-zero) bad-pixel mask, True where a pixel must be filled;
        one framelet's shape (applied to every exposure) or the stack's shape.
    radius : float
        Gaussian sigma of the first pass in pixels, in [0.5, 50].

    Returns
    -------
    numpy.ndarray
        float32 copy with bad pixels filled.

    Raises
    ------
    ValueError
        If the mask's shape fits neither a framelet nor the stack, or ``radius`` is
        out of range.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.tile(np.arange(12, dtype=np.float32), (12, 1))
    >>> m = np.zeros((12, 12), bool); m[6, 5] = True
    >>> x[6, 5] = 999.0
    >>> round(float(inpaint_mask(x, m)[6, 5]), 3)
    5.0
    """
    if not 0.5 <= float(radius) <= 50.0:
        raise ValueError(f"inpaint radius must be in [0.5, 50] pixels, got {radius}")
    x = _as_stack(stack)
    m = np.asarray(mask)
    if m.shape != x.shape and m.shape != x.shape[-2:]:
        raise ValueError(
            f"mask has shape {m.shape}; expected one framelet {x.shape[-2:]} or the "
            f"stack's shape {x.shape}"
        )
    bad = np.broadcast_to(m.astype(bool), x.shape)
    if not bad.any():
        return x.copy()
    good = (~bad).astype(np.float32)
    vals = np.where(bad, np.float32(0.0), x)
    out = x.copy()
    todo = bad.copy()
    sigma = float(radius)
    for _ in range(7):
        s = (0.0, sigma, sigma) if x.ndim == 3 else (sigma, sigma)
        num = ndimage.gaussian_filter(vals, s, mode="mirror", truncate=3.0)
        den = ndimage.gaussian_filter(good, s, mode="mirror", truncate=3.0)
        ok = todo & (den > 1e-3)
        out[ok] = num[ok] / den[ok]
        todo &= ~ok
        if not todo.any():
            break
        sigma *= 2.0
    # anything left (a framelet with no good pixel at all) keeps its value
    return out


# ----------------------------------------------------------------- black level, TDI


def black_level_from_dark_columns(stack: np.ndarray, window: int = 1) -> np.ndarray:
    """Subtract each line's black level, measured in its 23 dark samples.

    The level of a line is the median of its dark samples (0..22). With ``window``
    > 1 it is the median over that many neighbouring lines of the same framelet
    (running median along lines), which averages down the read noise of 23 samples.

    Parameters
    ----------
    stack : numpy.ndarray
        Linear data with full lines, (n_exposures, lines, samples) or
        (lines, samples); ``samples`` must include the dark samples (> 23).
    window : int
        Odd number of lines pooled per level, 1 to 127. 1 is a pure per-line level.

    Returns
    -------
    numpy.ndarray
        float32 data with the level subtracted from every sample of each line
        (dark samples included, so they end up near 0).

    Raises
    ------
    ValueError
        If the lines have no dark samples or ``window`` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.full((1, 4, 1648), 50.0, np.float32)
    >>> x[..., :23] = 5.0
    >>> y = black_level_from_dark_columns(x)
    >>> float(y[0, 0, 0]), float(y[0, 2, 800])
    (0.0, 45.0)
    """
    if int(window) != window or not 1 <= window <= 127 or window % 2 == 0:
        raise ValueError(f"window must be an odd integer from 1 to 127 lines, got {window}")
    x = _as_stack(stack)
    if x.shape[-1] <= DARK_SAMPLES:
        raise ValueError(
            f"lines have {x.shape[-1]} samples; need the {DARK_SAMPLES} dark samples "
            "plus photoactive ones (use the uncropped 1648-sample framelets)"
        )
    level = np.median(x[..., :DARK_SAMPLES], axis=-1)  # (..., lines)
    if window > 1:
        size = (1, int(window)) if level.ndim == 2 else (int(window),)
        level = ndimage.median_filter(level, size=size, mode="nearest")
    return (x - level[..., None]).astype(np.float32, copy=False)


def normalise_exposure(
    x: np.ndarray,
    exposure_s: float | None = None,
    tdi: int | None = None,
    reference_s: float = REFERENCE_EXPOSURE_S,
) -> np.ndarray:
    """Scale linear data to a common exposure so frames of different exposure compare.

    The signal of a TDI exposure grows linearly with the number of TDI stages, and
    EXPOSURE_DURATION = TDI x 3.2 ms (CAMERA.md). The data are multiplied by
    ``reference_s / exposure``. The reference is ONE TDI stage, 3.2 ms: the result
    is DN per 3.2 ms of integration, the signal a TDI-1 frame would record. Apply
    after dark / black-level subtraction (an offset does not scale).

    Parameters
    ----------
    x : numpy.ndarray
        Linear data of any shape.
    exposure_s : float, optional
        EXPOSURE_DURATION in seconds, in (0, 60].
    tdi : int, optional
        TDI stage count, 1 to 1000; used when ``exposure_s`` is not given
        (exposure = tdi x 3.2 ms). When both are given they must agree within 2 %.
    reference_s : float
        Reference exposure in seconds, in (0, 60]; default 0.0032.

    Returns
    -------
    numpy.ndarray
        float32 scaled data.

    Raises
    ------
    ValueError
        If neither exposure nor TDI is given, a value is out of range, or the two
        disagree.

    Examples
    --------
    >>> import numpy as np
    >>> normalise_exposure(np.array([96.0]), exposure_s=0.0192).tolist()
    [16.0]
    >>> normalise_exposure(np.array([96.0]), tdi=6).tolist()
    [16.0]
    """
    if not 0.0 < float(reference_s) <= 60.0:
        raise ValueError(f"reference_s must be in (0, 60] s, got {reference_s}")
    from_tdi = None
    if tdi is not None:
        if int(tdi) != tdi or not 1 <= tdi <= 1000:
            raise ValueError(f"tdi must be an integer from 1 to 1000, got {tdi}")
        from_tdi = int(tdi) * TDI_STAGE_S
    if exposure_s is None:
        if from_tdi is None:
            raise ValueError("give exposure_s (seconds) or tdi (stage count)")
        exposure = from_tdi
    else:
        if not 0.0 < float(exposure_s) <= 60.0:
            raise ValueError(f"exposure_s must be in (0, 60] s, got {exposure_s}")
        exposure = float(exposure_s)
        if from_tdi is not None and abs(exposure - from_tdi) > 0.02 * from_tdi:
            raise ValueError(
                f"exposure_s={exposure_s} s disagrees with tdi={tdi} "
                f"(tdi x 3.2 ms = {from_tdi:.4f} s)"
            )
    a = np.asarray(x, dtype=np.float32)
    return (a * np.float32(float(reference_s) / exposure)).astype(np.float32, copy=False)


def denoise(x: np.ndarray, strength: float = 0.0, method: str = "tv") -> np.ndarray:
    """Optional noise reduction of linear data, per framelet or per image.

    The data are divided by a robust scale (their 99.5th percentile of absolute
    values) so that ``strength`` means the same on any DN range, then:

    - ``"tv"``: total-variation denoising (skimage ``denoise_tv_chambolle``) with
      weight ``strength``; edges are kept, flat noise is smoothed.
    - ``"gaussian"``: a Gaussian blur with sigma ``strength`` pixels.

    A 3-D input is taken as a stack of framelets (axis 0) and each is denoised on its
    own; never across exposures.

    Parameters
    ----------
    x : numpy.ndarray
        Linear data (lines, samples) or (n_exposures, lines, samples).
    strength : float
        0 returns the data unchanged. For ``"tv"`` in [0, 1] (0.02-0.1 is typical),
        for ``"gaussian"`` in [0, 10] pixels.
    method : str
        ``"tv"`` or ``"gaussian"``.

    Returns
    -------
    numpy.ndarray
        float32 denoised copy.

    Raises
    ------
    ValueError
        For an unknown method or out-of-range strength.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> noisy = (100 + rng.normal(0, 5, (64, 64))).astype(np.float32)
    >>> bool(denoise(noisy, 0.1).std() < noisy.std() / 2)
    True
    >>> bool(np.array_equal(denoise(noisy, 0.0), noisy))
    True
    """
    limits = {"tv": 1.0, "gaussian": 10.0}
    if method not in limits:
        raise ValueError(f"unknown denoise method {method!r} (known: tv, gaussian)")
    if not 0.0 <= float(strength) <= limits[method]:
        raise ValueError(
            f"denoise strength for {method!r} must be in [0, {limits[method]:g}], got {strength}"
        )
    a = _as_stack(x, "x")
    if strength == 0:
        return a.copy()
    if method == "gaussian":
        s = (0.0, strength, strength) if a.ndim == 3 else (strength, strength)
        return ndimage.gaussian_filter(a, s, mode="mirror").astype(np.float32)
    from skimage.restoration import denoise_tv_chambolle

    scale = float(np.percentile(np.abs(a), 99.5)) or 1.0
    frames = a[None] if a.ndim == 2 else a
    out = np.empty_like(frames)
    for i, fr in enumerate(frames):  # one call per framelet, not per pixel
        out[i] = denoise_tv_chambolle(fr / np.float32(scale), weight=float(strength)) * scale
    return out[0] if a.ndim == 2 else out


# ---------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Calibration:
    """Per-band calibration images, each of one framelet's shape (lines, samples).

    Attributes
    ----------
    dark : Mapping[Filter, numpy.ndarray]
        float32 dark images in DN.
    flat : Mapping[Filter, numpy.ndarray]
        float32 flat fields as stored (normalise with :func:`normalise_flat`, which
        :func:`apply_flat` does).
    mask : Mapping[Filter, numpy.ndarray]
        bool bad-pixel masks, True where a pixel must be in-painted.
    files : Mapping[str, str]
        ``"<kind>_<band>"`` (e.g. ``"flat_blue"``) to the path that was read.
    source : str or None
        The directory the images were loaded from.

    All arrays are read-only. Missing entries simply are not in the mappings.

    Examples
    --------
    >>> import numpy as np
    >>> cal = Calibration(flat={Filter.RED: np.ones((128, 1648), np.float32)})
    >>> sorted(b.value for b in cal.flat), cal.has("flat", "red"), cal.has("dark", "red")
    (['RED'], True, False)
    """

    dark: Mapping[Filter, np.ndarray] = field(default_factory=dict)
    flat: Mapping[Filter, np.ndarray] = field(default_factory=dict)
    mask: Mapping[Filter, np.ndarray] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        for name in ("dark", "flat", "mask", "files"):
            value = getattr(self, name)
            if name != "files":
                frozen = {}
                for band, arr in value.items():
                    a = np.array(arr, dtype=bool if name == "mask" else np.float32)
                    a.flags.writeable = False
                    frozen[Filter.parse(band)] = a
                value = frozen
            object.__setattr__(self, name, MappingProxyType(dict(value)))

    def has(self, kind: str, band: Filter | str) -> bool:
        """Whether a ``kind`` ("dark", "flat" or "mask") image exists for ``band``.

        Examples
        --------
        >>> Calibration().has("mask", Filter.BLUE)
        False
        """
        if kind not in ("dark", "flat", "mask"):
            raise ValueError(f"kind must be dark, flat or mask, got {kind!r}")
        return Filter.parse(band) in getattr(self, kind)


_IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".npy")
_BAND_WORDS = {
    "methane": Filter.METHANE,
    "ch4": Filter.METHANE,
    "blue": Filter.BLUE,
    "green": Filter.GREEN,
    "red": Filter.RED,
}
#: kmgill's junocam_processing numbers its flats 0, 1, 2 = blue, green, red
#: (its src/calib/config.toml, SOURCES.md).
_KMGILL_FLAT_INDEX = {"0": Filter.BLUE, "1": Filter.GREEN, "2": Filter.RED}


def _classify(name: str) -> tuple[str, Filter] | None:
    """(kind, band) for a calibration file name, or None when it is not one."""
    p = Path(name)
    if p.suffix.lower() not in _IMAGE_SUFFIXES:
        return None
    tokens = [t for t in re.split(r"[_\-\s.]+", p.stem.lower()) if t]
    if not tokens:
        return None
    if "flat" in tokens or "flatfield" in tokens or "flatfield" in p.stem.lower():
        kind = "flat"
    elif "dark" in tokens:
        kind = "dark"
    elif "mask" in tokens or "badpixels" in tokens:
        kind = "mask"
    else:
        return None
    last = tokens[-1]
    if last in _BAND_WORDS:
        return kind, _BAND_WORDS[last]
    if kind == "flat" and last in _KMGILL_FLAT_INDEX and "flatfield" in tokens:
        return kind, _KMGILL_FLAT_INDEX[last]
    return None


def _read_image(path: Path) -> np.ndarray:
    """Read a 2-D calibration image, or raise FormatError naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # imageio's plugin-probing notices on bad files
            if path.suffix.lower() == ".npy":
                arr = np.load(path, allow_pickle=False)
            elif path.suffix.lower() in (".tif", ".tiff"):
                import tifffile

                arr = tifffile.imread(path)
            else:
                import imageio.v3 as iio

                arr = iio.imread(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is a format problem
        raise FormatError(f"cannot read calibration image: {err}", path=path) from err
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] > 4:
        arr = arr[..., 0]  # an RGB(A) export of a grey image: take one channel
    if arr.ndim != 2:
        raise FormatError(
            f"calibration image must be 2-D (lines, samples), got shape {arr.shape}",
            path=path,
        )
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise FormatError(f"calibration image has non-numeric type {arr.dtype}", path=path)
    return arr


def load_calibration(directory: str | os.PathLike[str]) -> Calibration:
    """Load per-band darks, flats and bad-pixel masks from a directory.

    File names are recognised case-insensitively; other files are ignored.

    Generic naming (documented for users' own calibration sets)::

        flat_<band>.<ext>   dark_<band>.<ext>   mask_<band>.<ext>

    where ``<band>`` is methane (or ch4), blue, green or red and ``<ext>`` is png,
    tif, tiff or npy. Any prefix and extra ``_``-separated words are allowed as long
    as the kind word (flat / flatfield, dark, mask) is present and the band is the
    last word, e.g. ``my_dark_pj50_red.tif``.

    Kevin M. Gill's junocam_processing names are recognised too:
    ``junocam_rgb_flatfield_v3_{0,1,2}.png`` (0/1/2 = blue/green/red),
    ``junocam_dark_*_{blue,green,red}.tif`` and
    ``junocam_inpaint_mask_*_{blue,green,red}.png``.

    Darks must be in decompanded DN (12-bit scale). Masks are True where the pixel
    value is non-zero (bad pixel). Flats are kept as stored.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding the images.

    Returns
    -------
    Calibration

    Raises
    ------
    FormatError
        If the directory does not exist or holds no recognised file (naming the
        directory), if a file cannot be read or is not a 2-D numeric image, if two
        files give the same kind and band, or if images of different shapes are
        mixed (naming the file).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.save(f"{d}/flat_red.npy", np.ones((128, 1648)))
    ...     cal = load_calibration(d)
    >>> cal.has("flat", "red"), cal.flat[Filter.RED].shape
    (True, (128, 1648))
    """
    root = Path(directory)
    if not root.is_dir():
        raise FormatError("calibration directory does not exist", path=root)
    found: dict[tuple[str, Filter], Path] = {}
    for path in sorted(root.iterdir()):
        if not path.is_file():
            continue
        key = _classify(path.name)
        if key is None:
            continue
        if key in found:
            raise FormatError(
                f"two {key[0]} images for band {key[1].value.lower()}: "
                f"{found[key].name} and {path.name}",
                path=path,
            )
        found[key] = path
    if not found:
        raise FormatError(
            "no calibration images recognised (expected names like flat_red.png, "
            "dark_blue.tif, mask_green.png, or kmgill's junocam_rgb_flatfield_v3_0.png)",
            path=root,
        )
    images: dict[str, dict[Filter, np.ndarray]] = {"dark": {}, "flat": {}, "mask": {}}
    files: dict[str, str] = {}
    first: tuple[tuple[int, ...], Path] | None = None
    for (kind, band), path in sorted(found.items(), key=lambda kv: str(kv[1])):
        arr = _read_image(path)
        if first is None:
            first = (arr.shape, path)
        elif arr.shape != first[0]:
            raise FormatError(
                f"shape {arr.shape} differs from {first[0]} of {first[1].name}; "
                "all calibration images must have one framelet's shape",
                path=path,
            )
        if kind == "mask":
            images[kind][band] = arr != 0
        else:
            a = arr.astype(np.float32)
            if not np.isfinite(a).all():
                raise FormatError(f"{kind} image has non-finite values", path=path)
            images[kind][band] = a
        files[f"{kind}_{band.value.lower()}"] = str(path)
    return Calibration(
        dark=images["dark"],
        flat=images["flat"],
        mask=images["mask"],
        files=files,
        source=str(root),
    )


def line_gain_profile(
    stack: np.ndarray, min_level: float = 0.2, smooth_lines: float = 0.0
) -> np.ndarray:
    """Relative gain of each framelet line, measured from the frame itself.

    The framelets of one band come from one stripe of the CCD; a response that
    varies along the stripe's lines (its edges a few percent darker, residual
    vignetting the flat does not remove) repeats in every framelet and shows as
    horizontal bands at the framelet joins, worst in single-band (methane) frames
    where nothing else covers the joins. Every framelet sees a different part of
    the scene, so the median over exposures and samples of each line's ratio to its
    column's median over the framelet's lines leaves the stripe's own profile.
    Only pixels brighter than ``min_level`` times the frame's 99th percentile count
    (dark sky carries no gain information).

    Parameters
    ----------
    stack : numpy.ndarray
        (n_exposures, lines, samples) linear framelets of one band.
    min_level : float
        Brightness cut, as a fraction of the 99th percentile.
    smooth_lines : float
        Gaussian smoothing of the profile along lines (0: none).

    Returns
    -------
    numpy.ndarray
        float32 (lines,) with median 1; ones when too few pixels are bright.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.uniform(50, 100, (12, 1, 200)) * np.ones((12, 16, 1))
    >>> gain = np.linspace(0.9, 1.1, 16)[None, :, None]
    >>> prof = line_gain_profile(scene * gain)
    >>> bool(np.allclose(prof / prof.mean(), (gain / gain.mean()).ravel(), atol=0.01))
    True
    """
    s = _as_stack(stack)
    n, lines, samples = s.shape
    top = float(np.percentile(s, 99)) if s.size else 0.0
    if top <= 0:
        return np.ones(lines, np.float32)
    col = np.median(s, axis=1, keepdims=True)  # each exposure's column level
    ratio = s / np.maximum(col, 1e-6)
    # bright on both counts, and near its column's level: a column that crosses the
    # limb or a cloud edge says something about the scene, not about the camera
    good = (col > min_level * top) & (s > min_level * top) & (np.abs(ratio - 1.0) < 0.25)
    ratio = np.where(good, ratio, np.nan)
    if int(np.isfinite(ratio).sum()) < 50 * lines:
        return np.ones(lines, np.float32)
    prof = np.nanmedian(ratio.transpose(1, 0, 2).reshape(lines, -1), axis=1)
    prof = np.where(np.isfinite(prof), prof, 1.0)
    if smooth_lines > 0:
        prof = ndimage.gaussian_filter1d(prof, smooth_lines, mode="nearest")
    return (prof / np.median(prof)).astype(np.float32)


def correct_line_gain(
    stack: np.ndarray, min_level: float = 0.2, smooth_lines: float = 0.0, max_change: float = 0.3
) -> np.ndarray:
    """Divide every framelet by the band's line-gain profile (:func:`line_gain_profile`).

    Corrections beyond ``max_change`` (a fraction) are clipped: a stripe's response
    does not vary that much, so a larger ratio is the scene, not the camera.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> scene = rng.uniform(50, 100, (12, 1, 200)) * np.ones((12, 16, 1))
    >>> banded = scene * np.r_[0.9, np.ones(14), 0.9][None, :, None]
    >>> fixed = correct_line_gain(banded)
    >>> float(np.abs(fixed / scene / (fixed / scene).mean() - 1).max()) < 0.01
    True
    """
    s = _as_stack(stack)
    prof = np.clip(line_gain_profile(s, min_level, smooth_lines), 1 - max_change, 1 + max_change)
    return (s / prof[None, :, None]).astype(np.float32)


def block_rank_map(framelet: np.ndarray, block: int = 4, rank: int = 2) -> np.ndarray:
    """The ``rank``-th darkest value (0 = darkest) of every ``block`` x ``block`` block.

    A despeckled, ``block`` times smaller picture: single hot pixels and particle
    hits (up to ``block*block - rank - 1`` per block) cannot raise it. The third
    darkest of 4 x 4 (``rank=2``) is what the community uses on late-mission frames
    [CAMERA.md].

    Examples
    --------
    >>> f = np.full((8, 8), 10.0, np.float32); f[1, 1] = f[2, 2] = 250.0
    >>> block_rank_map(f).tolist()
    [[10.0, 10.0], [10.0, 10.0]]
    """
    a = np.asarray(framelet, np.float32)
    rank = min(max(rank, 0), block * block - 1)
    h, w = (a.shape[0] // block) * block, (a.shape[1] // block) * block
    blocks = a[:h, :w].reshape(h // block, block, w // block, block).transpose(0, 2, 1, 3)
    flat = blocks.reshape(h // block, w // block, block * block)
    return np.partition(flat, rank, axis=-1)[..., rank]


def estimate_background(
    stack: np.ndarray, block: int = 4, rank: int = 2, quantile: float = 10.0
) -> np.ndarray:
    """Each framelet's background level (dark current plus sky glow), from the frame.

    Radiation raised the late mission's dark current and black level beyond what the
    masked dark columns show; the raw frame's own darkest places measure it. For each
    framelet the blocks whose :func:`block_rank_map` value (over the photoactive
    samples) is at or below its ``quantile`` percent point are its darkest places,
    and the median of their pixels is its background (the rank value alone sits
    below the noise's centre); the levels are then smoothed over five exposures (a
    median), since the background drifts slowly while the scene in one framelet may
    hold little dark sky.

    Parameters
    ----------
    stack : numpy.ndarray
        (n_exposures, lines, samples) linear framelets of one band.
    block, rank : int
        See :func:`block_rank_map`.
    quantile : float
        Percent point of the block values below which blocks count as background.

    Returns
    -------
    numpy.ndarray
        float32 (n_exposures,) levels, linear DN.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = 30.0 + rng.normal(0, 1, (6, 128, 1648)).astype(np.float32)
    >>> s[:, 40:90, 300:900] += 500.0                       # the planet
    >>> s[:, rng.integers(0, 128, 300), rng.integers(23, 1631, 300)] = 900.0  # hits
    >>> [round(float(v)) for v in estimate_background(s)]
    [30, 30, 30, 30, 30, 30]
    """
    s = _as_stack(stack)
    photo = s[:, :, DARK_SAMPLES : DARK_SAMPLES + 1608]
    levels = np.empty(len(photo), np.float32)
    for k, f in enumerate(photo):
        rm = block_rank_map(f, block, rank)
        # the darkest blocks by their despeckled value; their pixels' median is the
        # level (the rank value itself sits below the noise's centre)
        dark = rm <= np.percentile(rm, quantile)
        h, w = rm.shape
        cells = f[: h * block, : w * block].reshape(h, block, w, block).transpose(0, 2, 1, 3)
        levels[k] = float(np.median(cells[dark]))
    if levels.size >= 3:
        levels = ndimage.median_filter(levels, size=min(5, levels.size), mode="nearest")
    return levels.astype(np.float32)


def subtract_background(
    stack: np.ndarray, block: int = 4, rank: int = 2, quantile: float = 10.0
) -> np.ndarray:
    """Subtract :func:`estimate_background` from every framelet.

    Not clipped at zero: the sky's noise stays centred on zero, so averages (and the
    stitch's blending) are not biased upwards.

    Examples
    --------
    >>> s = np.full((3, 128, 1648), 40.0, np.float32); s[:, 50:60, 500:600] = 400.0
    >>> out = subtract_background(s)
    >>> float(out[0, 0, 100]), float(out[0, 55, 550])
    (0.0, 360.0)
    """
    s = _as_stack(stack)
    levels = estimate_background(s, block, rank, quantile)
    return (s - levels[:, None, None]).astype(np.float32)


def remove_line_noise(stack: np.ndarray, window: int = 9) -> np.ndarray:
    """Remove each line's own offset (row noise) from every framelet.

    Readout adds a small offset to whole lines that the dark columns (23 samples)
    measure only roughly; it shows as fine horizontal stripes, plain in single-band
    frames once the frame is stretched. Neighbouring lines see nearly the same
    scene, so the median over the photoactive samples of the difference between
    two adjacent lines is the difference of their offsets (plus the scene's slope);
    summed along the framelet it gives each line's offset plus the scene's profile,
    and the profile, smooth over ``window`` lines, is taken out again. What is
    removed is the line-to-line part of the offsets; slow variations stay.

    Parameters
    ----------
    stack : numpy.ndarray
        (n_exposures, lines, samples) linear framelets of one band.
    window : int
        Lines over which the scene's profile counts as smooth (a moving average).

    Returns
    -------
    numpy.ndarray
        float32 corrected copy.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = np.tile(np.linspace(100, 200, 1648, dtype=np.float32), (2, 64, 1))
    >>> scene += np.linspace(0, 50, 64, dtype=np.float32)[None, :, None]   # a slope
    >>> striped = scene + rng.normal(0, 3, (2, 64, 1)).astype(np.float32)
    >>> def jumps(x):  # RMS of the line-to-line steps beyond the scene's
    ...     return float(np.std(np.diff((x - scene).mean(axis=2), axis=1)))
    >>> bool(jumps(remove_line_noise(striped)) < jumps(striped) / 3)
    True
    """
    s = _as_stack(stack)
    if window < 3:
        raise ValueError(f"window must be at least 3 lines, got {window}")
    photo = s[:, :, DARK_SAMPLES : DARK_SAMPLES + 1608]
    step = np.median(np.diff(photo, axis=1), axis=2)  # (n, lines - 1)
    level = np.concatenate([np.zeros((s.shape[0], 1)), np.cumsum(step, axis=1)], axis=1)
    smooth = ndimage.uniform_filter1d(level, size=window, axis=1, mode="nearest")
    offset = level - smooth
    return (s - offset[:, :, None]).astype(np.float32)
