"""Naive band images and colour composites: the quick-look method.

This is the method many beginners use, and it is honest about being naive: each
band's framelets are stacked in time order into one tall image, the band images
are shifted by whole lines so that they roughly overlap, and the three colour
bands become an RGB picture. The result shows seams every framelet and colour
fringes, because the spin moves the scene by slightly less than a framelet per
exposure and the lens distorts; the seamless geometry lives in
:mod:`junocam.stitch`.

How the band offsets are found (:func:`naive_band_offsets`)
-----------------------------------------------------------
The filter stripes sit at different CCD lines (first lines 284.52, 441.52, 596.52,
751.52 for methane, blue, green, red [ADD]); the spin sweeps the scene across them,
so one feature appears in the red stripe a little more than one exposure after
it appeared in green. In stacked coordinates (128 stacked lines per exposure) the
expected offset of a band relative to the reference band is::

    nominal = (first_line[band] - first_line[ref]) * framelet_lines / lines_per_exposure
    lines_per_exposure = spin_rate * (INTERFRAME_DELAY + INTERFRAME_DELTA) / pixel_ifov

with the nominal spin rate of 2 rpm and the 0.675 mrad pixel field of view, about
+-172 lines for neighbouring bands at 0.372 s. The actual offset is then measured
by phase correlation of the two band images (:func:`skimage.registration.
phase_cross_correlation`, whole pixels, along lines and samples): the position of
the correlation surface's global peak. The measured offset is used when it lies
within 25 % (at least 16 lines) of the nominal one and its sample shift is at most
16 samples; otherwise (flat or dissimilar images, methane against a colour band) the
nominal offset is used. The reference band is green, else red, else blue, else
methane.

On full-size frames (a million values or more per band) the surface is not computed
in full, only what the rule above needs: the full-resolution surface exactly on the
strip of sample shifts up to 22 (every line; a partial inverse transform, a small
matrix product and an FFT of a few columns), whose peak is the measurement, and a
coarse surface (the inverse transform of the cross-power spectrum's lowest
frequencies, half resolution across and a quarter along the lines: an eighth of the
work) that tells whether the global peak lies outside the strip: when its peak is
more than 19 samples across, the nominal offset is used. The measurement is the
whole surface's peak whenever that is plausible (and the coarse surface agrees to 3
samples across); on every real frame of the test data
and on shifted simulated scenes the offsets are those of the whole surface
(``tests/test_perf_equivalence.py``).

How the composite is normalised (:func:`compose_rgb`)
-----------------------------------------------------
Linear values are divided by a white point and clipped to [0, 1]; the black point
is 0 DN. With ``normalize="joint"`` (default) one white point, the
``percentile``-th percentile of all colour channels together, keeps the bands'
relative brightness (raw JunoCam colour is therefore yellowish, since blue is the
least sensitive band). With ``normalize="per-band"`` each channel gets its own
white point, a crude white balance. Percentiles are estimated on a regular
subsample of at most about a million values per band (every ``size // 10**6``-th
value); on that subsample the percentile is exact, ``np.percentile``'s linear
method to float32 rounding (:func:`percentile_of_finite`, which partitions only the
values beyond a checked bound). Pixels not covered by a band (NaN) become 0. An
optional ``gamma`` is applied last (``out ** (1 / gamma)``).

Examples
--------
>>> import numpy as np
>>> from junocam.framelets import split
>>> strip = np.random.default_rng(0).random((3 * 3 * 128, 1648)).astype(np.float32)
>>> bands = naive_band_images(split(strip, ["BLUE", "GREEN", "RED"]))
>>> {f.value: b.shape for f, b in bands.items()}
{'BLUE': (384, 1648), 'GREEN': (384, 1648), 'RED': (384, 1648)}
>>> compose_rgb(bands).shape
(384, 1648, 3)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

import numpy as np
from scipy import fft as sfft

from . import rank
from .enhance import luminance
from .framelets import Framelets, split
from .metadata import FRAMELET_LINES, INTERFRAME_DELTA, Filter

__all__ = [
    "naive_band_images",
    "naive_band_offsets",
    "nominal_band_offsets",
    "shift_bands",
    "compose_rgb",
    "naive_composite",
    "reference_band",
    "CCD_FIRST_LINE",
    "NOMINAL_SPIN_RATE_RPM",
    "PIXEL_IFOV_RAD",
    "target_weight",
    "band_coverage",
    "straighten_edges",
    "saturation_bleed",
    "sky_level",
    "over_sky",
    "percentile_of_finite",
    "fill_where",
]

#: First CCD line of each filter's framelet [ADD junoAddendum005.ti, CAMERA.md].
CCD_FIRST_LINE = {
    Filter.METHANE: 284.52,
    Filter.BLUE: 441.52,
    Filter.GREEN: 596.52,
    Filter.RED: 751.52,
}
#: Nominal Juno spin rate used for the fallback offsets [H17, CAMERA.md].
NOMINAL_SPIN_RATE_RPM = 2.0
#: Pixel field of view: pixel size / focal length [IK, CAMERA.md].
PIXEL_IFOV_RAD = 0.0074 / 10.95637
#: Default interframe delay for nominal offsets when the metadata has none (s).
_DEFAULT_DELAY = 0.372
_MAX_SAMPLE_SHIFT = 16

Normalize = Literal["joint", "per-band"]


def naive_band_images(
    framelets: Framelets | np.ndarray,
    filters: Sequence[Filter | str] | None = None,
    *,
    photoactive: bool = False,
) -> dict[Filter, np.ndarray]:
    """Stack each band's framelets in time order into one tall float32 image.

    Parameters
    ----------
    framelets : Framelets or numpy.ndarray
        A :class:`~junocam.framelets.Framelets` view, a 2-D strip, or a 4-D array
        ``(n_exposures, n_filters, lines, samples)`` (raw codes or linear values).
    filters : sequence of Filter or str, optional
        Readout order; required for arrays, ignored for Framelets.
    photoactive : bool
        Crop to the 1608 photoactive samples (drop the dark columns and padding).

    Returns
    -------
    dict of Filter to numpy.ndarray
        In readout order; each image is float32 ``(n_exposures * lines, samples)``,
        exposure 0 at the top. The arrays are new (not views of the input).

    Examples
    --------
    >>> strip = np.repeat(np.arange(4, dtype=np.uint8), 128)[:, None] * np.ones(1648, np.uint8)
    >>> bands = naive_band_images(strip, ["RED", "BLUE"])
    >>> float(bands[Filter.RED][0, 0]), float(bands[Filter.RED][128, 0])
    (0.0, 2.0)
    """
    if not isinstance(framelets, Framelets):
        if filters is None:
            raise ValueError("filters are required when framelets is an array")
        arr = np.asarray(framelets)
        if arr.ndim == 2:
            framelets = split(arr, filters)
        elif arr.ndim == 4:
            flt = tuple(Filter.parse(f) for f in filters)
            if arr.shape[1] != len(flt):
                raise ValueError(f"array has {arr.shape[1]} filters, {len(flt)} named")
            framelets = Framelets(data=arr, filters=flt)
        else:
            raise ValueError(f"expected a 2-D strip or 4-D framelets, got shape {arr.shape}")
    data = framelets.photoactive() if photoactive else framelets.data
    n_exp, _, lines, samples = data.shape
    out = {}
    for i, f in enumerate(framelets.filters):
        # one copy, straight into the new image (not a reshaped copy, then a cast one)
        img = np.empty((n_exp * lines, samples), np.float32)
        img.reshape(n_exp, lines, samples)[...] = data[:, i]
        out[f] = img
    return out


def reference_band(filters: Sequence[Filter | str]) -> Filter:
    """The band others are registered to: green, else red, else blue, else methane.

    Examples
    --------
    >>> reference_band(["RED", "BLUE"])
    <Filter.RED: 'RED'>
    """
    have = {Filter.parse(f) for f in filters}
    for f in (Filter.GREEN, Filter.RED, Filter.BLUE, Filter.METHANE):
        if f in have:
            return f
    raise ValueError("no filters given")


def nominal_band_offsets(
    filters: Sequence[Filter | str],
    *,
    interframe_delay: float | None = None,
    framelet_lines: int = FRAMELET_LINES,
    reference: Filter | str | None = None,
) -> dict[Filter, int]:
    """Whole-line offsets of the stacked band images predicted from the CCD layout.

    See the module documentation for the formula. The offset is the shift (in
    lines, positive = down) to apply to a band so that it overlaps the reference.

    Parameters
    ----------
    filters : sequence of Filter or str
    interframe_delay : float, optional
        Seconds; 0.372 s when unknown.
    framelet_lines : int
        128, or 64 for 2x2 summed products.
    reference : Filter or str, optional
        Default :func:`reference_band`.

    Returns
    -------
    dict of Filter to int

    Examples
    --------
    >>> nominal_band_offsets(["BLUE", "GREEN", "RED"], interframe_delay=0.372)
    {<Filter.BLUE: 'BLUE'>: -172, <Filter.GREEN: 'GREEN'>: 0, <Filter.RED: 'RED'>: 172}
    """
    flt = [Filter.parse(f) for f in filters]
    ref = reference_band(flt) if reference is None else Filter.parse(reference)
    delay = _DEFAULT_DELAY if interframe_delay is None else interframe_delay
    rate = NOMINAL_SPIN_RATE_RPM * 2.0 * math.pi / 60.0
    lines_per_exposure = rate * (delay + INTERFRAME_DELTA) / PIXEL_IFOV_RAD
    scale = framelet_lines / lines_per_exposure
    return {f: round((CCD_FIRST_LINE[f] - CCD_FIRST_LINE[ref]) * scale) for f in flt}


def naive_band_offsets(
    bands: Mapping[Filter, np.ndarray],
    *,
    interframe_delay: float | None = None,
    framelet_lines: int = FRAMELET_LINES,
    reference: Filter | str | None = None,
    measure: bool = True,
) -> dict[Filter, tuple[int, int]]:
    """Whole-pixel (line, sample) shifts that make naive band images roughly overlap.

    Measured by phase correlation against the reference band, checked against
    :func:`nominal_band_offsets` and replaced by the nominal value when implausible
    (see the module documentation, which also says how full-size frames avoid the
    whole correlation surface).

    Parameters
    ----------
    bands : Mapping of Filter to numpy.ndarray
        Naive band images of equal shape (from :func:`naive_band_images`).
    interframe_delay : float, optional
        Seconds, for the nominal offsets.
    framelet_lines : int
        128, or 64 for 2x2 summed products.
    reference : Filter or str, optional
        Band that stays in place; default :func:`reference_band`.
    measure : bool
        False to use the nominal offsets only.

    Returns
    -------
    dict of Filter to (int, int)
        ``(dy, dx)`` to apply to each band; ``(0, 0)`` for the reference.

    Examples
    --------
    >>> flat = {f: np.zeros((768, 64), np.float32) for f in (Filter.GREEN, Filter.RED)}
    >>> naive_band_offsets(flat, interframe_delay=0.372)  # flat: nominal fallback
    {<Filter.GREEN: 'GREEN'>: (0, 0), <Filter.RED: 'RED'>: (172, 0)}
    """
    ref = reference_band(list(bands)) if reference is None else Filter.parse(reference)
    nominal = nominal_band_offsets(
        list(bands),
        interframe_delay=interframe_delay,
        framelet_lines=framelet_lines,
        reference=ref,
    )
    out: dict[Filter, tuple[int, int]] = {}
    ref_spectrum = None
    for f, img in bands.items():
        guess = (nominal[f], 0)
        if f is ref or not measure:
            out[f] = guess
            continue
        if ref_spectrum is None:  # once for all the bands measured against it
            ref_spectrum = _spectrum(bands[ref])
        measured = _phase_offset_near(bands[ref], img, nominal[f], ref_spectrum)
        out[f] = measured if measured is not None and _plausible(measured, nominal[f]) else guess
    return out


def _fast_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The image's shape zero-padded to lengths the FFT factors well: the 1608
    photoactive samples are 2^3 x 3 x 67, whose prime 67 makes every transform about
    1.5x slower than at 1620."""
    return tuple(sfft.next_fast_len(n, real=True) for n in shape)


def _spectrum(img: np.ndarray) -> np.ndarray | None:
    """Real-input FFT of the mean-free image (NaN as 0, zero-padded to
    :func:`_fast_shape`), or None for a flat image.

    The mean-free image is written once, straight into the zero-padded buffer the
    transform reads: for a float32 image free of NaN and infinities (its sum says
    so) the mean comes from one pass over the image and the subtraction is the copy;
    other images are copied first and their non-finite values set to 0. Flatness is
    decided on a sparse grid of samples first and on every value only when those
    are all equal."""
    h, w = img.shape
    if img.size == 0:
        return None
    buf = np.empty(_fast_shape(img.shape), np.float32)
    buf[:h, w:] = 0.0
    buf[h:] = 0.0
    a = buf[:h, :w]
    src = np.asarray(img)
    # a float32 sum (pairwise, relative error ~1e-7 here) is finite exactly when
    # every value is, barring overflow, which takes the careful path too
    total = float(np.sum(src)) if src.dtype == np.float32 else math.nan
    if not math.isfinite(total):
        a[...] = src
        bad = ~np.isfinite(a)
        if bad.any():
            a[bad] = 0.0
        del bad
        src = a
        total = float(np.sum(a, dtype=np.float64))
    probe = src[:: max(1, h // 64), :: max(1, w // 64)]
    if float(probe.min()) == float(probe.max()) and float(src.min()) == float(src.max()):
        return None  # flat: no correlation to find
    np.subtract(src, np.float32(total / src.size), out=a)
    return sfft.rfft2(buf)


def _phase_offset(
    reference: np.ndarray, moving: np.ndarray, ref_spectrum: np.ndarray | None = None
) -> tuple[int, int] | None:
    """Whole-pixel shift registering ``moving`` onto ``reference``, or None.

    The peak of the phase correlation, as ``skimage.registration.
    phase_cross_correlation`` finds it without upsampling, but with real-input FFTs
    (half the spectrum), the reference's spectrum reusable (``ref_spectrum`` from
    :func:`_spectrum`) and without the error and phase figures skimage also computes.
    The cross-power spectrum is formed in the moving image's spectrum's buffer.
    """
    cross = _cross_power(reference, moving, ref_spectrum)
    if cross is None:
        return None
    corr = sfft.irfft2(cross, s=_fast_shape(reference.shape))
    del cross
    peak = np.unravel_index(_abs_argmax(corr), corr.shape)
    h, w = corr.shape
    dy, dx = (int(p) if n > 1 else 0 for p, n in zip(peak, reference.shape, strict=True))
    return _signed(dy, h), _signed(dx, w)


def _abs_argmax(values: np.ndarray) -> int:
    """The flat index of the first value of the largest magnitude, as
    ``argmax(abs(values))``, without the magnitude image: the first maximum or the
    first minimum, whichever is larger."""
    hi, lo = int(np.argmax(values)), int(np.argmin(values))
    vhi, vlo = abs(float(values.flat[hi])), abs(float(values.flat[lo]))
    return hi if vhi > vlo else lo if vlo > vhi else min(hi, lo)


def _signed(index: int, n: int) -> int:
    """A circular correlation's index as a signed shift (the upper half negative)."""
    return index - n if index > n // 2 else index


def _cross_power(
    reference: np.ndarray, moving: np.ndarray, ref_spectrum: np.ndarray | None = None
) -> np.ndarray | None:
    """The normalised cross-power spectrum ``F_ref conj(F_mov) / |F_ref conj(F_mov)|``
    (real-input half spectrum, zero-padded to :func:`_fast_shape`), formed in the
    moving image's spectrum's buffer; None for flat, empty or unequal images."""
    if reference.shape != moving.shape or reference.size == 0:
        return None
    fa = _spectrum(reference) if ref_spectrum is None else ref_spectrum
    if fa is None:
        return None
    product = _spectrum(moving)
    if product is None:
        return None
    np.conjugate(product, out=product)
    product *= fa
    mag = np.abs(product)
    np.maximum(mag, 100 * np.finfo(np.float32).eps, out=mag)
    # times the reciprocal: the same values as dividing (numpy divides a complex by a
    # real that way), without its slower complex division loop
    np.reciprocal(mag, out=mag)
    product *= mag
    return product


#: images of fewer values take :func:`_phase_offset`'s whole correlation surface
#: (the strip search below pays off on full-size frames)
_WINDOW_MIN_VALUES = 1 << 20
#: samples evaluated beyond the plausible sample shifts on each side, and how far
#: beyond them the coarse surface's peak may lie and still count as near the strip:
#: a coarse peak within 3 samples of the global one (across) decides as it does
_WINDOW_MARGIN = 6
_COARSE_SLACK = 3


def _phase_offset_near(
    reference: np.ndarray,
    moving: np.ndarray,
    nominal: int,
    ref_spectrum: np.ndarray | None = None,
) -> tuple[int, int] | None:
    """:func:`_phase_offset` for the plausibility rule, without the full inverse transform.

    Only whether the correlation's global peak is plausible (:func:`_plausible`
    around ``nominal``: at most 16 samples across) and, if it is, where it lies
    matter to :func:`naive_band_offsets`. So the full-resolution surface is only
    computed exactly on a strip: every line, but only the sample shifts up to
    16 + :data:`_WINDOW_MARGIN` (a partial inverse transform: a matrix product over
    the sample frequencies for those few columns, then an FFT along the lines). Its
    peak is the global peak unless the global peak lies outside the strip, which a
    coarse surface tells: the inverse transform of the cross-power spectrum's lowest
    frequencies, half of them across and a quarter along the lines (an eighth of the
    work; half resolution across, where the peak's position matters). When that
    surface's peak lies more than :data:`_COARSE_SLACK` samples beyond the plausible
    shifts, its position (implausible) is returned, else the strip's peak.

    The result is the whole surface's peak whenever that lies in the strip and the
    coarse peak does not stray more than 3 samples beyond the plausible shifts; when
    the global peak lies outside the strip it is implausible, and so is the result
    whenever the coarse peak lies within 3 samples of it across (slack 3 <= margin
    6 - 3). Small images, and strips that would wrap around the circular
    surface, take :func:`_phase_offset` itself.
    """
    hp, wp = _fast_shape(reference.shape)
    reach = _MAX_SAMPLE_SHIFT + _WINDOW_MARGIN
    if reference.size < _WINDOW_MIN_VALUES or min(reference.shape) < 2 or reach >= wp // 2 - 2:
        return _phase_offset(reference, moving, ref_spectrum)
    cross = _cross_power(reference, moving, ref_spectrum)
    if cross is None:
        return None
    # the global peak on a coarse surface: half resolution across, where its
    # position matters, a quarter along the lines
    hc, wc = max(hp // 4, 1), wp // 2
    top, bottom = (hc + 1) // 2, hc // 2
    low = np.concatenate([cross[:top, : wc // 2 + 1], cross[hp - bottom :, : wc // 2 + 1]])
    coarse = sfft.irfft2(low, s=(hc, wc))
    del low
    peak = np.unravel_index(_abs_argmax(coarse), coarse.shape)
    del coarse
    cx = _signed(int(peak[1]), wc) * wp / wc
    if abs(cx) > _MAX_SAMPLE_SHIFT + _COARSE_SLACK:
        return _signed(int(peak[0]), hc) * hp // hc, round(cx)
    # the exact surface on the strip of small sample shifts
    cols = np.arange(-reach, reach + 1)
    strip = _surface_columns(cross, (hp, wp), cols)
    iy, ix = np.unravel_index(_abs_argmax(strip), strip.shape)
    return _signed(int(iy), hp), int(cols[ix])


def _surface_columns(cross: np.ndarray, shape: tuple[int, int], cols: np.ndarray) -> np.ndarray:
    """``irfft2(cross, s=shape)[:, cols]`` (signed columns taken modulo the width),
    by the inverse DFT sums for those columns only.

    With the half spectrum, a real surface is ``Re sum_ky e(ky y / H) sum_kx c_kx
    cross[ky, kx] e(kx x / W) / (H W)`` where ``e(t) = exp(2 pi i t)`` and ``c_kx``
    is 2 for the columns that stand for a conjugate pair, else 1 (the zero and, for
    even ``W``, the Nyquist column): a matrix product over ``kx`` for the wanted
    columns (phases reduced modulo ``W`` in integers first, so they stay exact),
    then an inverse FFT along the lines of those few columns.
    """
    h, w = shape
    kx = np.arange(cross.shape[1], dtype=np.int64)
    weight = np.full(kx.size, 2.0)
    weight[0] = 1.0
    if w % 2 == 0:
        weight[-1] = 1.0
    ex = weight[:, None] * np.exp((2j * np.pi / w) * (np.outer(kx, cols) % w))
    partial = sfft.ifft(cross @ ex.astype(np.complex64), axis=0, overwrite_x=True)
    return partial.real / np.float32(w)


def _plausible(measured: tuple[int, int] | None, nominal: int) -> bool:
    if measured is None:
        return False
    dy, dx = measured
    tolerance = max(16.0, 0.25 * abs(nominal))
    return abs(dy - nominal) <= tolerance and abs(dx) <= _MAX_SAMPLE_SHIFT


def shift_bands(
    bands: Mapping[Filter, np.ndarray],
    offsets: Mapping[Filter, tuple[int, int]],
    fill: float = np.nan,
) -> dict[Filter, np.ndarray]:
    """Place band images on one common canvas, shifted by whole-pixel offsets.

    The canvas is the union of all shifted bands; uncovered pixels get ``fill``.

    Parameters
    ----------
    bands : Mapping of Filter to numpy.ndarray
        2-D images of equal shape.
    offsets : Mapping of Filter to (int, int)
        ``(dy, dx)`` per band (missing bands are not shifted).
    fill : float
        Value of uncovered pixels.

    Returns
    -------
    dict of Filter to numpy.ndarray
        float32 images, all of the same shape.

    Examples
    --------
    >>> out = shift_bands({Filter.RED: np.ones((2, 2)), Filter.BLUE: np.ones((2, 2))},
    ...                   {Filter.RED: (1, 0), Filter.BLUE: (0, 0)}, fill=0)
    >>> out[Filter.RED][:, 0], out[Filter.BLUE][:, 0]
    (array([0., 1., 1.], dtype=float32), array([1., 1., 0.], dtype=float32))
    """
    if not bands:
        return {}
    shapes = {b.shape for b in bands.values()}
    if len(shapes) != 1:
        raise ValueError(f"band images differ in shape: {sorted(shapes)}")
    (h, w) = shapes.pop()
    offs = {f: tuple(int(v) for v in offsets.get(f, (0, 0))) for f in bands}
    y0 = min(o[0] for o in offs.values())
    x0 = min(o[1] for o in offs.values())
    height = h + max(o[0] for o in offs.values()) - y0
    width = w + max(o[1] for o in offs.values()) - x0
    out = {}
    for f, img in bands.items():
        canvas = np.empty((height, width), dtype=np.float32)
        dy, dx = offs[f][0] - y0, offs[f][1] - x0
        canvas[dy : dy + h, dx : dx + w] = img
        # only the margins around the band are filled
        canvas[:dy] = fill
        canvas[dy + h :] = fill
        canvas[dy : dy + h, :dx] = fill
        canvas[dy : dy + h, dx + w :] = fill
        out[f] = canvas
    return out


#: rows per band of the row-banded passes over a picture (a few MB of temporaries)
_ROWS = 256


def _subsample(values: Sequence[np.ndarray], budget: int = 1_000_000) -> list[np.ndarray]:
    """Regular (strided) subsamples of at most about ``budget`` values per array,
    each gathered into a contiguous array once (the percentile's passes over them
    then run on contiguous memory: 1.3-1.6x faster on full-size frames; a copy of at
    most ``budget`` values, made before the picture is allocated)."""
    out = []
    for v in values:
        flat = v.reshape(-1)
        out.append(np.ascontiguousarray(flat[:: max(1, flat.size // budget)]))
    return out


def percentile_of_finite(values: Sequence[np.ndarray], q: float) -> float | None:
    """``np.percentile`` (linear method) of the finite values of ``values`` together.

    The same value as ``np.percentile(np.concatenate([v[np.isfinite(v)] ...]), q)``
    (to the float32 rounding of the final interpolation, relative 1e-6), without
    copying or partitioning every value: for ``q`` near the top (or bottom) the two
    order statistics it needs lie beyond a bound read from a small regular
    subsample, so only the values past that bound are gathered and partitioned. The
    bound's count is checked; when it does not hold enough values (or ``q`` is
    central) the full partition is done, so the result is exact either way.

    Parameters
    ----------
    values : sequence of numpy.ndarray
        Arrays of any shape (NaN and infinities are left out).
    q : float
        Percentile in [0, 100].

    Returns
    -------
    float or None
        None when there is no finite value.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(300, 400)).astype(np.float32)
    >>> x[0, :5] = np.nan
    >>> want = float(np.percentile(x[np.isfinite(x)], 99.9))
    >>> abs(percentile_of_finite([x], 99.9) - want) <= 1e-6 * abs(want)
    True
    """
    flats = [np.asarray(v).reshape(-1) for v in values]
    finite = [np.isfinite(f) for f in flats]
    n = sum(int(np.count_nonzero(m)) for m in finite)
    if n == 0:
        return None
    pos = q / 100.0 * (n - 1)
    k = min(int(math.floor(pos)), n - 1)
    frac = pos - k
    ranks = (k, min(k + 1, n - 1))
    tail = min(k + 1, n - k)  # values from the wanted rank to the nearer end
    picked: np.ndarray | None = None
    if 64 * tail < n and n > 4096:
        upper = q >= 50.0
        # a bound with, by the subsample, about 4 times the needed tail beyond it
        probe = np.concatenate([f[:: max(1, f.size // 65536)] for f in flats])
        probe = probe[np.isfinite(probe)]
        if probe.size:
            share = min(1.0, 4.0 * tail / n + 32.0 / probe.size)
            bound = np.quantile(probe, 1.0 - share if upper else share)
            with np.errstate(invalid="ignore"):
                part = np.concatenate([f[(f >= bound) if upper else (f <= bound)] for f in flats])
            # NaN compares false; an infinity beyond the bound is dropped here, among
            # the few values gathered (the same values, in the same order, as
            # masking every array with its finite mask)
            part = part[np.isfinite(part)]
            m = part.size
            if m >= tail + 1:
                # the ranks counted within the tail
                local = [r - (n - m) for r in ranks] if upper else list(ranks)
                if min(local) >= 0 and max(local) < m:
                    part.partition(sorted(set(local)))
                    picked = part[local]
    if picked is None:
        data = np.concatenate([f[m] for f, m in zip(flats, finite, strict=True)])
        data.partition(sorted(set(ranks)))
        picked = data[list(ranks)]
    lo, hi = float(picked[0]), float(picked[1])
    return lo + (hi - lo) * frac if frac < 0.5 else hi - (hi - lo) * (1.0 - frac)


def _white_point(values: Sequence[np.ndarray], percentile: float) -> float:
    """Percentile of the finite values of ``values`` together, on a subsample."""
    sub = _subsample(values)
    white = percentile_of_finite(sub, percentile)
    if white is None:
        return 1.0
    if not white > 0.0:
        top = max(float(np.max(v, initial=-np.inf, where=np.isfinite(v))) for v in sub)
        white = top if top > 0 else 1.0
    return white


def compose_rgb(
    bands: Mapping[Filter, np.ndarray] | Mapping[str, np.ndarray],
    *,
    normalize: Normalize = "joint",
    percentile: float = 99.9,
    gamma: float = 1.0,
    one_channel: bool = False,
) -> np.ndarray:
    """Compose aligned band images into an RGB picture, float32 in [0, 1].

    Channel rules:

    - red, green and blue present: (R, G, B); methane, if present, is not used;
    - red and blue without green: green is synthesised as the mean (R + B) / 2;
    - a single band (methane-only, or one colour band with or without methane):
      grey, the band in all three channels;
    - other partial sets: the missing channel is 0.

    Parameters
    ----------
    bands : Mapping of Filter (or name) to numpy.ndarray
        2-D linear images of equal shape, already aligned (see :func:`shift_bands`).
        NaN marks uncovered pixels; they become 0.
    normalize : {"joint", "per-band"}
        One white point for all channels, or one per channel (module documentation).
    percentile : float
        Percentile of the values used as the white point.
    gamma : float
        Display gamma applied after normalisation (1 = linear).
    one_channel : bool
        Return a grey composite (every channel the same band) as one ``(H, W)``
        channel, a third of the memory; colour composites are ``(H, W, 3)`` still.

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W, 3)`` in [0, 1].

    Examples
    --------
    >>> r, b = np.full((2, 2), 4.0), np.full((2, 2), 2.0)
    >>> rgb = compose_rgb({"RED": r, "BLUE": b}, percentile=100)
    >>> rgb[0, 0].tolist()
    [1.0, 0.75, 0.5]
    >>> compose_rgb({"METHANE": r}, percentile=100)[0, 0].tolist()
    [1.0, 1.0, 1.0]
    >>> compose_rgb({"METHANE": r}, percentile=100, one_channel=True).shape
    (2, 2)
    """
    b = {Filter.parse(k): np.asarray(v, dtype=np.float32) for k, v in bands.items()}
    if not b:
        raise ValueError("no bands to compose")
    shapes = {v.shape for v in b.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"bands must be 2-D images of one shape, got {sorted(shapes)}")
    if normalize not in ("joint", "per-band"):
        raise ValueError(f"normalize must be 'joint' or 'per-band', got {normalize!r}")
    channels = _select_channels(b)
    present = [c for c in channels if c is not None]
    joint = _white_point(present, percentile) if normalize == "joint" else 0.0
    shape = next(iter(shapes))
    if one_channel and all(c is channels[0] for c in channels):
        channels = channels[:1]
    whites: list[float] = []
    for i, c in enumerate(channels):
        if c is None:
            whites.append(1.0)
        elif i > 0 and c is channels[i - 1]:
            whites.append(whites[-1])
        else:
            whites.append(joint if normalize == "joint" else _white_point([c], percentile))
    rgb = np.empty((*shape, len(channels)), dtype=np.float32)
    inv_gamma = np.float32(1.0 / gamma)
    # by row bands, each finished while it is in the cache: the channels scaled
    # straight into the picture, NaN (uncovered) to 0 and infinities to the ends of
    # the range, clipped to [0, 1]
    for r0 in range(0, shape[0], _ROWS):
        rows = slice(r0, r0 + _ROWS)
        block = rgb[rows]
        for i, c in enumerate(channels):
            if c is None:
                block[..., i] = 0.0
            elif i > 0 and c is channels[i - 1]:
                block[..., i] = block[..., i - 1]  # a grey composite: the same band again
            else:
                np.divide(c[rows], np.float32(whites[i]), out=block[..., i])
        # fmax/fmin drop NaN for the other operand: NaN -> 0, +-inf -> 1 or 0, as
        # nan_to_num then clip would give
        np.fmax(block, np.float32(0.0), out=block)
        np.fmin(block, np.float32(1.0), out=block)
        if gamma != 1.0:
            np.power(block, inv_gamma, out=block)
    return rgb if rgb.shape[-1] == 3 else rgb[..., 0]


def _select_channels(b: Mapping[Filter, np.ndarray]) -> list[np.ndarray | None]:
    """(R, G, B) source images per the rules of :func:`compose_rgb`."""
    colour = {f: b[f] for f in (Filter.RED, Filter.GREEN, Filter.BLUE) if f in b}
    if not colour:
        grey = b[Filter.METHANE] if Filter.METHANE in b else next(iter(b.values()))
        return [grey, grey, grey]
    if len(colour) == 1:
        grey = next(iter(colour.values()))
        return [grey, grey, grey]
    red, green, blue = colour.get(Filter.RED), colour.get(Filter.GREEN), colour.get(Filter.BLUE)
    if green is None and red is not None and blue is not None:
        green = (red + blue) * np.float32(0.5)
    return [red, green, blue]


def naive_composite(
    framelets: Framelets,
    *,
    interframe_delay: float | None = None,
    photoactive: bool = True,
    measure_offsets: bool = True,
    normalize: Normalize = "joint",
    percentile: float = 99.9,
    gamma: float = 1.0,
) -> np.ndarray:
    """The whole naive chain: band images, offsets, shift, compose.

    Parameters
    ----------
    framelets : Framelets
        Linear (decompanded) framelets.
    interframe_delay : float, optional
        Seconds, for the nominal band offsets.
    photoactive : bool
        Drop the dark columns first.
    measure_offsets : bool
        Measure the band offsets by phase correlation (else nominal only).
    normalize, percentile, gamma
        See :func:`compose_rgb`.

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W, 3)`` in [0, 1].

    Examples
    --------
    >>> strip = np.ones((2 * 128, 1648), np.float32)
    >>> naive_composite(split(strip, ["METHANE"])).shape
    (256, 1608, 3)
    """
    bands = naive_band_images(framelets, photoactive=photoactive)
    offsets = naive_band_offsets(
        bands,
        interframe_delay=interframe_delay,
        framelet_lines=framelets.framelet_lines,
        measure=measure_offsets,
    )
    aligned = shift_bands(bands, offsets)
    return compose_rgb(aligned, normalize=normalize, percentile=percentile, gamma=gamma)


def contact_sheet(
    panels: Sequence[tuple[str, np.ndarray]], width: int = 600, label_height: int = 28
) -> np.ndarray:
    """Side-by-side panels, each resized to ``width`` and labelled above.

    Parameters
    ----------
    panels : sequence of (label, image)
        float images in [0, 1], (H, W, 3) or (H, W).
    width : int
        Width of each panel in pixels; heights keep the aspect ratio.
    label_height : int
        Height of the label strip.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) in [0, 1].

    Examples
    --------
    >>> sheet = contact_sheet([("a", np.zeros((10, 20, 3))), ("b", np.ones((10, 20)))], 40)
    >>> sheet.shape
    (48, 80, 3)
    """
    from PIL import Image, ImageDraw, ImageFont
    from skimage.transform import resize

    if not panels:
        raise ValueError("no panels to put on a contact sheet")
    tiles = []
    for _, img in panels:
        a = np.asarray(img, dtype=np.float32)
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=-1)
        h = max(1, int(round(a.shape[0] * width / a.shape[1])))
        tiles.append(np.clip(resize(a, (h, width), anti_aliasing=True), 0, 1))
    height = max(t.shape[0] for t in tiles)
    sheet = np.zeros((height + label_height, width * len(tiles), 3), np.float32)
    for k, t in enumerate(tiles):
        sheet[label_height : label_height + t.shape[0], k * width : (k + 1) * width] = t
    canvas = Image.fromarray((sheet * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    try:
        font = ImageFont.load_default(size=max(10, label_height - 10))
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        font = ImageFont.load_default()
    for k, (label, _) in enumerate(panels):
        draw.text((k * width + 8, 4), label, fill=(255, 255, 255), font=font)
    return np.asarray(canvas, dtype=np.float32) / 255.0


def target_weight(rgb: np.ndarray, mask: np.ndarray, sky_sigmas: float = 6.0) -> np.ndarray:
    """Soft 0..1 weight of "target" (planet) against dark sky, from a composite.

    Local enhancements (illumination flattening, CLAHE, sharpening) are blended in
    with this weight so that sky noise is not amplified and no halo forms at the
    limb. The sky level and noise are estimated robustly from the darkest half of
    the covered pixels; the weight ramps up from ``sky_sigmas`` noise sigmas above
    the sky level to twice that.

    Examples
    --------
    >>> img = np.zeros((20, 20, 3), np.float32); img[5:15, 5:15] = 0.5
    >>> w = target_weight(img, np.ones((20, 20), bool))
    >>> float(w[10, 10]), float(w[0, 0])
    (1.0, 0.0)
    """
    lum = luminance(rgb)
    if lum.dtype == np.float32 and lum.ndim == 2:
        level, noise = _sky_level_noise(lum, np.asarray(mask, bool))
    else:
        vals = lum[mask] if mask.any() else lum.ravel().copy()
        # the darker half, in any order (its medians do not depend on the order)
        half = max(vals.size // 2, 1)
        if half < vals.size:
            vals.partition(half - 1)
        dark = vals[:half]  # vals is this function's own copy: the medians may reorder it
        level = float(np.median(dark, overwrite_input=True))
        np.subtract(dark, np.float32(level), out=dark)
        np.abs(dark, out=dark)
        noise = 1.4826 * float(np.median(dark, overwrite_input=True)) + 1e-3
        del vals, dark
    lo = level + sky_sigmas * noise
    # smoothstep of (lum - lo) / (sky_sigmas noise), in lum's buffer, a band of rows
    # at a time (element-wise: the same values without full-size temporaries)
    t = lum
    keep = np.asarray(mask, bool)
    for r0 in range(0, t.shape[0], _ROWS):
        rows = t[r0 : r0 + _ROWS]
        rows -= lo
        rows /= sky_sigmas * noise
        np.clip(rows, 0.0, 1.0, out=rows)
        ramp = 2.0 * rows
        np.subtract(3.0, ramp, out=ramp)
        np.multiply(rows, rows, out=rows)
        rows *= ramp
        rows[~keep[r0 : r0 + _ROWS]] = 0.0
    return t.astype(np.float32, copy=False)


def _median_ranks(n: int) -> list[int]:
    """The ranks whose values (their mean when two) are the median of ``n`` values."""
    return [n // 2] if n % 2 else [n // 2 - 1, n // 2]


def _median_of(stats: np.ndarray) -> float:
    """numpy's median from its middle order statistics: the mean of two is taken in
    their own dtype, as :func:`numpy.median` does."""
    return float(stats[0]) if stats.size == 1 else float(np.mean(stats))


def _sky_level_noise(lum: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """The darker half of the covered luminance: its median (the sky's level) and
    1.4826 times the median of its absolute deviations from it, plus 1e-3 (noise).

    The values :func:`target_weight` took from a copy of ``lum[mask]`` partitioned
    at its middle, bit for bit, from exact order statistics a band of rows at a
    time (:func:`junocam.rank.chunked_order_statistics`): the darker half is every
    value below the half's largest value ``top`` and as many copies of ``top`` as
    make up the half.
    """
    keep = mask if mask.any() else np.ones(mask.shape, bool)
    n = int(np.count_nonzero(keep))
    half = max(n // 2, 1)
    sample = rank.masked_sample(lum, keep, n)
    ranks = [half - 1, *_median_ranks(half)]
    stats = rank.chunked_order_statistics(lambda: rank.masked_chunks(lum, keep), n, ranks, sample)
    top = stats[0]
    level32 = np.float32(_median_of(stats[1:]))
    below = sum(int(np.count_nonzero(c < top)) for c in rank.masked_chunks(lum, keep))

    def deviations() -> Iterator[np.ndarray]:
        for c in rank.masked_chunks(lum, keep):
            d = np.subtract(c[c < top], level32)
            yield np.abs(d, out=d)
        yield np.full(half - below, np.abs(np.float32(top) - level32), np.float32)

    dev_sample = np.abs(sample[sample < top] - level32)
    dev = rank.chunked_order_statistics(deviations, half, _median_ranks(half), dev_sample)
    return float(level32), 1.4826 * _median_of(dev) + 1e-3


def band_coverage(
    masks: Mapping[Filter, np.ndarray] | Sequence[np.ndarray],
    feather_px: float = 4.0,
    *,
    mode: Literal["all", "any"] = "all",
    straighten: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Where a composite has every band, as a mask and a feathered opacity.

    A pixel seen by only one or two filters shows that filter's colour (a red block
    where only the red stripe covered the limb, a cyan staircase where red ended
    first). Colour is honest only where every band of the composite has data: the
    intersection of the band masks (``mode="all"``). The opacity ramps from 0 at the
    intersection's edge to 1 at ``feather_px`` pixels inside it (smoothstep of the
    Euclidean distance), so the framelet staircase of a coverage edge does not show
    as a hard step. ``mode="any"`` keeps partial coverage (the union, opacity 1).

    Parameters
    ----------
    masks : mapping or sequence of numpy.ndarray
        Boolean coverage of each band on one grid.
    feather_px : float
        Width of the ramp, pixels (0: a hard edge).
    mode : {"all", "any"}
    straighten : int
        Rows over which the left and right edges are straightened
        (:func:`straighten_edges`); 0 keeps them as they are.

    Returns
    -------
    mask : numpy.ndarray of bool
        Where the opacity is above zero.
    alpha : numpy.ndarray of float32
        Opacity in [0, 1].

    Examples
    --------
    >>> a = np.zeros((1, 12), bool); a[0, :10] = True
    >>> b = np.zeros((1, 12), bool); b[0, 2:] = True
    >>> m, w = band_coverage([a, b], feather_px=2.0)
    >>> m.astype(int).tolist()[0]
    [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    >>> w.round(2).tolist()[0][:6]
    [0.0, 0.0, 0.5, 1.0, 1.0, 1.0]
    >>> band_coverage([a, b], mode="any")[0].all()
    np.True_
    """
    from scipy import ndimage

    arrays = list(masks.values()) if isinstance(masks, Mapping) else list(masks)
    if not arrays:
        raise ValueError("band_coverage needs at least one band mask")
    bools = [np.asarray(m, bool) for m in arrays]
    if len({b.shape for b in bools}) != 1:
        raise ValueError(f"band masks differ in shape: {sorted({b.shape for b in bools})}")
    # reduced pairwise, without a stacked copy of the masks
    op = np.logical_and if mode == "all" else np.logical_or
    cover: np.ndarray = bools[0].copy()
    for b in bools[1:]:
        op(cover, b, out=cover)
    if straighten > 0 and mode == "all":
        cover = straighten_edges(cover, straighten)
    if mode == "any" or feather_px < 1e-3:
        return cover, cover.astype(np.float32)
    alpha = cover.astype(np.float32)
    # only pixels within feather_px of an uncovered one ramp: find them with a square
    # minimum filter (cheap), then their exact Euclidean distance to the nearest
    # uncovered pixel by trying every offset of the disc, nearest first (the same
    # values as a distance transform there, at a small fraction of its cost)
    reach = int(math.floor(feather_px))
    core = ndimage.minimum_filter(cover.view(np.uint8), size=2 * reach + 1, mode="nearest")
    r, c = np.nonzero(cover & (core == 0))
    if r.size:
        h, w = cover.shape
        # the uncovered pixels with a margin of ``reach`` that is not a hit (nothing
        # outside the image is), read at flat offsets: no bounds tests per offset
        gap = np.zeros((h + 2 * reach, w + 2 * reach), bool)
        np.logical_not(cover, out=gap[reach : reach + h, reach : reach + w])
        gap_flat = gap.reshape(-1)
        at = (r + reach) * gap.shape[1] + (c + reach)
        dist = np.full(r.size, np.inf, np.float32)
        offsets = [
            (dy, dx)
            for dy in range(-reach, reach + 1)
            for dx in range(-reach, reach + 1)
            if 0 < dy * dy + dx * dx <= feather_px * feather_px
        ]
        for dy, dx in sorted(offsets, key=lambda o: o[0] * o[0] + o[1] * o[1]):
            hit = gap_flat.take(at + (dy * gap.shape[1] + dx))
            np.minimum(dist, np.where(hit, np.float32(math.hypot(dy, dx)), np.inf), out=dist)
        ramp = np.clip(dist / np.float32(feather_px), 0.0, 1.0)
        alpha[r, c] = ramp * ramp * (3.0 - 2.0 * ramp)
    return cover, alpha


def sky_level(
    rgb: np.ndarray, mask: np.ndarray, target: np.ndarray | None, min_pixels: int = 200
) -> np.ndarray:
    """The colour of the empty sky in a composite: the median of covered non-target pixels.

    Pixels outside the coverage take this value, so the frame's edge fades into the
    sky the picture already shows rather than into a different black. Zero when the
    frame has too little sky to measure (a close-up filled by the planet).

    Examples
    --------
    >>> img = np.full((40, 40, 3), 0.02, np.float32); img[10:30, 10:30] = 0.8
    >>> t = np.zeros((40, 40), np.float32); t[10:30, 10:30] = 1.0
    >>> [round(float(v), 3) for v in sky_level(img, np.ones((40, 40), bool), t)]
    [0.02, 0.02, 0.02]
    """
    sky = mask if target is None else mask & (target < 0.01)
    if int(sky.sum()) < min_pixels:
        return np.zeros(rgb.shape[-1], np.float32)
    if sky.size > 16 * 4 * min_pixels:
        # every second row and column: a quarter of the pixels fix a median of
        # thousands of sky pixels to well under the noise, four times cheaper
        sub = sky[::2, ::2]
        if int(sub.sum()) >= min_pixels:
            return _channel_medians(rgb[::2, ::2], sub)
    return _channel_medians(rgb, sky)


def _channel_medians(img: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``np.median(img[where], axis=0)`` as float32, one contiguous channel at a time
    (the same values, without the strided partition of an (N, C) array)."""
    if img.ndim == 2:
        return np.median(img[where], axis=0).astype(np.float32)
    return np.array([np.median(img[..., k][where]) for k in range(img.shape[-1])], np.float32)


def over_sky(
    rgb: np.ndarray, alpha: np.ndarray, sky: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """``sky + alpha (rgb - sky)``: the composite faded into the sky where coverage ends.

    ``out`` (float32, ``rgb``'s shape; may be ``rgb`` itself) receives the result
    instead of a new array.

    Examples
    --------
    >>> over_sky(np.ones((1, 2, 3), np.float32), np.array([[1.0, 0.25]], np.float32),
    ...          np.zeros(3, np.float32))[0, :, 0].tolist()
    [1.0, 0.25]
    """
    if out is None:
        out = np.array(rgb, dtype=np.float32, copy=True)
    elif out is not rgb:
        out[...] = rgb
    # most of a frame is fully covered (alpha 1) and most of the rest not at all
    # (alpha 0, where the result is the sky exactly): only the ramp is computed
    a = np.asarray(alpha)
    empty = a <= 0.0
    if empty.any():
        fill_where(out, empty, sky)
    ramp = (a < 1.0) & ~empty
    if ramp.any():
        w = a[ramp][:, None]
        out[ramp] = sky + w * (out[ramp] - sky)
    return out


def fill_where(image: np.ndarray, where: np.ndarray, value: np.ndarray | float) -> np.ndarray:
    """Set the pixels of ``image`` where ``where`` is true to ``value``, in place.

    ``image`` is (H, W) or (H, W, C); ``value`` a scalar or one value per channel.
    The same as ``image[where] = value``, several times faster for a colour image:
    each pixel's channels are copied as one item (a byte view of the pixel), not
    through a boolean mask broadcast over the channels.

    Examples
    --------
    >>> img = np.zeros((2, 2, 3), np.float32)
    >>> fill_where(img, np.array([[True, False], [False, True]]), np.array([1, 2, 3]))[0].tolist()
    [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    """
    where = np.asarray(where, bool)
    if image.ndim == 3 and image.flags.c_contiguous and image.dtype.itemsize * image.shape[-1]:
        pixel = np.dtype((np.void, image.dtype.itemsize * image.shape[-1]))
        fill = np.broadcast_to(np.asarray(value, image.dtype), image.shape[-1:]).copy()
        np.copyto(image.view(pixel)[..., 0], fill.view(pixel)[0], where=where)
    elif image.ndim == 3:
        np.copyto(image, np.asarray(value, image.dtype), where=where[..., None])
    else:
        np.copyto(image, np.asarray(value, image.dtype), where=where)
    return image


def saturation_bleed(
    bands: Mapping[Filter, np.ndarray] | Sequence[np.ndarray],
    mask: np.ndarray,
    *,
    bright: float = 0.15,
    ratio: float = 0.1,
    grow_px: int = 3,
) -> np.ndarray:
    """Pixels where one band's saturated charge spilled past the planet's edge.

    A band that saturates at the bright limb bleeds along the CCD columns: its
    framelets show tens of lines of signal beyond the edge that the other bands see
    as dark sky, and the composite paints a block of that band's pure colour there
    (red beyond the lower limb of JNCE_2022186_43C00078_V01). With each band scaled
    by its own 99.99th percentile over ``mask`` (so white balance does not matter),
    such a pixel is bright in one band (at least ``bright``) while another band is
    less than ``ratio`` of that: ten times apart, which no colour on Jupiter or its
    moons comes near, while limb darkening and the terminator dim all bands together.
    The result grows by ``grow_px`` into neighbours that lean the same way (weakest
    band under a third of the strongest), to take the spill's fading tail, but not
    into the planet next to it.

    Parameters
    ----------
    bands : mapping or sequence of numpy.ndarray
        Linear band images on one grid.
    mask : numpy.ndarray of bool
        Where the bands have data.
    bright, ratio : float
        The level of the strongest band and the weakest-to-strongest ratio.
    grow_px : int
        How far the result may grow, pixels.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> r = np.full((5, 8), 100.0); g = np.full((5, 8), 90.0)
    >>> r[:, 6:] = 100.0; g[:, 6:] = 2.0          # red full where green sees sky
    >>> saturation_bleed([r, g], np.ones((5, 8), bool))[0].astype(int).tolist()
    [0, 0, 0, 0, 0, 0, 1, 1]
    """
    from scipy import ndimage

    seq = bands.values() if isinstance(bands, Mapping) else bands
    arrays = [np.asarray(v, np.float32) for v in seq]
    if len(arrays) < 2 or not mask.any():
        return np.zeros(mask.shape, bool)
    scales = [np.float32(max(_masked_top(a, mask, 99.99), 1e-6)) for a in arrays]
    out = np.empty(mask.shape, bool)
    leaning = np.empty(mask.shape, bool)
    for r0 in range(0, mask.shape[0], _ROWS):  # by row bands: small temporaries
        rows = slice(r0, r0 + _ROWS)
        strongest = np.zeros(mask[rows].shape, np.float32)
        weakest = np.full(mask[rows].shape, np.inf, np.float32)
        for a, scale in zip(arrays, scales, strict=True):
            rel = a[rows] / scale
            np.maximum(strongest, rel, out=strongest)
            np.minimum(weakest, rel, out=weakest)
        out[rows] = (strongest >= bright) & (weakest < ratio * strongest) & mask[rows]
        leaning[rows] = (weakest < strongest / 3.0) & mask[rows]
    if grow_px > 0 and out.any():
        out = ndimage.binary_dilation(out, iterations=grow_px, mask=leaning)
    return out


def _masked_top(a: np.ndarray, mask: np.ndarray, q: float) -> float:
    """``np.percentile(a[mask], q)``, without the copy of ``a[mask]`` when ``a`` is
    finite (:func:`junocam.rank.masked_percentile`: the same value)."""
    if a.size and rank.all_finite(a):
        return float(rank.masked_percentile(a, mask, [q])[0])
    return float(np.percentile(a[mask], q))


def straighten_edges(mask: np.ndarray, window: int = 256, max_cut: int = 16) -> np.ndarray:
    """The mask with the sawtooth of its left and right edges cut off.

    Each framelet's side edge lands a few pixels beside the previous one's (the
    spin axis is tilted against the CCD's lines), so a stitched frame's side edges
    are a staircase. Per row, the first and last covered columns are replaced by a
    smooth inner envelope: the largest first column (smallest last column) within
    ``window`` rows, averaged over ``window // 2`` rows, which is never outside the
    original edge, and never more than ``max_cut`` pixels inside it (a tooth is a
    few pixels; larger moves of the edge are the frame's shape). Only for masks with
    one covered run in (nearly) every row (a stitched frame); any other mask (a
    map's footprint) is returned unchanged.

    Examples
    --------
    >>> m = np.zeros((40, 30), bool)
    >>> for r in range(40):
    ...     m[r, (r // 10) % 2 * 4 : 30] = True      # a 4-pixel sawtooth every 10 rows
    >>> s = straighten_edges(m, window=20)
    >>> bool((s <= m).all()), sorted({int(np.argmax(row)) for row in s[5:35]})
    (True, [4])
    """
    from scipy import ndimage

    m = np.asarray(mask, bool)
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size < 3 or window < 2:
        return m
    sub = m[rows]
    runs = (np.diff(sub.astype(np.int8), axis=1) == 1).sum(axis=1) + sub[:, 0]
    if (runs > 1).mean() > 0.05:  # not a stitched frame's band of rows
        return m
    first = np.argmax(sub, axis=1).astype(np.float64)
    last = (sub.shape[1] - 1 - np.argmax(sub[:, ::-1], axis=1)).astype(np.float64)
    left = ndimage.uniform_filter1d(
        ndimage.maximum_filter1d(first, window, mode="nearest"), max(window // 2, 1), mode="nearest"
    )
    right = ndimage.uniform_filter1d(
        ndimage.minimum_filter1d(last, window, mode="nearest"), max(window // 2, 1), mode="nearest"
    )
    # a tooth is a few pixels; where the edge really moves (the frame's first and
    # last exposures) the envelope must not carry that far into the frame
    left = np.minimum(left, first + max_cut)
    right = np.maximum(right, last - max_cut)
    cols = np.arange(m.shape[1])
    keep = (cols[None, :] >= np.ceil(left - 1e-9)[:, None]) & (
        cols[None, :] <= np.floor(right + 1e-9)[:, None]
    )
    out = np.zeros_like(m)
    out[rows] = sub & keep
    return out
