"""Writing images atomically: 8/16-bit PNG and 16-bit TIFF.

Every writer first writes a temporary file in the target directory and then
renames it over the target with :func:`os.replace`, so an interrupted run never
leaves a half-written image under the final name. A writer refuses to write to
any path given in ``protect`` (the run's inputs), so an input is never
overwritten.

Float images are taken to be in [0, 1] (values outside are clipped, NaN becomes 0)
and scaled to the full integer range; integer images are written as they are
when they fit the requested depth.

Examples
--------
>>> import numpy as np, tempfile, os
>>> d = tempfile.mkdtemp()
>>> write_png(os.path.join(d, "grey.png"), np.linspace(0, 1, 12).reshape(3, 4))
>>> write_tiff16(os.path.join(d, "rgb.tif"), np.zeros((3, 4, 3), np.float32))
>>> sorted(os.listdir(d))
['grey.png', 'rgb.tif']
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import numpy as np

from .errors import OutputError

__all__ = [
    "write_png",
    "write_tiff16",
    "to_uint",
    "encode_png",
    "atomic_write",
    "ensure_output_dir",
]

PathLike = str | os.PathLike[str]


#: float values converted at a time by :func:`to_uint`
_TO_UINT_VALUES = 1 << 20


def to_uint(img: np.ndarray, bits: int) -> np.ndarray:
    """Convert an image to uint8 (``bits=8``) or uint16 (``bits=16``).

    Floats are taken as [0, 1]: clipped, NaN set to 0, scaled and rounded.
    Integer arrays must already fit the target range.

    Parameters
    ----------
    img : numpy.ndarray
        2-D grey or 3-D (H, W, 3) RGB image.
    bits : {8, 16}

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    OutputError
        On an unsupported depth, shape, or integer values out of range.

    Examples
    --------
    >>> to_uint(np.array([[0.0, 0.5, 1.0, 2.0]]), 8)
    array([[  0, 128, 255, 255]], dtype=uint8)
    """
    if bits not in (8, 16):
        raise OutputError(f"bit depth must be 8 or 16, got {bits}")
    a = np.asarray(img)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise OutputError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    dtype = np.uint8 if bits == 8 else np.uint16
    top = np.iinfo(dtype).max
    if np.issubdtype(a.dtype, np.floating):
        # a band of rows at a time: the float temporaries stay a few MB instead of
        # several times the image (the same float32 steps, so the same values)
        out = np.empty(a.shape, dtype)
        step = max(1, _TO_UINT_VALUES // max(a[0].size, 1))
        for r in range(0, a.shape[0], step):
            f = np.array(a[r : r + step], dtype=np.float32)
            np.nan_to_num(f, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
            np.clip(f, 0.0, 1.0, out=f)
            f *= np.float32(top)
            np.rint(f, out=f)
            out[r : r + step] = f
        return out
    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        if a.size and (a.min() < 0 or a.max() > top):
            raise OutputError(f"integer values {a.min()}..{a.max()} do not fit {bits} bits")
        return a.astype(dtype)
    raise OutputError(f"cannot write an image of type {a.dtype}")


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(img: np.ndarray, compress_level: int = 3) -> bytes:
    """Encode a uint8/uint16 grey or RGB image as PNG bytes.

    Rows use PNG's "Up" filter (difference to the previous row), computed for the
    whole image at once; 16-bit samples are stored big-endian as PNG requires.

    Parameters
    ----------
    img : numpy.ndarray
        uint8 or uint16, shape (H, W), (H, W, 3) or (H, W, 4) (RGBA).
    compress_level : int
        zlib level 0-9.

    Returns
    -------
    bytes

    Examples
    --------
    >>> encode_png(np.zeros((2, 2), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    if img.dtype not in (np.uint8, np.uint16) or img.ndim not in (2, 3):
        raise OutputError(f"cannot PNG-encode {img.dtype} array of shape {img.shape}")
    height, width = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    colour = {1: 0, 3: 2, 4: 6}.get(channels)  # grey, RGB, RGBA
    if colour is None:
        raise OutputError(f"cannot PNG-encode {channels} channels")
    depth = 8 * img.dtype.itemsize
    rows = np.ascontiguousarray(img, dtype=img.dtype.newbyteorder(">"))
    rows = rows.view(np.uint8).reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 2  # filter type Up
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # wraps modulo 256
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = zlib.compress(filtered.data, compress_level)  # its buffer: no bytes copy of it
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.abspath(a) == os.path.abspath(b)


def atomic_write(
    path: PathLike, write: Callable[[IO[bytes]], object], protect: Iterable[PathLike] = ()
) -> None:
    """Write a file atomically: ``write(fh)`` into a temp file beside it, then rename.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its directory must exist and be writable.
    write : callable
        Called with the open binary temp file.
    protect : iterable of path
        Paths that must not be overwritten (the inputs of the run).

    Raises
    ------
    OutputError
        If ``path`` is a protected input, the directory is missing or not writable,
        or writing fails. The temp file is removed on any failure.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.bin")
    >>> atomic_write(p, lambda fh: fh.write(b"abc"))
    >>> atomic_write(p, lambda fh: fh.write(b"x"), protect=[p])
    Traceback (most recent call last):
    ...
    junocam.errors.OutputError: ...a.bin: refusing to overwrite an input file
    """
    target = Path(path)
    for p in protect:
        if _same_file(target, Path(p)):
            raise OutputError("refusing to overwrite an input file", path=target)
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"output directory {folder} does not exist", path=target)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as err:
        raise OutputError(
            f"output directory is not writable: {err.strerror or err}", path=target
        ) from None
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):
            raise OutputError(f"cannot write: {err.strerror or err}", path=target) from None
        raise


def write_png(
    path: PathLike,
    img: np.ndarray,
    bits: int = 8,
    *,
    protect: Iterable[PathLike] = (),
    compress_level: int = 3,
) -> None:
    """Write a grey, RGB or RGBA image as an 8- or 16-bit PNG, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    img : numpy.ndarray
        (H, W), (H, W, 3) or (H, W, 4) (straight, not premultiplied alpha); float in
        [0, 1] or integers that fit ``bits``.
    bits : {8, 16}
        Sample depth.
    protect : iterable of path
        Input paths that must not be overwritten.
    compress_level : int
        zlib level 0-9.

    Raises
    ------
    OutputError
        See :func:`atomic_write` and :func:`to_uint`.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> write_png(p, np.ones((2, 3, 3), np.float32), bits=16)
    >>> open(p, "rb").read(4)
    b'\\x89PNG'
    """
    data = encode_png(to_uint(img, bits), compress_level)
    atomic_write(path, lambda fh: fh.write(data), protect)


def write_tiff16(path: PathLike, img: np.ndarray, *, protect: Iterable[PathLike] = ()) -> None:
    """Write a grey, RGB or RGBA image as a 16-bit TIFF (zlib-compressed), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    img : numpy.ndarray
        (H, W) or (H, W, 3); float in [0, 1] or integers up to 65535.
    protect : iterable of path
        Input paths that must not be overwritten.

    Raises
    ------
    OutputError
        See :func:`atomic_write` and :func:`to_uint`.

    Examples
    --------
    >>> import tempfile, os, tifffile
    >>> p = os.path.join(tempfile.mkdtemp(), "x.tif")
    >>> write_tiff16(p, np.full((2, 3, 3), 0.5, np.float32))
    >>> tifffile.imread(p)[0, 0]
    array([32768, 32768, 32768], dtype=uint16)
    """
    import tifffile

    a = to_uint(img, 16)
    photometric = "rgb" if a.ndim == 3 else "minisblack"
    extrasamples = ["unassalpha"] if a.ndim == 3 and a.shape[2] == 4 else None

    def write(fh: IO[bytes]) -> None:
        tifffile.imwrite(
            fh, a, photometric=photometric, compression="zlib", extrasamples=extrasamples
        )

    atomic_write(path, write, protect)


def ensure_output_dir(out_dir: PathLike) -> None:
    """Create the output directory if needed; a clear OutputError if it cannot be.

    Examples
    --------
    >>> import tempfile, os
    >>> d = os.path.join(tempfile.mkdtemp(), "a", "b")
    >>> ensure_output_dir(d); os.path.isdir(d)
    True
    """
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise OutputError("output path exists and is not a directory", path=path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"cannot create the output directory: {err.strerror or err}", path=path
        ) from None
    if not path.is_dir():
        raise OutputError("output path is not a directory", path=path)
