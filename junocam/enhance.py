"""Colour and contrast stages: pure functions on float32 images in [0, 1].

Every stage takes an image of shape ``(H, W, 3)`` (RGB) or ``(H, W)`` (grey) with
values in [0, 1] and returns a NEW float32 array of the same shape, clipped to
[0, 1] and finite (non-finite input values are treated as 0). Parameters are plain
keywords with simple types, so recipes can name them; an out-of-range parameter
raises :class:`ValueError` with a message naming it. Stages that compute image
statistics take an optional ``mask`` (bool, ``(H, W)``, True on valid pixels) so that
black sky or no-data pixels do not skew them. Identity parameters (``gamma=1``,
``amount=0``, ``factor=1``, ...) return the input unchanged.

Stages that only make sense for colour (white balance, saturation, the colour
matrix) return grey images unchanged.

Examples
--------
>>> import numpy as np
>>> from junocam import enhance
>>> rng = np.random.default_rng(0)
>>> img = rng.uniform(0.1, 0.4, (16, 16, 3)).astype(np.float32)
>>> out = enhance.gamma(enhance.stretch(enhance.white_balance(img, "grey_world")), 1.8)
>>> out.dtype, out.shape, bool(out.min() >= 0 and out.max() <= 1)
(dtype('float32'), (16, 16, 3), True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MappingProxyType

import numpy as np
from scipy import ndimage

from . import rank

__all__ = [
    "apply_per_pixel",
    "BAND_WEIGHTS",
    "EPOCH_BAND_WEIGHTS",
    "epoch_band_weights",
    "perijove_of",
    "TRUE_COLOR_MATRICES",
    "band_weights",
    "white_balance",
    "stretch",
    "gamma",
    "filmic",
    "flatten_illumination",
    "clahe",
    "unsharp",
    "saturation",
    "true_color_matrix",
    "methane_false_color",
    "luminance",
    "defringe",
    "channel_range",
    "implausible_colour",
]

#: Community per-band weights (R, G, B) applied to linear composites [CAMERA.md
#: "Known artefacts"]: Kevin M. Gill's defaults and Gerald Eichstädt's for PJ43-44.
BAND_WEIGHTS = MappingProxyType(
    {
        "none": (1.0, 1.0, 1.0),
        "gill": (0.902, 1.0, 1.888),
        "eichstaedt": (0.768, 1.0, 2.630),
    }
)

#: Band weights (R, G, B) by perijove, as the community published them while the
#: camera's sensitivity drifted (radiation damage grows after about PJ47-56, blue
#: losing most) [CAMERA.md "Known artefacts"]: (perijove, weights, source).
EPOCH_BAND_WEIGHTS: tuple[tuple[int, tuple[float, float, float], str], ...] = (
    (43, (0.768, 1.0, 2.630), "G. Eichstädt, PJ43-44 weights"),
    (72, (0.613, 1.0, 3.655), "G. Eichstädt, PJ72 weights"),
)


def epoch_band_weights(perijove: float | None) -> tuple[float, float, float]:
    """Band weights (R, G, B) for a perijove, linear between :data:`EPOCH_BAND_WEIGHTS`.

    Before the first entry and after the last the nearest entry holds (the early
    mission's sensitivity was close to PJ43's; later ones are not yet published).
    Without a perijove, Kevin M. Gill's fixed defaults (``"gill"``) are used.

    Examples
    --------
    >>> epoch_band_weights(43)
    (0.768, 1.0, 2.63)
    >>> [round(w, 3) for w in epoch_band_weights(57.5)]
    [0.691, 1.0, 3.143]
    >>> epoch_band_weights(4) == epoch_band_weights(43), epoch_band_weights(None)
    (True, (0.902, 1.0, 1.888))
    """
    if perijove is None:
        r, g, b = BAND_WEIGHTS["gill"]
        return (r, g, b)
    table = EPOCH_BAND_WEIGHTS
    pjs = [float(p) for p, _, _ in table]
    out = tuple(
        float(np.interp(float(perijove), pjs, [w[k] for _, w, _ in table])) for k in range(3)
    )
    return (round(out[0], 6), round(out[1], 6), round(out[2], 6))


def perijove_of(perijove: int | None, product_id: str | None) -> int | None:
    """The perijove of a frame: its metadata's, else the digits of its product id.

    Examples
    --------
    >>> perijove_of(None, "JNCE_2022186_43C00078_V01"), perijove_of(44, "x")
    (43, 44)
    """
    if perijove is not None:
        return perijove
    import re

    m = re.search(r"_\d{7}_(\d{2})[A-Z]\d{5}", product_id or "")
    return int(m.group(1)) if m else None


#: 3x3 colour matrices (rows: output R, G, B; columns: input R, G, B).
#: ``"approx"`` is an APPROXIMATION chosen for this project, not a measured
#: calibration: no published JunoCam-to-sRGB matrix was available to us. Its rows
#: sum to 1, so a white-balanced grey stays grey, and its small negative
#: off-diagonal terms undo part of the channel overlap that broad filters give
#: (raw JunoCam composites look washed out); the green row leans on red more than on
#: blue because green and red sit closer in wavelength.
TRUE_COLOR_MATRICES = MappingProxyType(
    {
        "identity": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
        "approx": ((1.20, -0.15, -0.05), (-0.10, 1.20, -0.10), (-0.02, -0.13, 1.15)),
    }
)

#: Rec. 709 / sRGB luminance weights of R, G, B.
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


# --------------------------------------------------------------------------- helpers


def _checked_image(img: object, name: str = "img") -> np.ndarray:
    """``img`` as an array after checking it is a non-empty (H, W) or (H, W, 3) image."""
    a = np.asarray(img)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"{name} must have shape (H, W) or (H, W, 3), got {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    return a


def _as_image(img: object, name: str = "img", out: np.ndarray | None = None) -> np.ndarray:
    """Validate an (H, W) or (H, W, 3) image; return float32 with non-finite -> 0.

    With ``out`` (see :func:`_checked_out`; ``img`` itself to work in place) the
    result is written there instead of a new array: the same values.
    """
    if out is None:
        a = _checked_image(img, name).astype(np.float32, copy=True)
    else:
        a = _into(_checked_image(img, name), out)
    if not rank.all_finite(a):
        np.nan_to_num(a, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return a


def _checked_out(out: np.ndarray | None, shape: tuple[int, ...]) -> None:
    """Check an ``out=`` argument: a writeable float32 array of the image's shape."""
    if out is None:
        return
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != shape:
        got = (getattr(out, "shape", None), getattr(out, "dtype", type(out).__name__))
        raise ValueError(f"out must be a float32 array of shape {shape}, got {got}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")


def _into(src: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``src`` as float32 in ``out`` (nothing to copy when ``out`` is ``src``)."""
    _checked_out(out, src.shape)
    if out is not src:
        np.copyto(out, src, casting="unsafe")  # what astype(np.float32) gives
    return out


def _unit_copy(img: object, name: str = "img", out: np.ndarray | None = None) -> np.ndarray:
    """``_finish(_as_image(img))``, the same values in fewer passes over the image.

    A finite float32 image (its minimum and maximum say so) is copied and clipped
    in one pass; anything else takes the general path. With ``out`` (``img`` itself
    to work in place) the result is written there.
    """
    src = _checked_image(img, name)
    if out is not None:
        a = _into(src, out)
        if rank.all_finite(a):
            np.clip(a, 0.0, 1.0, out=a)
            return a
        return _finish(_as_image(a, name, out=a))
    if src.dtype == np.float32:
        lo, hi = np.min(src), np.max(src)
        if np.isfinite(lo) and np.isfinite(hi):
            if lo >= 0.0 and hi <= 1.0:
                return np.array(src, dtype=np.float32, copy=True, order="C")
            out = np.empty(src.shape, np.float32)
            np.clip(src, 0.0, 1.0, out=out)
            return out
    return _finish(_as_image(src, name))


def _finish(x: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] as a finite float32 array, in place when ``x`` is float32 (every
    caller passes a fresh array: no full-size copy per stage)."""
    x = np.asarray(x, dtype=np.float32)
    # clipping maps +inf to 1 and -inf to 0; only NaN (which shows in the minimum)
    # needs a mask, and only when there is one
    np.clip(x, 0.0, 1.0, out=x)
    if x.size and np.isnan(np.min(x)):
        np.copyto(x, np.float32(0.0), where=np.isnan(x))
    return x


#: Rows converted at a time by the pixel-wise colour conversions: skimage makes
#: several full-size temporaries per conversion, so a band of rows at a time keeps
#: them a few MB instead of several times the image.
_CHUNK_ROWS = 256


def _row_chunks(rows: int) -> list[slice]:
    return [slice(r, min(r + _CHUNK_ROWS, rows)) for r in range(0, rows, _CHUNK_ROWS)]


def _masked_pixels(chans: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``chans[valid]`` of an (H, W, C) image and an (H, W) mask, as one (n, C) array.

    Gathered a band of rows at a time, each as one flat compress of the rows with
    the mask repeated over the channels (the same values in the same order):
    numpy indexes a 3-D array with a 2-D mask through two int64 index arrays of the
    full count (16 bytes per valid pixel, more than the float32 values themselves).
    """
    c = chans.shape[-1]
    out = np.empty((int(np.count_nonzero(valid)), c), chans.dtype)
    flat = out.reshape(-1)
    rows = chans.reshape(chans.shape[0], -1) if chans.flags.c_contiguous else None
    at = 0
    for rs in _row_chunks(chans.shape[0]):
        if rows is None:
            part = chans[rs][valid[rs]].reshape(-1)
        else:
            part = rows[rs][np.repeat(valid[rs], c, axis=1)]
        flat[at : at + part.size] = part
        at += part.size
    return out


def apply_per_pixel(
    img: np.ndarray,
    per_pixel: np.ndarray,
    op: Callable[..., object] = np.multiply,
) -> np.ndarray:
    """``op(img, per_pixel, out=img)`` in place, one ``per_pixel`` value for all the
    channels of a pixel.

    Broadcasting an (H, W, 1) operand over three channels runs numpy's inner loop
    three values at a time, and ``img[~mask] = 0`` gathers two index arrays; a band
    of rows with the operand repeated to (rows, 3 W) runs it over whole rows, five
    to seven times faster, with the same values.

    Parameters
    ----------
    img : numpy.ndarray
        (H, W) or (H, W, C) array, changed in place.
    per_pixel : numpy.ndarray
        (H, W) array (a gain, a weight, a mask).
    op : callable
        A ufunc-like ``op(a, b, out=a)``, e.g. :data:`numpy.multiply`.

    Returns
    -------
    numpy.ndarray
        ``img``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.ones((2, 2, 3), np.float32)
    >>> apply_per_pixel(img, np.array([[0.5, 1.0], [2.0, 0.0]], np.float32))[..., 0].tolist()
    [[0.5, 1.0], [2.0, 0.0]]
    """
    if img.ndim == 2 or not img.flags.c_contiguous:
        op(img, per_pixel if img.ndim == 2 else per_pixel[..., None], out=img)
        return img
    h, w = per_pixel.shape
    c = img.shape[-1]
    flat = img.reshape(h, w * c)  # a view: img is C-contiguous
    for rs in _row_chunks(h):
        part = flat[rs]
        op(part, np.repeat(per_pixel[rs], c, axis=1), out=part)
    return img


def _blend_rows(new: np.ndarray, old: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    """``old + weight (new - old)`` in ``new``'s buffer (a fresh band of rows), one
    weight per pixel; ``new`` itself without a weight.

    The colour stages' blend on the target (``weight`` 1 on the planet, 0 on the
    sky), in the order the stage adapter computes it on whole images: the same
    values, a band of rows at a time.
    """
    if weight is None:
        return new
    new -= old
    apply_per_pixel(new, weight, np.multiply)
    new += old
    return new


def _checked_weight(weight: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """Check a per-pixel blend weight of shape (H, W)."""
    if weight is None:
        return None
    w = np.asarray(weight)
    if w.shape != shape[:2]:
        raise ValueError(f"weight must have shape {shape[:2]} (H, W), got {w.shape}")
    return w


def _unchanged(src: np.ndarray, out: np.ndarray | None, weight: np.ndarray | None) -> np.ndarray:
    """A stage's identity result (the input, finished) made like :func:`_by_rows`."""
    return _by_rows(src, lambda rs: _unit_copy(src[rs]), out, weight)


def _assembled(rows: Callable[[slice], np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """A new float32 array of ``shape`` filled a band of rows at a time by ``rows(rs)``."""
    out = np.empty(shape, np.float32)
    for rs in _row_chunks(shape[0]):
        out[rs] = rows(rs)
    return out


def _by_rows(
    src: np.ndarray,
    new_rows: Callable[[slice], np.ndarray],
    out: np.ndarray | None,
    weight: np.ndarray | None,
    rows: Sequence[slice] | None = None,
) -> np.ndarray:
    """The result of a stage made a band of rows at a time.

    ``new_rows(rs)`` gives a band of the result (a fresh float32 array, finished) and
    may read ``src`` at those rows only; it is blended with ``src`` by ``weight``
    (see :func:`_blend_rows`) and written into ``out`` (a new array when None;
    ``src`` itself works in place).
    """
    if out is None:
        out = np.empty(src.shape, np.float32)
    for rs in rows if rows is not None else _row_chunks(src.shape[0]):
        out[rs] = _blend_rows(new_rows(rs), src[rs], None if weight is None else weight[rs])
    return out


def _valid(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """Bool (H, W) valid-pixel mask (all True when ``mask`` is None)."""
    if mask is None:
        return np.ones(shape[:2], dtype=bool)
    m = np.asarray(mask)
    if m.shape != shape[:2]:
        raise ValueError(f"mask must have shape {shape[:2]} (H, W), got {m.shape}")
    return m if m.dtype == bool else m.astype(bool)  # read only: no copy of a bool mask


def _check(name: str, value: float, lo: float, hi: float, *, lo_open: bool = False) -> float:
    """Check ``lo <= value <= hi`` (or ``lo < value``); return it as float."""
    v = float(value)
    ok = (lo < v if lo_open else lo <= v) and v <= hi and np.isfinite(v)
    if not ok:
        bracket = "(" if lo_open else "["
        raise ValueError(f"{name} must be in {bracket}{lo:g}, {hi:g}], got {value}")
    return v


def _triple(name: str, value: str | Sequence[float], presets: object) -> np.ndarray:
    """Three positive gains from a preset name or a sequence."""
    if isinstance(value, str):
        table = dict(presets)  # type: ignore[call-overload]
        if value not in table:
            raise ValueError(f"unknown {name} {value!r} (known: {', '.join(sorted(table))})")
        value = table[value]
    g = np.asarray(value, dtype=np.float64)
    if g.shape != (3,) or not np.isfinite(g).all() or (g <= 0).any() or (g > 100).any():
        raise ValueError(f"{name} must be three numbers in (0, 100] (R, G, B), got {value!r}")
    return g


def luminance(img: np.ndarray) -> np.ndarray:
    """Rec. 709 luminance of an RGB image (the image itself when grey).

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) or (H, W) float image.

    Returns
    -------
    numpy.ndarray
        float32 (H, W).

    Examples
    --------
    >>> import numpy as np
    >>> round(float(luminance(np.ones((1, 1, 3)))[0, 0]), 6)
    1.0
    """
    src = _checked_image(img)
    if src.ndim == 3 and src.dtype == np.float32:
        lum = src @ _LUMA  # no copy of the image first when it is finite
        if np.isfinite(lum).all():  # (a NaN or infinity in any channel shows here)
            return lum
    a = _as_image(src)
    return a if a.ndim == 2 else (a @ _LUMA).astype(np.float32)


def _masked_blur_coarse(
    values: np.ndarray, weights: np.ndarray, sigma: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Normalised convolution of ``values`` with weights, fast for large sigma, on a
    coarse grid: (smoothed values, smoothed weights, the grid's factor ``k``).

    For sigma > 8 pixels the arrays are block-averaged by ``k`` first (a band of
    rows at a time: the same block means), and :func:`_upsampler` gives the full
    resolution a band of rows at a time, which is exact enough for a field that is
    smooth on the scale of sigma; ``k`` is 1 (full size) otherwise.
    """
    from skimage.transform import downscale_local_mean

    k = max(1, int(sigma // 4))
    if k > 1:
        step = k * max(1, _CHUNK_ROWS // k)  # whole blocks per band
        parts = [
            (
                downscale_local_mean(values[r : r + step] * weights[r : r + step], (k, k)),
                downscale_local_mean(weights[r : r + step].astype(np.float32), (k, k)),
            )
            for r in range(0, values.shape[0], step)
        ]
        num = np.concatenate([p[0] for p in parts])
        den = np.concatenate([p[1] for p in parts])
        del parts
    else:
        num, den = values * weights, weights.astype(np.float32)
    s = sigma / k
    num = ndimage.gaussian_filter(num, s, mode="reflect", truncate=3.0)
    den = ndimage.gaussian_filter(den, s, mode="reflect", truncate=3.0)
    return np.asarray(num, np.float32), np.asarray(den, np.float32), k


def _masked_blur(values: np.ndarray, weights: np.ndarray, sigma: float) -> tuple:
    """Normalised convolution of ``values`` with weights, fast for large sigma.

    Returns (smoothed values, smoothed weights) at full size (see
    :func:`_masked_blur_coarse`).
    """
    num, den, k = _masked_blur_coarse(values, weights, sigma)
    if k > 1:
        num = _upsample_linear(num, k, values.shape)
        den = _upsample_linear(den, k, values.shape)
    return num, den


def _linear_weights(n_in: int, k: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Left neighbour and weight of the right one (float64) for the first ``n_out``
    samples of a ``k`` times upsampling with pixel-centred grids (``x_in = (x_out +
    0.5) / k - 0.5``), clamped to the edge samples."""
    x = (np.arange(n_out, dtype=np.float64) + 0.5) / k - 0.5
    np.clip(x, 0.0, n_in - 1, out=x)
    i0 = np.minimum(np.floor(x).astype(np.intp), max(n_in - 2, 0))
    return i0, x - i0


def _upsample_linear(a: np.ndarray, k: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear ``k`` times upsampling of an (h, w) array, cropped to ``shape``, float32.

    The values of ``skimage.transform.resize(a, (h k, w k), order=1, mode="edge",
    anti_aliasing=False)[:shape[0], :shape[1]]`` (``scipy.ndimage.zoom`` with
    ``grid_mode``: pixel-centred, edge samples repeated), but separable: along the
    samples on the small array, then each output row as a weighted sum of two
    rows, in float64 like the zoom and a band of rows at a time; several times
    faster than the zoom's general spline code. The sums are ordered differently,
    so about one value in 10^5 differs in its last float32 bit
    (``tests/test_enhance_speed.py`` compares the two).
    """
    return _assembled(_upsampler(a, k, shape), shape)


def _upsampler(a: np.ndarray, k: int, shape: tuple[int, int]) -> Callable[[slice], np.ndarray]:
    """``rows(rs)``: the rows ``rs`` of :func:`_upsample_linear` (float32), the same values."""
    n0, n1 = a.shape
    c0, cw = _linear_weights(n1, k, shape[1])
    r0, rw = _linear_weights(n0, k, shape[0])
    c1 = np.minimum(c0 + 1, n1 - 1)
    r1 = np.minimum(r0 + 1, n0 - 1)
    src = np.asarray(a, np.float64)

    def rows(rs: slice) -> np.ndarray:
        # the rows of the samples-upsampled small array these rows read (each such
        # row as the whole array's would be; (n0, w) float64 in all is not held)
        i0, i1 = r0[rs], r1[rs]
        first = int(i0.min()) if i0.size else 0
        part = src[first : (int(i1.max()) + 1 if i1.size else 0)]
        cols = part[:, c0] * (1.0 - cw) + part[:, c1] * cw
        wr = rw[rs, None]
        return (cols[i0 - first] * (1.0 - wr) + cols[i1 - first] * wr).astype(np.float32)

    return rows


# CIE L*a*b* (D65, 2 degrees) of sRGB, as skimage.color defines it (the sRGB
# transfer curve, the sRGB-to-XYZ matrix, the CIE 1976 f and its inverse), in
# float32 with masks applied by np.copyto instead of boolean indexing: the stages
# that change L* or chroma only work on f(X / Xn), f(Y / Yn), f(Z / Zn) directly
# (L* = 116 fy - 16, a* = 500 (fx - fy), b* = 200 (fy - fz)), several times faster
# than rgb2lab and lab2rgb and equal to them to float32 rounding
# (tests/test_enhance_speed.py).

#: sRGB (linear) to CIE XYZ (skimage.color's matrix), and to XYZ over the D65 white
#: (0.95047, 1, 1.08883) row by row.
_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_XYZN_FROM_RGB = _XYZ_FROM_RGB / np.array([0.95047, 1.0, 1.08883])[:, None]
_RGB_FROM_XYZN = np.linalg.inv(_XYZN_FROM_RGB)


def _srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """The sRGB decoding curve, float32, a new array."""
    c = np.asarray(rgb, np.float32)
    out = c + np.float32(0.055)
    out /= np.float32(1.055)
    np.power(out, np.float32(2.4), out=out)
    np.copyto(out, c / np.float32(12.92), where=c <= np.float32(0.04045))
    return out


def _linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    """The sRGB encoding curve, clipped to [0, 1], float32, in place on ``lin``."""
    small = lin <= np.float32(0.0031308)
    low = lin * np.float32(12.92)
    np.maximum(lin, np.float32(0.0031308), out=lin)  # no power of a negative number
    np.power(lin, np.float32(1 / 2.4), out=lin)
    lin *= np.float32(1.055)
    lin -= np.float32(0.055)
    np.copyto(lin, low, where=small)
    np.clip(lin, 0.0, 1.0, out=lin)
    return lin


def _lab_f(t: np.ndarray) -> np.ndarray:
    """CIE 1976 f(t) in place on a float32 array: cube root, linear below 0.008856."""
    low = t * np.float32(7.787)
    low += np.float32(16.0 / 116.0)
    small = t <= np.float32(0.008856)
    np.cbrt(t, out=t)
    np.copyto(t, low, where=small)
    return t


def _lab_f_inverse(f: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_lab_f` in place: cube, linear below 0.2068966."""
    low = f - np.float32(16.0 / 116.0)
    low /= np.float32(7.787)
    small = f <= np.float32(0.2068966)
    cube = f * f
    f *= cube
    np.copyto(f, low, where=small)
    return f


def _lab_fs(linear: np.ndarray) -> np.ndarray:
    """(fx, fy, fz) of (..., 3) linear sRGB (:func:`_srgb_to_linear`), float32."""
    t = linear @ _XYZN_FROM_RGB.T.astype(np.float32)
    return _lab_f(t)


def _rgb_of_lab_fs(f: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] of (fx, fy, fz), consuming ``f``; fz below 0 taken as 0 (as
    skimage's lab2rgb does)."""
    np.maximum(f[..., 2], 0.0, out=f[..., 2])
    lin = _lab_f_inverse(f) @ _RGB_FROM_XYZN.T.astype(np.float32)
    return _linear_to_srgb(lin)


def _lightness(linear: np.ndarray) -> np.ndarray:
    """CIE L* / 100 of (rows, W, 3) linear sRGB (:func:`_srgb_to_linear`), float32
    (rows, W).

    The values of ``skimage.color.rgb2lab(rgb)[..., 0] / 100`` bit for bit (CLAHE
    bins L*: a last-bit change can move a pixel to the next bin): the same float32
    operations in the same order, the same matrix product, only Y's f and L*.
    """
    xyz = linear @ _XYZ_FROM_RGB.T.astype(np.float32)
    light = _lab_f(np.ascontiguousarray(xyz[..., 1]))  # Y over the white's Y of 1
    light *= np.float32(116.0)
    light -= np.float32(16.0)
    light /= np.float32(100.0)
    return light


# ---------------------------------------------------------------------- colour balance


def white_balance(
    img: np.ndarray,
    method: str = "fixed",
    gains: str | Sequence[float] = (1.0, 1.0, 1.0),
    percentile: float = 99.0,
    mask: np.ndarray | None = None,
    normalise: bool = True,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Scale the R, G, B channels so that the colour balance is right.

    - ``"fixed"``: multiply by ``gains`` (three numbers, or a name from
      :data:`BAND_WEIGHTS`: ``"gill"`` R 0.902 G 1.0 B 1.888, ``"eichstaedt"``
      R 0.768 G 1.0 B 2.630 [CAMERA.md]).
    - ``"grey_world"``: gains make the channel means over ``mask`` equal to green's.
    - ``"white_patch"``: gains make the channels' ``percentile`` values over ``mask``
      equal to green's (the brightest parts become neutral).

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) float image in [0, 1], best on LINEAR data. Grey images are
        returned unchanged.
    method : str
        ``"fixed"``, ``"grey_world"`` or ``"white_patch"``.
    gains : str or tuple of 3 floats
        Gains for ``"fixed"``, each in (0, 100]; ignored by the other methods.
    percentile : float
        Percentile for ``"white_patch"``, in [50, 100].
    mask : numpy.ndarray, optional
        Bool (H, W), True on pixels used for the statistics.
    normalise : bool
        When True (default), if any pixel would exceed 1 all gains are scaled down by
        one common factor so the brightest value becomes exactly 1: nothing clips and
        hues are kept. When False, values above 1 are clipped.
    out : numpy.ndarray, optional
        float32 array of ``img``'s shape the result is written into (``img`` itself
        to work in place, without a second full-size image); default a new array.

    Returns
    -------
    numpy.ndarray
        float32 balanced image.

    Raises
    ------
    ValueError
        For an unknown method or preset, or an out-of-range parameter.

    Examples
    --------
    >>> import numpy as np
    >>> patch = np.ones((4, 4, 3), np.float32) * np.float32([0.2, 0.4, 0.1])
    >>> [round(float(v), 4) for v in white_balance(patch, "grey_world")[0, 0]]
    [0.4, 0.4, 0.4]
    """
    if method not in ("fixed", "grey_world", "white_patch"):
        raise ValueError(
            f"unknown white balance method {method!r} (known: fixed, grey_world, white_patch)"
        )
    _check("percentile", percentile, 50.0, 100.0)
    fixed = _triple("gains", gains, BAND_WEIGHTS)
    a = _as_image(img, out=out)
    if a.ndim == 2:
        return _finish(a)
    valid = _valid(mask, a.shape)
    if method == "fixed":
        g = fixed
    else:
        px = _masked_pixels(a, valid)
        if px.shape[0] == 0:
            return _finish(a)
        if method == "grey_world":
            ref = px.mean(axis=0, dtype=np.float64)
        else:
            ref = np.percentile(px, percentile, axis=0)
        g = np.where(ref > 1e-6, ref[1] / np.maximum(ref, 1e-12), 1.0)
        if ref[1] <= 1e-6:
            g = np.ones(3)
    if normalise:
        # each channel's maximum over its strided view: numpy reduces an (n, 3)
        # array along its long axis three values at a time, seven times slower
        top = np.array([a[..., c].max() for c in range(3)])
        peak = float((top * g).max())
        if peak > 1.0:
            g = g / peak
    if np.all(g == 1.0):
        return _finish(a)
    a *= g.astype(np.float32)  # a is a fresh copy (or out): in place
    return _finish(a)


def band_weights(
    img: np.ndarray,
    weights: str | Sequence[float] = "gill",
    normalise: bool = True,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Multiply R, G, B by per-band weights (white balance with fixed gains).

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) float image in [0, 1], linear. Grey images are returned unchanged.
    weights : str or tuple of 3 floats
        ``"gill"`` (R 0.902, G 1.0, B 1.888), ``"eichstaedt"`` (PJ43-44: R 0.768,
        G 1.0, B 2.630), ``"none"``, or three numbers in (0, 100].
    normalise : bool
        Scale all weights down together if needed so nothing clips (see
        :func:`white_balance`).
    out : numpy.ndarray, optional
        float32 array of ``img``'s shape the result is written into (``img`` itself
        to work in place, without a second full-size image); default a new array.

    Returns
    -------
    numpy.ndarray
        float32 weighted image.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((2, 2, 3), 0.5, np.float32)
    >>> band_weights(img, (1.0, 1.0, 2.0))[0, 0].tolist()
    [0.5, 0.5, 1.0]
    """
    return white_balance(img, "fixed", gains=weights, normalise=normalise, out=out)


# ---------------------------------------------------------------------- tone curves


def stretch(
    img: np.ndarray,
    low: float = 0.5,
    high: float = 99.5,
    linked: bool = True,
    method: str = "percentile",
    sigma: float = 3.0,
    mask: np.ndarray | None = None,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Linear contrast stretch: map a black point to 0 and a white point to 1.

    - ``"percentile"``: black and white points are the ``low`` and ``high``
      percentiles of the valid pixels.
    - ``"sigma"``: they are mean -/+ ``sigma`` standard deviations.

    With ``linked`` the points come from all channels together and are the same for
    R, G and B (colour balance kept); otherwise each channel is stretched on its own
    (which also white-balances). The mapping is monotone non-decreasing. A channel
    whose black and white points coincide (a constant image) is left unchanged.
    ``low=0, high=100`` on an image that spans [0, 1] is the identity.

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) or (H, W) float image in [0, 1].
    low, high : float
        Percentiles, 0 <= low < high <= 100.
    linked : bool
        One black/white point for all channels (True) or one per channel.
    method : str
        ``"percentile"`` or ``"sigma"``.
    sigma : float
        Half-width in standard deviations for ``"sigma"``, in (0, 20].
    mask : numpy.ndarray, optional
        Bool (H, W), True on pixels used for the statistics.
    out : numpy.ndarray, optional
        float32 array of ``img``'s shape the result is written into (``img`` itself
        to work in place, without a second full-size image); default a new array.

    Returns
    -------
    numpy.ndarray
        float32 stretched image.

    Raises
    ------
    ValueError
        For an unknown method or out-of-range parameter.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.2, 0.6, 5, dtype=np.float32).reshape(1, 5)
    >>> [round(float(v), 4) for v in stretch(x, low=0, high=100)[0]]
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if method not in ("percentile", "sigma"):
        raise ValueError(f"unknown stretch method {method!r} (known: percentile, sigma)")
    low = _check("low", low, 0.0, 100.0)
    high = _check("high", high, 0.0, 100.0)
    if not low < high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    _check("sigma", sigma, 0.0, 20.0, lo_open=True)
    a = _as_image(img, out=out)
    valid = _valid(mask, a.shape)
    chans = a[..., None] if a.ndim == 2 else a
    if not valid.any():
        return _finish(a)
    if method == "percentile":
        # np.percentile's values of the valid pixels, bit for bit (a is finite:
        # _as_image), from a bracketed selection a band of rows at a time: no copy
        # of the valid pixels
        groups = [a] if linked else [chans[..., c] for c in range(chans.shape[-1])]
        pts = [
            (float(lo), float(hi))
            for lo, hi in (rank.masked_percentile(g, valid, [low, high]) for g in groups)
        ]
    else:
        px = _masked_pixels(chans, valid)  # (n, c): a copy
        pts = []
        for v in [px.reshape(-1)] if linked else [px[:, c] for c in range(px.shape[1])]:
            m, s = float(v.mean(dtype=np.float64)), float(v.std(dtype=np.float64))
            pts.append((m - sigma * s, m + sigma * s))
        del px
    if linked:
        pts = pts * chans.shape[-1]
    # a is a fresh copy (or out): mapped in place (no second full-size array), all channels
    # at once when they share the points (a channel's strided view is slower)
    if linked:
        lo, hi = pts[0]
        if hi - lo > 1e-12:
            a -= np.float32(lo)
            a *= np.float32(1.0 / (hi - lo))
        return _finish(a)
    for c, (lo, hi) in enumerate(pts):  # at most three channels
        if hi - lo > 1e-12:
            ch = chans[..., c]
            ch -= np.float32(lo)
            ch *= np.float32(1.0 / (hi - lo))
    return _finish(a)


def gamma(img: np.ndarray, gamma: float = 1.0, *, out: np.ndarray | None = None) -> np.ndarray:
    """Gamma tone curve, ``out = in ** (1 / gamma)``.

    The display-encoding convention: ``gamma`` > 1 brightens the mid-tones (2.2 is
    roughly sRGB encoding of linear data), < 1 darkens them, 1 is the identity.
    The same values as :func:`skimage.exposure.adjust_gamma` with exponent
    ``1 / gamma`` on float data, computed in place on one float32 copy.

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) or (H, W) float image in [0, 1].
    gamma : float
        In [0.1, 10].
    out : numpy.ndarray, optional
        float32 array of ``img``'s shape the result is written into (``img`` itself
        to work in place, without a second full-size image); default a new array.

    Returns
    -------
    numpy.ndarray
        float32 image; 0 and 1 are fixed points.

    Examples
    --------
    >>> import numpy as np
    >>> gamma(np.array([[0.0, 0.25, 1.0]]), 2.0).tolist()
    [[0.0, 0.5, 1.0]]
    """
    g = _check("gamma", gamma, 0.1, 10.0)
    a = _unit_copy(img, out=out)
    if g == 1.0:
        return a
    # what adjust_gamma computes for float data in [0, 1] (its scale is 1), in place
    # on the fresh copy instead of in new full-size arrays
    np.power(a, np.float32(1.0 / g), out=a)
    return _finish(a)


def _hable(x: np.ndarray) -> np.ndarray:
    # J. Hable's filmic curve ("Filmic Tonemapping Operators", 2010) with his
    # published constants: shoulder A, linear B, C, toe D, E, F.
    a, b, c, d, e, f = 0.15, 0.50, 0.10, 0.20, 0.02, 0.30
    return (x * (a * x + c * b) + d * e) / (x * (a * x + b) + d * f) - e / f


def _aces(x: np.ndarray) -> np.ndarray:
    # K. Narkowicz's fit of the ACES reference tone curve ("ACES Filmic Tone
    # Mapping Curve", 2016): x (2.51 x + 0.03) / (x (2.43 x + 0.59) + 0.14).
    return x * (2.51 * x + 0.03) / (x * (2.43 * x + 0.59) + 0.14)


def filmic(
    img: np.ndarray, white: float = 4.0, strength: float = 1.0, curve: str = "hable"
) -> np.ndarray:
    """Filmic tone curve: a toe in the shadows and a soft shoulder in the highlights.

    The input is scaled so that 1 maps to ``white`` in the curve's scene units, the
    curve applied, and the result divided by ``curve(white)`` so that 0 maps to 0 and
    1 maps to 1. Larger ``white`` compresses highlights more and lifts mid-tones.
    The result is blended with the input: ``(1 - strength) * in + strength * curve``.
    Both curves are monotone increasing.

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) or (H, W) float image in [0, 1].
    white : float
        Scene value of input 1, in [0.1, 100].
    strength : float
        Blend with the input, in [0, 1]; 0 is the identity.
    curve : str
        ``"hable"`` (J. Hable's 2010 filmic curve) or ``"aces"`` (K. Narkowicz's
        2016 fit of the ACES curve).

    Returns
    -------
    numpy.ndarray
        float32 toned image.

    Examples
    --------
    >>> import numpy as np
    >>> y = filmic(np.array([[0.0, 0.5, 1.0]]))
    >>> y[0, 0], y[0, 2], bool(y[0, 1] > 0.5)
    (np.float32(0.0), np.float32(1.0), True)
    """
    curves = {"hable": _hable, "aces": _aces}
    if curve not in curves:
        raise ValueError(f"unknown filmic curve {curve!r} (known: hable, aces)")
    w = _check("white", white, 0.1, 100.0)
    s = _check("strength", strength, 0.0, 1.0)
    a = _unit_copy(img)
    if s == 0.0:
        return a
    fn = curves[curve]
    x = a.astype(np.float64)
    toned = fn(x * w) / fn(np.asarray(w, np.float64))
    return _finish((1.0 - s) * x + s * toned)


# ------------------------------------------------------------------- local contrast


def flatten_illumination(
    img: np.ndarray,
    sigma: float = 40.0,
    strength: float = 1.0,
    mask: np.ndarray | None = None,
    sky_threshold: float = 0.02,
    max_gain: float = 8.0,
    *,
    out: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Even out large-scale brightness (terminator, limb darkening): the "enhanced" look.

    The luminance is blurred heavily with a Gaussian of ``sigma`` pixels using
    normalised convolution over the valid pixels only, so black sky does not bleed
    into the limb. Every pixel is multiplied by ``(mean / blurred) ** strength``, the
    gain limited to ``[1 / max_gain, max_gain]``; ``mean`` is the mean valid
    luminance, so the overall brightness stays about the same. Colours keep their
    ratios. Pixels outside a given ``mask`` are not changed; with the automatic mask
    the gain fades smoothly to 1 away from valid pixels (deep sky), so there is no
    seam at the threshold.

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) or (H, W) float image in [0, 1].
    sigma : float
        Blur scale in pixels, in [1, 1000]; about a tenth of the disc diameter.
    strength : float
        In [0, 2]; 0 is the identity, 1 flattens fully, values in between partly.
    mask : numpy.ndarray, optional
        Bool (H, W), True on valid pixels. When None, pixels whose luminance is
        above ``sky_threshold`` are valid.
    sky_threshold : float
        Luminance below which a pixel is sky when no mask is given, in [0, 1).
    max_gain : float
        Largest brightening (and 1 / largest darkening) factor, in [1, 100].
    out : numpy.ndarray, optional
        float32 array of ``img``'s shape the result is written into (``img`` itself
        to work in place: the result is made a band of rows at a time, without a
        second full-size image); default a new array.
    weight : numpy.ndarray, optional
        float32 (H, W) blend per pixel: the result is ``img + weight (f(img) -
        img)`` (1 everywhere is the plain result; the pipeline passes its target
        weight, so that the sky keeps its values).

    Returns
    -------
    numpy.ndarray
        float32 image (values that would exceed 1 are clipped).

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.tile(np.linspace(0.1, 0.9, 64, dtype=np.float32), (64, 1))
    >>> flat = flatten_illumination(ramp, sigma=8)
    >>> bool(flat[:, 48:].std() < ramp[:, 48:].std() / 2)
    True
    """
    sigma = _check("sigma", sigma, 1.0, 1000.0)
    strength = _check("strength", strength, 0.0, 2.0)
    _check("sky_threshold", sky_threshold, 0.0, 0.999)
    max_gain = _check("max_gain", max_gain, 1.0, 100.0)
    src = _checked_image(img)
    _checked_out(out, src.shape)
    weight = _checked_weight(weight, src.shape)

    if strength == 0.0:
        return _unchanged(src, out, weight)
    # the luminance of the clipped image, a band of rows at a time (the same values
    # as of the whole image: no full-size copy of it)
    if src.ndim == 2:
        # read only: the image itself when clipping would not change it
        lo_hi = (np.min(src), np.max(src)) if src.dtype == np.float32 else None
        inside = lo_hi is not None and bool(lo_hi[0] >= 0.0) and bool(lo_hi[1] <= 1.0)
        lum = src if inside else _unit_copy(src)
    else:
        lum = np.empty(src.shape[:2], np.float32)
        for rs in _row_chunks(src.shape[0]):
            lum[rs] = _unit_copy(src[rs]) @ _LUMA
    valid = _valid(mask, src.shape) if mask is not None else lum > sky_threshold
    if not valid.any():
        return _unchanged(src, out, weight)
    target = float(lum[valid].mean(dtype=np.float64))
    if target <= 0.0:
        return _unchanged(src, out, weight)
    num_c, den_c, k = _masked_blur_coarse(lum, valid, sigma)
    del lum
    if k > 1:
        num_at, den_at = _upsampler(num_c, k, valid.shape), _upsampler(den_c, k, valid.shape)
    else:
        num_at, den_at = (lambda rs: num_c[rs]), (lambda rs: den_c[rs].copy())

    def flattened(rs: slice) -> np.ndarray:
        # gain = clip((target / max(num / max(den, eps), target / max_gain)) ** strength),
        # a band of rows at a time
        den = den_at(rs)
        gain = np.maximum(den, np.float32(1e-6))
        np.divide(num_at(rs), gain, out=gain)
        np.maximum(gain, np.float32(target / max_gain), out=gain)
        np.divide(np.float32(target), gain, out=gain)
        np.power(gain, np.float32(strength), out=gain)
        np.clip(gain, 1.0 / max_gain, max_gain, out=gain)
        if mask is not None:
            # pixels the caller declared invalid (no data, sky) are left as they are
            gain[~valid[rs]] = 1.0
        else:
            # fade to gain 1 where hardly any valid pixel is near (deep sky): no seam
            # at the automatic sky threshold
            fade = np.divide(den, np.float32(0.25), out=den)
            np.clip(fade, 0.0, 1.0, out=fade)
            gain -= 1.0
            gain *= fade
            gain += 1.0
        return _finish(apply_per_pixel(_unit_copy(src[rs]), gain))

    # bands of 64 rows: each makes several float32 temporaries of its size
    h = src.shape[0]
    bands = [slice(r, min(r + 64, h)) for r in range(0, h, 64)]
    return _by_rows(src, flattened, out, weight, bands)


def clahe(
    img: np.ndarray,
    clip_limit: float = 0.01,
    kernel_size: int | None = None,
    amount: float = 1.0,
    *,
    grey_as_rgb: bool = False,
    out: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of the lightness only.

    RGB images are converted to CIE Lab (sRGB, D65, :mod:`skimage.color`'s
    definition; L* bit for bit as skimage gives it), the L channel is equalised as
    :func:`skimage.exposure.equalize_adapthist` does (the same values) and mapped
    back to its original range, and a and b are kept, so hues do not shift. The result is blended
    with the input by ``amount``. A grey (H, W) image is equalised by its values, or
    with ``grey_as_rgb`` as the RGB picture (v, v, v) would be (by its L*), one
    channel kept.

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) or (H, W) float image in [0, 1].
    clip_limit : float
        Contrast limit of skimage, in (0, 1]; higher gives more local contrast.
    kernel_size : int, optional
        Tile size in pixels, 8 to 4096; default 1/8 of the image (skimage's default).
    amount : float
        Blend with the input, in [0, 1]; 0 is the identity.
    grey_as_rgb : bool
        For a grey image: equalise L* of its RGB picture (what the same grey as
        three equal channels gets), not the values themselves.
    out : numpy.ndarray, optional
        float32 array of ``img``'s shape the result is written into (``img`` itself
        to work in place: the result is made a band of rows at a time, without a
        second full-size image); default a new array.
    weight : numpy.ndarray, optional
        float32 (H, W) blend per pixel: the result is ``img + weight (f(img) -
        img)`` (1 everywhere is the plain result; the pipeline passes its target
        weight, so that the sky keeps its values).

    Returns
    -------
    numpy.ndarray
        float32 image.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> dull = (0.4 + 0.05 * rng.random((64, 64))).astype(np.float32)
    >>> bool(clahe(dull, 0.03).std() > dull.std())
    True
    >>> as_rgb = clahe(np.repeat(dull[..., None], 3, axis=-1), 0.03)[..., 0]
    >>> bool(np.array_equal(clahe(dull, 0.03, grey_as_rgb=True), as_rgb))
    True
    """
    _check("clip_limit", clip_limit, 0.0, 1.0, lo_open=True)
    amount = _check("amount", amount, 0.0, 1.0)
    if kernel_size is not None and (
        int(kernel_size) != kernel_size or not 8 <= kernel_size <= 4096
    ):
        raise ValueError(f"kernel_size must be an integer from 8 to 4096, got {kernel_size}")
    src = _checked_image(img)
    _checked_out(out, src.shape)
    weight = _checked_weight(weight, src.shape)

    if amount == 0.0:
        return _unchanged(src, out, weight)
    # bands of rows a quarter of the usual: a band's Lab temporaries are several
    # float32 copies of three channels (of a grey image too)
    step = _CHUNK_ROWS // 4
    rows = [slice(r, min(r + step, src.shape[0])) for r in range(0, src.shape[0], step)]
    lab_of = src.ndim == 3 or grey_as_rgb

    def rgb_rows(rs: slice) -> np.ndarray:
        a = _unit_copy(src[rs])
        return a if a.ndim == 3 or not lab_of else np.repeat(a[..., None], 3, axis=-1)

    def linear_rows(rs: slice) -> np.ndarray:
        # the sRGB decoding is per value: a grey's three equal channels are decoded
        # once (the same values as decoding the repeated picture)
        if src.ndim == 3:
            return _srgb_to_linear(rgb_rows(rs))
        return np.repeat(_srgb_to_linear(_unit_copy(src[rs]))[..., None], 3, axis=-1)

    # Only the lightness is held at full size while skimage equalises it (skimage
    # itself needs about 12 times its input): Lab is made a band of rows at a time,
    # once to take L out and once more to put the equalised L back.
    if lab_of:
        light = np.empty(src.shape[:2], np.float32)
        for rs in rows:
            light[rs] = _lightness(linear_rows(rs))
    else:
        light = _unit_copy(src)
    lo, hi = float(light.min()), float(light.max())
    if hi - lo <= 1e-9:
        return _unchanged(src, out, weight)
    light -= lo
    light /= hi - lo
    np.clip(light, 0.0, 1.0, out=light)
    box = [light]
    del light  # the equaliser frees it once it has the 16-bit levels
    eq_rows = _equalized_rows(
        box, None if kernel_size is None else int(kernel_size), float(clip_limit)
    )

    def equalised(rs: slice) -> np.ndarray:
        a = rgb_rows(rs)
        eq = eq_rows(rs)  # the equalised lightness back in its original range
        eq *= hi - lo
        eq += lo
        if lab_of:
            # L* replaced, a* and b* kept: fx and fz move with fy
            f = _lab_fs(linear_rows(rs))
            fy = eq * np.float32(100.0 / 116.0)
            fy += np.float32(16.0 / 116.0)
            fy -= f[..., 1]  # the change of fy
            apply_per_pixel(f, fy, np.add)
            res = _rgb_of_lab_fs(f)
        else:
            res = eq
        # blend: (1 - amount) a + amount res
        a *= 1.0 - amount
        a += amount * res
        return _finish(a if a.ndim == src.ndim else np.ascontiguousarray(a[..., 0]))

    # each band reads its own rows of src only: out may be src itself
    return _by_rows(src, equalised, out, weight, rows)


#: Output tiles of CLAHE per band of rows (each band also reads one tile above and
#: one below): fewer is less memory, more is less repeated work. Measured on the
#: lightness of 44C00029 and 43C00080 (default 8 x 8 tiles, CPU time, median of 9):
#: 2 tiles took 1.30-1.37x the whole image's time with a peak of 6.9x the lightness;
#: 3 tiles the whole image's time (1.00-1.01x) at 8.1x; the whole image 12.7x.
_CLAHE_TILES_PER_BAND = 3


def _equalize_by_bands(light: np.ndarray, kernel_size: int | None, clip_limit: float) -> np.ndarray:
    """``skimage.exposure.equalize_adapthist(light, kernel_size, clip_limit)`` as float32,
    the same values computed a band of tile rows at a time.

    skimage needs about 12 times its input while it equalises a whole image. Its
    steps are: 16-bit levels rescaled to 14 bits over the image's range, CLAHE on
    tiles whose grid starts at row 0 (each tile's mapping from its own pixels; a
    row interpolates the mappings of the two tiles whose centres bracket it), and
    the result rescaled to [0, 1] over its range. Here the two rescalings use the
    whole image's range a band of rows at a time, and CLAHE runs on bands of
    :data:`_CLAHE_TILES_PER_BAND` tile rows read with one whole tile of margin
    above and below, so every kept row sees the tiles and interpolation it sees in
    the whole image. The CLAHE of a band is :func:`_clahe_2d`, skimage's core
    rewritten for speed with its histogram clipping and mapping functions.
    ``tests/test_perf_equivalence.py`` checks the result equals
    ``equalize_adapthist``'s; without those skimage functions (a private module)
    the whole image goes to ``equalize_adapthist``.
    """
    rows = _equalized_rows([np.array(light, np.float32)], kernel_size, clip_limit)
    return _assembled(rows, light.shape)


def _equalized_rows(
    box: list[np.ndarray], kernel_size: int | None, clip_limit: float
) -> Callable[[slice], np.ndarray]:
    """:func:`_equalize_by_bands` of the lightness in ``box`` (taken out of it), as
    ``rows(rs)``: float32 rows of the result, made from the equalised 16-bit levels
    when asked (the same values; the whole float32 result is never held).

    The lightness (float32, C-contiguous; this function's own) lends its buffer:
    its 16-bit levels are written over its first half, a band of rows at a time,
    each band read before the bytes it becomes are written (the levels' rows a to b
    lie over the lightness' rows a / 2 to b / 2), and the equalised levels fill the
    second half. No other full-size array is made.
    """
    from skimage.exposure import equalize_adapthist, rescale_intensity
    from skimage.util import img_as_uint

    light = box.pop()
    try:
        from skimage.exposure._adapthist import NR_OF_GRAY, clip_histogram, map_histogram
    except ImportError:  # pragma: no cover - a scikit-image without that core
        eq = np.asarray(
            equalize_adapthist(light, kernel_size=kernel_size, clip_limit=clip_limit), np.float32
        )
        return lambda rs: eq[rs].copy()
    h, w = light.shape
    ks = (max(h // 8, 1), max(w // 8, 1)) if kernel_size is None else (kernel_size, kernel_size)
    rows = _row_chunks(h)
    if light.dtype != np.float32 or not light.flags.c_contiguous:
        light = np.ascontiguousarray(light, np.float32)
    buffer = light.reshape(-1).view(np.uint16)  # 2 h w 16-bit values
    levels = buffer[: h * w].reshape(h, w)
    for rs in rows:
        levels[rs] = img_as_uint(light[rs])  # the band is read, then written over
    del light
    lo, hi = float(levels.min()), float(levels.max())
    for rs in rows:
        levels[rs] = np.round(
            rescale_intensity(levels[rs], in_range=(lo, hi), out_range=(0, NR_OF_GRAY - 1))
        ).astype(np.uint16)
    mapped = buffer[h * w :].reshape(h, w)  # over lightness rows already read
    tile = ks[0]
    step = tile * _CLAHE_TILES_PER_BAND
    for r0 in range(0, h, step):
        r1 = min(r0 + step, h)
        a0, a1 = max(r0 - tile, 0), min(r1 + tile, h)
        _clahe_2d(
            levels[a0:a1],
            ks,
            clip_limit,
            256,
            NR_OF_GRAY,
            clip_histogram,
            map_histogram,
            keep=slice(r0 - a0, r1 - a0),
            out=mapped[r0:r1],
        )
    del levels
    lo, hi = float(mapped.min()), float(mapped.max())

    def unit_rows(rs: slice) -> np.ndarray:
        return np.asarray(
            rescale_intensity(
                mapped[rs].astype(np.float32), in_range=(lo, hi), out_range=(0.0, 1.0)
            ),
            np.float32,
        )

    return unit_rows


def _clahe_2d(
    image: np.ndarray,
    kernel_size: tuple[int, int],
    clip_limit: float,
    nbins: int,
    n_grey: int,
    clip_histogram: Callable[..., np.ndarray],
    map_histogram: Callable[..., np.ndarray],
    keep: slice | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``skimage.exposure._adapthist._clahe`` of a 2-D uint16 image, bit for bit, four
    to six times faster.

    ``keep`` (rows of ``image``, a step of 1) returns only those rows of the result:
    the histograms are those of the whole image, the other rows are not
    interpolated. ``out`` (uint16, those rows' shape) receives them.

    skimage's steps and arithmetic, kept: the image padded by reflection (half a
    tile before, up to a whole tile plus a half after), grey levels binned
    (``level // (1 + n_grey // nbins)``), one clipped, equalised histogram per tile
    of the grid that starts at row and column 0 (skimage's own ``clip_histogram``
    and ``map_histogram``, passed in), edge mappings repeated around the grid, and
    each pixel the sum, in float32 and in skimage's order, of its four surrounding
    tiles' integer mappings times float64 weights (column fraction times row
    fraction), truncated to uint16. The speed: histograms by one ``bincount``, and
    the mappings read with ``np.take`` from each tile row's small table, a row of
    tiles at a time and only for the rows and columns kept, where skimage regroups
    the whole padded image into blocks and gathers with ``take_along_axis``.
    ``tests/test_enhance_speed.py`` compares the two.
    """
    kr, kc = kernel_size
    h, w = image.shape
    p0, p1 = kr // 2, kc // 2
    padded = np.pad(
        image,
        [[p0, (kr - h % kr) % kr + -(-kr // 2)], [p1, (kc - w % kc) % kc + -(-kc // 2)]],
        mode="reflect",
    )
    bins = np.floor_divide(padded, np.uint16(1 + n_grey // nbins), out=padded)  # its own copy
    nh, nw = padded.shape[0] // kr - 1, padded.shape[1] // kc - 1
    region = bins[p0 : p0 + nh * kr, p1 : p1 + nw * kc].reshape(nh, kr, nw, kc)
    # the histograms a tile row and a block of its rows at a time: the bins' indices
    # (int64) are then small temporaries instead of the band's size eight times over
    col_tile = (np.arange(nw) * nbins)[None, :, None]
    hist = np.zeros((nh, nw * nbins), np.intp)
    for ti in range(nh):
        for b0 in range(0, kr, _CLAHE_BLOCK_ROWS):
            part = region[ti, b0 : b0 + _CLAHE_BLOCK_ROWS] + col_tile
            hist[ti] += np.bincount(part.ravel(), minlength=nw * nbins)
    hist = hist.reshape(nh * nw, nbins)
    elements = kr * kc
    clim = int(np.clip(clip_limit * elements, 1, None)) if clip_limit > 0.0 else elements
    hist = np.apply_along_axis(clip_histogram, -1, hist, clip_limit=clim)
    maps = map_histogram(hist, 0, n_grey - 1, elements).reshape(nh, nw, nbins)
    # edge mappings repeated around the grid; float64 holds the integers exactly
    table = np.pad(maps, [[1, 1], [1, 1], [0, 0]], mode="edge").astype(np.float64)
    table = table.reshape(nh + 2, (nw + 2) * nbins)
    cols = np.arange(p1, p1 + w)
    base = (cols // kc) * nbins  # the column's tile in a tile row's table
    cfrac = (cols % kc) / kc
    col_w = (1 - cfrac, cfrac)
    rfrac_all = np.arange(kr) / kr
    k0, k1 = (0, h) if keep is None else (keep.start or 0, h if keep.stop is None else keep.stop)
    if out is None:
        out = np.empty((k1 - k0, w), np.uint16)
    for bi in range(nh + 1):  # the rows between the centres of tile rows bi - 1 and bi
        t_lo, t_hi = max(bi * kr, p0 + k0), min((bi + 1) * kr, p0 + k1)
        # a block of those rows at a time (each pixel's own sum: the same values)
        for r_lo in range(t_lo, t_hi, _CLAHE_BLOCK_ROWS):
            r_hi = min(r_lo + _CLAHE_BLOCK_ROWS, t_hi)
            rfrac = rfrac_all[r_lo - bi * kr : r_hi - bi * kr]
            row_w = (1 - rfrac, rfrac)
            idx = bins[r_lo:r_hi, p1 : p1 + w] + base[None, :]
            acc = np.zeros(idx.shape, np.float32)
            for e0 in (0, 1):
                for e1 in (0, 1):
                    v = np.take(table[bi + e0, e1 * nbins :], idx)
                    v *= col_w[e1][None, :] * row_w[e0][:, None]
                    acc += v.astype(np.float32)
            out[r_lo - p0 - k0 : r_hi - p0 - k0] = acc.astype(np.uint16)
    return out


#: Rows per block of :func:`_clahe_2d`'s histograms and interpolation: their int64
#: and float64 temporaries stay small (64 rows of 1648 samples: 0.8 MB each).
_CLAHE_BLOCK_ROWS = 64


#: Rows of output per band of :func:`_gaussian_along_lines` (its source rows, with
#: the kernel's margins, stay in the CPU cache while the taps are summed).
_BLUR_ROWS = 32


def _gaussian_along_lines(a: np.ndarray, sigma: float, truncate: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d(a, sigma, axis=0, mode="reflect",
    truncate=truncate)`` of a float32 (H, ...) array, to float32 rounding.

    scipy filters along the first axis one column at a time, gathering each strided
    column into a buffer (2-3 times its time along the last axis). Here the kernel's
    symmetric taps are summed over whole rows, ``k0 x[r] + sum_j kj (x[r - j] +
    x[r + j])`` in float32, a band of :data:`_BLUR_ROWS` rows at a time so that its
    source rows are reused from the cache; edges are mirrored as scipy's
    ``"reflect"`` (``d c b a | a b c d``). The same scipy kernel; sums in float32
    instead of float64 (``tests/test_enhance_speed.py``: within 4e-7 of scipy on
    [0, 1] images).
    """
    h = a.shape[0]
    flat = a.reshape(h, -1)
    radius, k = _gaussian_taps(sigma, truncate)
    out = np.empty_like(flat)
    tmp = np.empty((_BLUR_ROWS, flat.shape[1]), np.float32)
    for r0 in range(0, h, _BLUR_ROWS):
        n = min(_BLUR_ROWS, h - r0)
        _blur_rows(flat[_reflected_rows(r0 - radius, r0 + n + radius, h)], k, out[r0 : r0 + n], tmp)
    return out.reshape(a.shape)


def _gaussian_taps(sigma: float, truncate: float) -> tuple[int, np.ndarray]:
    """The radius and float32 taps of scipy's Gaussian kernel (``_gaussian_kernel1d``,
    order 0)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 / (float(sigma) * float(sigma)) * x * x)
    return radius, (k / k.sum()).astype(np.float32)


def _reflected_rows(start: int, stop: int, h: int) -> np.ndarray:
    """Rows ``start..stop-1`` of an image of ``h`` rows, mirrored at its edges as scipy's
    ``"reflect"`` (one period repeated for a kernel longer than the image)."""
    idx = np.arange(start, stop) % (2 * h)
    return np.where(idx >= h, 2 * h - 1 - idx, idx)


def _blur_rows(src: np.ndarray, k: np.ndarray, o: np.ndarray, tmp: np.ndarray) -> None:
    """Rows of the blur along the lines into ``o`` (n rows) from its ``n + 2 radius``
    source rows ``src`` (2-D), the symmetric taps summed over whole rows."""
    radius = (k.size - 1) // 2
    n = o.shape[0]
    np.multiply(src[radius : radius + n], k[radius], out=o)
    t = tmp[:n]
    for j in range(1, radius + 1):
        np.add(src[radius - j : radius - j + n], src[radius + j : radius + j + n], out=t)
        t *= k[radius + j]
        o += t


def unsharp(
    img: np.ndarray,
    radius: float = 2.0,
    amount: float = 0.5,
    *,
    out: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Unsharp masking: add ``amount`` x (image - Gaussian blur of ``radius``).

    Each channel is blurred on its own (:func:`scipy.ndimage.gaussian_filter`, mirrored
    edges, float32). Not :func:`skimage.filters.unsharp_mask`: with ``channel_axis=-1``
    scikit-image up to at least 0.26 fills only the first rows of its output and leaves
    the rest uninitialised (scikit-image issue 7264).

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) or (H, W) float image in [0, 1].
    radius : float
        Gaussian sigma in pixels, in (0, 100].
    amount : float
        Strength, in [0, 10]; 0 is the identity.
    out : numpy.ndarray, optional
        float32 array of ``img``'s shape the result is written into (``img`` itself
        to work in place: the result is made a band of rows at a time, without a
        second full-size image); default a new array.
    weight : numpy.ndarray, optional
        float32 (H, W) blend per pixel: the result is ``img + weight (f(img) -
        img)`` (1 everywhere is the plain result; the pipeline passes its target
        weight, so that the sky keeps its values).

    Returns
    -------
    numpy.ndarray
        float32 sharpened image.

    Examples
    --------
    >>> import numpy as np
    >>> edge = np.zeros((8, 8), np.float32); edge[:, 4:] = 0.5
    >>> s = unsharp(edge, 1.0, 1.0)
    >>> bool(s[0, 4] > 0.5 and s[0, 3] == 0.0)
    True
    """
    radius = _check("radius", radius, 0.0, 100.0, lo_open=True)
    amount = _check("amount", amount, 0.0, 10.0)
    if out is not None or weight is not None:
        return _unsharp_by_rows(_checked_image(img), radius, amount, out, weight)
    a = _unit_copy(img)
    if amount == 0.0:
        return a
    # the blur along the lines (axis 0) by bands of rows, then scipy's along the
    # samples: gaussian_filter(a, (radius, radius, 0), mode="reflect", truncate=4)
    detail = _gaussian_along_lines(a, radius, 4.0)
    ndimage.gaussian_filter1d(detail, radius, axis=1, mode="reflect", truncate=4.0, output=detail)
    np.subtract(a, detail, out=detail)  # the blur's buffer becomes the detail
    detail *= np.float32(amount)
    a += detail
    return _finish(a)


def _unsharp_by_rows(
    src: np.ndarray,
    radius: float,
    amount: float,
    out: np.ndarray | None,
    weight: np.ndarray | None,
) -> np.ndarray:
    """:func:`unsharp` made a band of rows at a time (the same values), blended by
    ``weight`` and written into ``out``, which may be ``src`` itself.

    A band of the result reads the rows of ``src`` within the blur's radius of it;
    each band is written into ``out`` once the next one has been made, so with
    bands at least as high as the radius every band reads rows not yet written.
    """
    _checked_out(out, src.shape)
    weight = _checked_weight(weight, src.shape)
    h = src.shape[0]
    if out is None:
        out = np.empty(src.shape, np.float32)
    reach, k = _gaussian_taps(radius, 4.0)
    band = max(_CHUNK_ROWS, reach)
    pending: tuple[slice, np.ndarray] | None = None
    for r0 in range(0, h, band):
        rs = slice(r0, min(r0 + band, h))
        n = rs.stop - r0
        if amount == 0.0:
            new = _unit_copy(src[rs])
        else:
            ext = _unit_copy(src[_reflected_rows(r0 - reach, rs.stop + reach, h)])
            flat = ext.reshape(ext.shape[0], -1)
            detail = np.empty((n, flat.shape[1]), np.float32)
            tmp = np.empty((_BLUR_ROWS, flat.shape[1]), np.float32)
            for s0 in range(0, n, _BLUR_ROWS):
                m = min(_BLUR_ROWS, n - s0)
                _blur_rows(flat[s0 : s0 + m + 2 * reach], k, detail[s0 : s0 + m], tmp)
            detail = detail.reshape((n,) + src.shape[1:])
            ndimage.gaussian_filter1d(
                detail, radius, axis=1, mode="reflect", truncate=4.0, output=detail
            )
            new = ext[reach : reach + n]
            np.subtract(new, detail, out=detail)
            detail *= np.float32(amount)
            new += detail
            del detail, ext, flat
            new = _finish(new)
        new = _blend_rows(new, src[rs], None if weight is None else weight[rs])
        if pending is not None:
            out[pending[0]] = pending[1]
        pending = (rs, new)
    if pending is not None:
        out[pending[0]] = pending[1]
    return out


# --------------------------------------------------------------------------- colour


def saturation(
    img: np.ndarray,
    factor: float = 1.0,
    vibrance: float = 0.0,
    chroma_ref: float = 60.0,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Change colourfulness in CIE LCh, keeping lightness and hue.

    Chroma C becomes ``C * factor * (1 + vibrance * (1 - min(C / chroma_ref, 1)))``:
    ``factor`` scales all colours alike, ``vibrance`` boosts muted colours more than
    already vivid ones (at ``chroma_ref`` and above it has no effect). Conversion as
    :mod:`skimage.color` defines it (sRGB, D65; the same values to float32 rounding,
    computed on f(X/Xn), f(Y/Yn), f(Z/Zn) directly); out-of-gamut results are clipped.

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) float image in [0, 1]; grey images are returned unchanged.
    factor : float
        In [0, 5]; 1 is the identity, 0 makes the image grey.
    vibrance : float
        In [0, 5]; 0 is off.
    chroma_ref : float
        Chroma (Lab units) where vibrance fades out, in (0, 200].
    out : numpy.ndarray, optional
        float32 array of ``img``'s shape the result is written into (``img`` itself
        to work in place, without a second full-size image); default a new array.

    Returns
    -------
    numpy.ndarray
        float32 image.

    Examples
    --------
    >>> import numpy as np
    >>> px = np.array([[[0.6, 0.4, 0.3]]], np.float32)
    >>> grey = saturation(px, 0.0)[0, 0]
    >>> bool(np.ptp(grey) < 1e-3), bool(np.ptp(saturation(px, 1.5)) > np.ptp(px))
    (True, True)
    """
    factor = _check("factor", factor, 0.0, 5.0)
    vibrance = _check("vibrance", vibrance, 0.0, 5.0)
    chroma_ref = _check("chroma_ref", chroma_ref, 0.0, 200.0, lo_open=True)
    a = _unit_copy(img, out=out)
    if a.ndim == 2 or (factor == 1.0 and vibrance == 0.0):
        return a
    for rs in _row_chunks(a.shape[0]):  # pixel-wise: converted in place by rows
        f = _lab_fs(_srgb_to_linear(a[rs]))
        fy = f[..., 1].copy()  # (ascontiguousarray would alias a one-pixel-wide f)
        apply_per_pixel(f, fy, np.subtract)  # (fx - fy, 0, fz - fy): a* / 500, -b* / 200
        if vibrance:
            chroma = np.hypot(f[..., 0] * np.float32(500.0), f[..., 2] * np.float32(200.0))
            scale = np.minimum(chroma / np.float32(chroma_ref), np.float32(1.0))
            np.subtract(np.float32(1.0), scale, out=scale)
            scale *= np.float32(factor * vibrance)
            scale += np.float32(factor)
            apply_per_pixel(f, scale)
        else:
            f *= np.float32(factor)
        apply_per_pixel(f, fy, np.add)  # fy itself (L*) is kept: f[..., 1] was 0
        a[rs] = _rgb_of_lab_fs(f)
    return _finish(a)


def true_color_matrix(
    img: np.ndarray, matrix: str | Sequence[float] | Sequence[Sequence[float]] = "approx"
) -> np.ndarray:
    """Apply a 3x3 colour matrix, ``out[..., i] = sum_j M[i, j] * in[..., j]``.

    Parameters
    ----------
    img : numpy.ndarray
        (H, W, 3) float image in [0, 1], linear and white-balanced. Grey images are
        returned unchanged.
    matrix : str or sequence
        A name from :data:`TRUE_COLOR_MATRICES` (``"approx"``: an approximate
        JunoCam-to-sRGB matrix chosen for this project, NOT a measured calibration;
        ``"identity"``), or 9 numbers in row order, or 3 rows of 3; each entry in
        [-10, 10].

    Returns
    -------
    numpy.ndarray
        float32 image, clipped to [0, 1].

    Raises
    ------
    ValueError
        For an unknown name or a matrix that is not 3x3 finite numbers in range.

    Examples
    --------
    >>> import numpy as np
    >>> grey = np.full((1, 1, 3), 0.5, np.float32)
    >>> true_color_matrix(grey)[0, 0].round(4).tolist()
    [0.5, 0.5, 0.5]
    """
    if isinstance(matrix, str):
        if matrix not in TRUE_COLOR_MATRICES:
            known = ", ".join(sorted(TRUE_COLOR_MATRICES))
            raise ValueError(f"unknown colour matrix {matrix!r} (known: {known})")
        matrix = TRUE_COLOR_MATRICES[matrix]
    try:
        m = np.asarray(matrix, dtype=np.float64).reshape(3, 3)
    except (ValueError, TypeError):
        raise ValueError(f"matrix must be 9 numbers or 3 rows of 3, got {matrix!r}") from None
    if not np.isfinite(m).all() or np.abs(m).max() > 10:
        raise ValueError(f"matrix entries must be finite numbers in [-10, 10], got {matrix!r}")
    a = _unit_copy(img)
    if a.ndim == 2 or np.array_equal(m, np.eye(3)):
        return a
    return _finish(a @ m.T.astype(np.float32))


def methane_false_color(
    methane: np.ndarray,
    red: np.ndarray,
    blue: np.ndarray,
    low: float = 0.5,
    high: float = 99.5,
    mask: np.ndarray | None = None,
    normalise: bool = True,
) -> np.ndarray:
    """False-colour composite: methane as red, red as green, blue as blue.

    The 889 nm methane band shows high hazes and clouds bright, deep clouds dark;
    putting it in the red channel next to the visible red and blue bands is the
    usual methane composite. The methane signal is much weaker than the visible
    bands (longer exposures, lower DN), so each band is stretched on its own.

    Parameters
    ----------
    methane, red, blue : numpy.ndarray
        float (H, W) band images on the same grid, any linear scale.
    low, high : float
        Percentiles of the per-band stretch, 0 <= low < high <= 100.
    mask : numpy.ndarray, optional
        Bool (H, W), True on valid pixels (used for the percentiles).
    normalise : bool
        Stretch each band (True). When False the bands are used as they are,
        clipped to [0, 1].

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) composite in [0, 1].

    Raises
    ------
    ValueError
        If the bands are not 2-D of one shape, or a percentile is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.linspace(0, 50, 12, dtype=np.float32).reshape(3, 4)
    >>> rgb = methane_false_color(m, m * 20, m * 30)
    >>> rgb.shape, bool(np.allclose(rgb[..., 0], rgb[..., 2], atol=1e-6))
    ((3, 4, 3), True)
    """
    bands = [np.asarray(b) for b in (methane, red, blue)]
    names = ("methane", "red", "blue")
    for n, b in zip(names, bands, strict=True):
        if b.ndim != 2:
            raise ValueError(f"{n} band must be 2-D (H, W), got shape {b.shape}")
    if len({b.shape for b in bands}) != 1:
        shapes = ", ".join(f"{n} {b.shape}" for n, b in zip(names, bands, strict=True))
        raise ValueError(f"bands must share one grid; got {shapes}")
    rgb = _as_image(np.stack(bands, axis=-1), "bands")
    if not normalise:
        _check("low", low, 0.0, 100.0)
        _check("high", high, 0.0, 100.0)
        return _finish(rgb)
    return stretch(rgb, low=low, high=high, linked=False, mask=mask)


def implausible_colour(
    img: np.ndarray, mask: np.ndarray | None = None, ratio: float = 0.08, bright: float = 0.1
) -> np.ndarray:
    """Pixels whose weakest channel is under ``ratio`` of the strongest (and that bright).

    On a planet no colour is that pure: such a pixel shows one or two bands only, a
    rim left at a sharp limb by the bands' sub-pixel offsets and sharpened, or a
    band's spill. ``bright`` (of the strongest channel, [0, 1]) leaves the sky's
    noise alone.

    Examples
    --------
    >>> img = np.full((1, 3, 3), 0.5, np.float32); img[0, 1] = (0.6, 0.5, 0.01)
    >>> implausible_colour(img).tolist()
    [[False, True, False]]
    """
    a = _as_image(img)
    if a.ndim == 2:
        return np.zeros(a.shape, bool)
    return _implausible(a, _valid(mask, a.shape), ratio, bright)


def channel_range(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The strongest and the weakest channel of every pixel of an (H, W, 3+) image.

    Examples
    --------
    >>> s, w = channel_range(np.array([[[0.2, 0.6, 0.4]]], np.float32))
    >>> float(s[0, 0]), float(w[0, 0])
    (0.6000000238418579, 0.20000000298023224)
    """
    # channel by channel: a reduction over a last axis of 3 is many times slower
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)


def _implausible(a: np.ndarray, valid: np.ndarray, ratio: float, bright: float) -> np.ndarray:
    strongest, weakest = channel_range(a)
    return (strongest >= bright) & (weakest < ratio * strongest) & valid


def defringe(
    img: np.ndarray,
    mask: np.ndarray | None = None,
    ratio: float = 0.08,
    bright: float = 0.1,
    radius: float = 3.0,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Give pixels of an implausible colour the colour of their neighbourhood.

    At the limb the bands' residual sub-pixel offsets (a few tenths of a pixel) and
    the sharpening leave a one- or two-pixel rim where one band is missing: a cyan,
    yellow or red line around the planet. Those pixels (:func:`implausible_colour`)
    keep their luminance and take the chromaticity of the plausible pixels within
    ``radius`` (a normalised Gaussian average); every other pixel is unchanged.

    Parameters
    ----------
    img : numpy.ndarray
        float (H, W, 3) in [0, 1].
    mask : numpy.ndarray of bool, optional
        Where the image has data.
    ratio, bright : float
        See :func:`implausible_colour`.
    radius : float
        Gaussian sigma of the neighbourhood, pixels.
    out : numpy.ndarray, optional
        float32 array of ``img``'s shape the result is written into (``img`` itself
        to work in place, without a second full-size image); default a new array.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) in [0, 1].

    Examples
    --------
    >>> img = np.tile(np.array([0.6, 0.4, 0.2], np.float32), (5, 5, 1))
    >>> img[2, 2] = (0.0, 0.5, 0.45)                      # a cyan rim pixel
    >>> fixed = defringe(img)
    >>> [round(float(v), 2) for v in fixed[2, 2] / fixed[2, 2].max()]
    [1.0, 0.67, 0.33]
    >>> bool((fixed[0, 0] == img[0, 0]).all())
    True
    """
    out = a = _as_image(img, out=out)  # a fresh float32 copy (or out): changed in place
    if a.ndim == 2:
        return out
    valid = _valid(mask, a.shape)
    # a band of rows at a time: the channel range is two float32 images
    bad = np.empty(a.shape[:2], bool)
    for rs in _row_chunks(a.shape[0]):
        bad[rs] = _implausible(a[rs], valid[rs], ratio, bright)
    if not bad.any():
        return out
    ok = ~bad & valid
    ys, xs = np.nonzero(bad)
    # a Gaussian average over the plausible neighbours of each bad pixel, gathered
    # at the bad pixels only (a thin rim: a few thousand of millions of pixels)
    r = int(np.ceil(2.5 * radius))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    g = np.exp(-(dy**2 + dx**2) / (2.0 * radius**2)).astype(np.float32).ravel()
    h, w = a.shape[:2]
    yy = np.clip(ys[:, None] + dy.ravel()[None, :], 0, h - 1)
    xx = np.clip(xs[:, None] + dx.ravel()[None, :], 0, w - 1)
    weight = ok[yy, xx] * g[None, :]
    total = weight.sum(axis=1)
    have = total > 1e-3
    neigh = np.einsum("nk,nkc->nc", weight[have], a[yy[have], xx[have]]) / total[have, None]
    lum_n = neigh @ _LUMA
    lum = a[ys[have], xs[have]] @ _LUMA
    scale = np.where(lum_n > 1e-6, lum / np.maximum(lum_n, 1e-6), 0.0)
    out[ys[have], xs[have]] = np.clip(neigh * scale[:, None], 0.0, 1.0)
    return out
