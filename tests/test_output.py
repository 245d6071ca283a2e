"""Atomic image writers."""

from __future__ import annotations

import os
import struct
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from junocam.errors import OutputError
from junocam.output import atomic_write, to_uint, write_png, write_tiff16


def _decode_png(data: bytes) -> np.ndarray:
    """Minimal independent decoder for the files write_png produces (filter Up only)."""
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    pos, idat = 8, b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + n]
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, -1)
    assert set(np.unique(raw[:, 0])) <= {2}
    rows = (np.cumsum(raw[:, 1:].astype(np.int64), axis=0) % 256).astype(np.uint8)
    channels = {0: 1, 2: 3}[colour]
    dt = ">u2" if depth == 16 else "u1"
    img = rows.view(dt).reshape(height, width, channels)
    return img[..., 0] if channels == 1 else img


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3)])
def test_png_round_trip(tmp_path, bits, shape):
    img = np.random.default_rng(0).random(shape).astype(np.float32)
    p = tmp_path / "x.png"
    write_png(p, img, bits=bits)
    np.testing.assert_array_equal(_decode_png(p.read_bytes()), to_uint(img, bits))
    if bits == 8 or len(shape) == 2:  # Pillow reads these, not 16-bit RGB
        np.testing.assert_array_equal(iio.imread(p), to_uint(img, bits))


def test_tiff16_round_trip(tmp_path):
    img = np.random.default_rng(1).random((4, 6, 3)).astype(np.float32)
    write_tiff16(tmp_path / "x.tif", img)
    back = tifffile.imread(tmp_path / "x.tif")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, to_uint(img, 16))


def test_to_uint_clips_and_rejects():
    assert to_uint(np.array([[np.nan, -1.0, 2.0]]), 8).tolist() == [[0, 0, 255]]
    with pytest.raises(OutputError, match="do not fit"):
        to_uint(np.array([[300]]), 8)
    with pytest.raises(OutputError, match="bit depth"):
        to_uint(np.zeros((2, 2)), 12)


def test_refuses_to_overwrite_input(tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(b"original")
    with pytest.raises(OutputError, match="refusing to overwrite an input"):
        write_png(src, np.zeros((2, 2)), protect=[src])
    # also through another spelling of the same path
    with pytest.raises(OutputError):
        write_png(tmp_path / "." / "in.png", np.zeros((2, 2)), protect=[str(src)])
    assert src.read_bytes() == b"original"


def test_unwritable_or_missing_directory(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(OutputError, match="does not exist"):
        write_png(afile / "x.png", np.zeros((2, 2)))
    with pytest.raises(OutputError, match="does not exist"):
        write_tiff16(tmp_path / "no" / "x.tif", np.zeros((2, 2)))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores modes")
def test_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            write_png(ro / "x.png", np.zeros((2, 2)))
    finally:
        ro.chmod(0o755)


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "x.png"
    target.write_bytes(b"old")

    def half(fh):
        fh.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half)
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["x.png"]
