"""Decompanding: 8-bit JunoCam codes to linear 12-bit signal, and back.

JunoCam compresses its 12-bit samples to 8 bits with a piecewise-linear
approximation of a square root (SAMPLE_BIT_MODE_ID ``SQROOT``). The table below
is from CAMERA.md (values agree with the SIS and public JunoCam tools): the slope
doubles at each breakpoint and code 255 decodes to 2879.

Linear outputs are float32 in data numbers (DN) of the 12-bit scale, 0..2879 for
SQROOT, 0..255 for LIN1, 0..2040 for LIN8 and 0..4080 for LIN16.

Examples
--------
>>> import numpy as np
>>> from junocam.companding import decompand, compand
>>> decompand(np.array([0, 23, 43, 255], dtype=np.uint8), "SQROOT")
array([   0.,   23.,   63., 2879.], dtype=float32)
>>> compand(np.array([63.0, 2879.0]), "SQROOT")
array([ 43, 255], dtype=uint8)
"""

from __future__ import annotations

import numpy as np

from .errors import FormatError
from .metadata import Companding

__all__ = ["sqroot_table", "decode_table", "decompand", "compand", "max_linear_value"]

# (first code, slope) of each segment of the SQROOT table [CAMERA.md "Decompanding"].
_SQROOT_SEGMENTS = ((0, 1), (23, 2), (43, 4), (89, 8), (184, 16), (209, 32))


def sqroot_table() -> np.ndarray:
    """The 256-entry SQROOT decode table (code -> 12-bit linear value).

    Returns
    -------
    numpy.ndarray
        float32 array of shape (256,), monotonically increasing, 0 to 2879.

    Examples
    --------
    >>> t = sqroot_table()
    >>> int(t[89]), int(t[184]), int(t[209])
    (247, 1007, 1407)
    """
    codes = np.arange(256)
    starts = np.array([s for s, _ in _SQROOT_SEGMENTS])
    slopes = np.array([k for _, k in _SQROOT_SEGMENTS], dtype=np.int64)
    # value at each segment start: cumulative sum of slope * segment length
    lengths = np.diff(np.append(starts, 256))
    base = np.concatenate([[0], np.cumsum(slopes * lengths)[:-1]])
    seg = np.searchsorted(starts, codes, side="right") - 1
    return (base[seg] + slopes[seg] * (codes - starts[seg])).astype(np.float32)


#: codes decoded per ``np.take`` call in :func:`decompand`
_CHUNK = 1 << 16


def decode_table(mode: Companding | str) -> np.ndarray:
    """The 256-entry decode table of a companding mode.

    Parameters
    ----------
    mode : Companding or str
        ``SQROOT``, ``LIN1``, ``LIN8`` or ``LIN16``.

    Returns
    -------
    numpy.ndarray
        float32 (256,) table.

    Examples
    --------
    >>> float(decode_table("LIN8")[255])
    2040.0
    """
    mode = Companding.parse(mode)
    codes = np.arange(256, dtype=np.float32)
    if mode is Companding.SQROOT:
        return sqroot_table()
    if mode is Companding.LIN1:
        return codes
    if mode is Companding.LIN8:
        return codes * 8
    if mode is Companding.LIN16:
        return codes * 16
    raise FormatError(f"companding mode {mode.value} has no 8-bit decode table")


def max_linear_value(mode: Companding | str, sample_bits: int = 8) -> float:
    """Largest linear value a mode can produce (useful for normalising to [0, 1]).

    Examples
    --------
    >>> max_linear_value("SQROOT")
    2879.0
    """
    mode = Companding.parse(mode)
    if mode is Companding.NONE:
        return float(2**sample_bits - 1)
    return float(decode_table(mode)[-1])


def decompand(
    pixels: np.ndarray, mode: Companding | str, out: np.ndarray | None = None
) -> np.ndarray:
    """Decode companded samples to linear float32 DN.

    Parameters
    ----------
    pixels : numpy.ndarray
        uint8 codes for SQROOT/LIN*; for ``NONE`` any integer array (already linear).
    mode : Companding or str
        The product's SAMPLE_BIT_MODE_ID.
    out : numpy.ndarray, optional
        float32 array of ``pixels``' shape (a view is fine) that receives the values
        instead of a new array.

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape, in 12-bit DN (see module doc for ranges).

    Raises
    ------
    FormatError
        If an 8-bit mode is given non-uint8 samples.

    Examples
    --------
    >>> decompand(np.array([[10, 200]], dtype=np.uint8), Companding.LIN16)
    array([[ 160., 3200.]], dtype=float32)
    >>> buf = np.zeros((1, 2), np.float32)
    >>> decompand(np.array([[10, 200]], dtype=np.uint8), "LIN8", out=buf) is buf, buf.tolist()
    (True, [[80.0, 1600.0]])
    """
    mode = Companding.parse(mode)
    if mode is Companding.NONE:
        if out is None:
            return np.asarray(pixels, dtype=np.float32)
        out[...] = pixels
        return out
    if pixels.dtype != np.uint8:
        raise FormatError(f"{mode.value} companded samples must be uint8, got {pixels.dtype}")
    if out is None:
        out = np.empty(pixels.shape, np.float32)
    _lookup(decode_table(mode), pixels, out)
    return out


def _lookup(table: np.ndarray, codes: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = table[codes]`` for uint8 ``codes``, by chunks of 64 Ki codes.

    ``np.take`` widens its indices to intp first; a chunk's widened copy stays in
    the cache (2-3x faster than one take over a whole frame). uint8 codes always
    index the 256-entry table: mode "clip" never clips, and unlike the default mode
    it writes straight into ``out`` without a buffer. An ``out`` that is not
    contiguous (a band's slot in a frame's framelets) is filled by its leading
    index, down to contiguous parts."""
    if not out.flags.c_contiguous:
        if out.ndim < 2:
            np.take(table, codes, out=out, mode="clip")
            return
        for i in range(out.shape[0]):
            _lookup(table, codes[i], out[i])
        return
    flat, values = np.ravel(codes), out.reshape(-1)
    for i in range(0, flat.size, _CHUNK):
        np.take(table, flat[i : i + _CHUNK], out=values[i : i + _CHUNK], mode="clip")


def compand(values: np.ndarray, mode: Companding | str) -> np.ndarray:
    """Encode linear DN to 8-bit codes: the inverse of :func:`decompand`.

    Each value maps to the code whose decoded value is nearest (values beyond the
    table are clipped), so ``compand(decompand(c)) == c`` for every code ``c``.

    Parameters
    ----------
    values : numpy.ndarray
        Linear values in DN (float or int), any shape.
    mode : Companding or str
        ``SQROOT``, ``LIN1``, ``LIN8`` or ``LIN16``.

    Returns
    -------
    numpy.ndarray
        uint8 codes, same shape.

    Examples
    --------
    >>> compand(np.array([0.0, 24.0, 25.0, 5000.0]), "SQROOT")
    array([  0,  23,  24, 255], dtype=uint8)
    """
    table = decode_table(mode).astype(np.float64)
    v = np.asarray(values, dtype=np.float64)
    v = np.nan_to_num(v, nan=0.0, posinf=table[-1], neginf=0.0)
    idx = np.clip(np.searchsorted(table, v), 1, 255)
    lo = table[idx - 1]
    hi = table[idx]
    # ties go to the lower code, which keeps the mapping deterministic
    code = np.where(v - lo <= hi - v, idx - 1, idx)
    return code.astype(np.uint8)
