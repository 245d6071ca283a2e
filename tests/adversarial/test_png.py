"""Hostile raw PNGs: cut files, bad CRCs, wrong depth/colour/interlace, absurd sizes.

Every case is built in memory at test time; each must raise the specific project
error, naming the file and the problem.
"""

from __future__ import annotations

import os
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from click.testing import CliRunner

from junocam.cli import main
from junocam.decode import read_frame
from junocam.errors import FormatError, MetadataError, SizeLimitError
from junocam.output import encode_png

from .conftest import SIG, chunk, ihdr, meta_dict, png_bytes, strip

GOOD = encode_png(strip())
IDAT_AT = 33  # the IDAT chunk starts right after the signature and IHDR

# Cut points: every byte of the signature and header, 24 points through the image
# data, and each of the last 13 bytes (the IDAT CRC and the IEND chunk).
CUTS = sorted(
    set(range(0, 41))
    | {int(len(GOOD) * k / 24) for k in range(1, 24)}
    | set(range(len(GOOD) - 13, len(GOOD)))
)


def _words_for_cut(n: int) -> tuple[str, ...]:
    if n == 0:
        return ("empty file",)
    if n < 8:
        return ("bad signature",)
    if n < 33:
        return ("truncated png",)
    return ("truncated or corrupt",)


@pytest.mark.parametrize("cut", CUTS)
def test_truncated_png_at_every_kind_of_cut_point(frame_files, cut):
    png, _ = frame_files(GOOD[:cut])
    with pytest.raises(FormatError) as info:
        read_frame(png)
    text = str(info.value)
    assert str(png) in text
    assert any(w in text.lower() for w in _words_for_cut(cut)), text


def _flip_crc(data: bytes, at: int) -> bytes:
    """Flip one bit of the CRC of the chunk starting at byte ``at``."""
    (length,) = struct.unpack(">I", data[at : at + 4])
    crc_at = at + 8 + length
    return data[:crc_at] + bytes([data[crc_at] ^ 0x01]) + data[crc_at + 1 :]


@pytest.mark.parametrize(("name", "at"), [("IHDR", 8), ("IDAT", IDAT_AT), ("IEND", len(GOOD) - 12)])
def test_bad_crc_in_each_chunk(frame_files, name, at):
    png, _ = frame_files(_flip_crc(GOOD, at))
    with pytest.raises(FormatError, match=f"bad CRC in chunk '{name}'") as info:
        read_frame(png)
    assert str(png) in str(info.value)


def test_flipped_bit_in_image_data_is_a_crc_error(frame_files):
    data = bytearray(GOOD)
    data[IDAT_AT + 100] ^= 0x10
    png, _ = frame_files(bytes(data))
    with pytest.raises(FormatError, match="bad CRC in chunk 'IDAT'"):
        read_frame(png)


def test_ancillary_chunk_with_a_bad_crc(frame_files):
    text = chunk(b"tEXt", b"Comment\x00hello", crc=0)
    png, _ = frame_files(GOOD[:IDAT_AT] + text + GOOD[IDAT_AT:])
    with pytest.raises(FormatError, match="bad CRC in chunk 'tEXt'"):
        read_frame(png)


# PNG's legal depth/colour combinations, and some illegal ones; only 8-bit grey is ours.
DEPTH_COLOUR = [
    (1, 0), (2, 0), (4, 0), (16, 0), (8, 2), (16, 2), (1, 3), (2, 3), (4, 3), (8, 3),
    (8, 4), (16, 4), (8, 6), (16, 6), (3, 0), (8, 1), (8, 5), (0, 0), (255, 7),
]  # fmt: skip


@pytest.mark.parametrize(("depth", "colour"), DEPTH_COLOUR)
def test_wrong_bit_depth_or_colour_type(frame_files, depth, colour):
    png, _ = frame_files(png_bytes(depth=depth, colour=colour))
    with pytest.raises(FormatError) as info:
        read_frame(png)
    text = str(info.value)
    assert str(png) in text and f"bit depth {depth}, colour type {colour}" in text
    assert "8-bit greyscale" in text


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("interlace", 2, "interlace method 2"),
        ("interlace", 255, "interlace method 255"),
        ("comp", 1, "compression method 1"),
        ("filt", 9, "filter method 9"),
    ],
)
def test_invalid_header_methods(frame_files, field, value, words):
    header = ihdr(1648, 384, **{field: value})
    png, _ = frame_files(SIG + header + GOOD[IDAT_AT:])
    with pytest.raises(FormatError, match=words) as info:
        read_frame(png)
    assert str(png) in str(info.value)


def test_interlace_flag_on_plain_data(frame_files):
    header = ihdr(1648, 384, interlace=1)
    png, _ = frame_files(SIG + header + GOOD[IDAT_AT:])
    with pytest.raises(FormatError, match="truncated or corrupt") as info:
        read_frame(png)
    assert str(png) in str(info.value)


@pytest.mark.parametrize(("width", "height"), [(0, 384), (1648, 0), (0, 0)])
def test_zero_dimensions(frame_files, width, height):
    png, _ = frame_files(SIG + ihdr(width, height) + GOOD[IDAT_AT:])
    with pytest.raises(FormatError, match=f"invalid PNG: size {width}x{height}") as info:
        read_frame(png)
    assert str(png) in str(info.value)


@pytest.mark.parametrize(
    ("width", "height"), [(1648, 2**31 - 1), (2**31 - 1, 2**31 - 1), (1648, 60_800), (2**20, 384)]
)
def test_giant_declared_size_is_refused_before_any_allocation(frame_files, width, height):
    png, _ = frame_files(
        SIG + ihdr(width, height) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )
    tracemalloc.start()
    try:
        with pytest.raises(SizeLimitError, match="refused before decoding") as info:
            read_frame(png)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(png) in str(info.value) and f"{width}x{height}" in str(info.value)
    assert peak < 2_000_000, f"{peak} bytes allocated while refusing"


def test_tiny_max_pixels_on_the_command_line_refuses_a_normal_frame(frame_files):
    png, _ = frame_files()
    res = CliRunner().invoke(main, ["--max-pixels", "1000", "info", str(png)])
    assert res.exit_code == 1
    assert f"error: {png}: image is 1648x384" in res.stderr and "limit of 1000" in res.stderr
    assert "Traceback" not in res.output


@pytest.mark.parametrize("width", [1, 824, 1647, 1649, 3296])
def test_wrong_width(frame_files, width):
    png, _ = frame_files(png_bytes(width=width, height=384))
    with pytest.raises(FormatError, match=f"width is {width} samples") as info:
        read_frame(png)
    assert str(png) in str(info.value)


@pytest.mark.parametrize("height", [383, 385, 127, 129, 767])
def test_height_off_by_one_row_header_and_data_agree(frame_files, height):
    png, _ = frame_files(png_bytes(height=height), meta_dict(lines=height))
    with pytest.raises(FormatError, match=f"height {height} lines is not a multiple") as info:
        read_frame(png)
    assert str(png) in str(info.value)


@pytest.mark.parametrize(("rows", "words"), [(383, "holds 383 complete rows"), (385, "more than")])
def test_image_data_one_row_short_or_long_of_the_header(frame_files, rows, words):
    png, _ = frame_files(png_bytes(height=384, rows=rows))
    with pytest.raises(FormatError, match=words) as info:
        read_frame(png)
    assert str(png) in str(info.value)


@pytest.mark.parametrize("lines", [383, 385, 768, 0, -384])
def test_metadata_lines_off_by_one_against_the_pixels(frame_files, lines):
    png, js = frame_files(meta=meta_dict(lines=lines))
    with pytest.raises(MetadataError) as info:
        read_frame(png)
    text = str(info.value)
    assert str(png) in text or str(js) in text
    assert "LINES" in text


@pytest.mark.parametrize(
    ("idat", "words"),
    [
        (b"", "holds 0 complete rows"),
        (b"not zlib at all", "image data"),
        (zlib.compress(b"\x00" * 10), "holds 0 complete rows"),
    ],
)
def test_bad_image_data_stream(frame_files, idat, words):
    png, _ = frame_files(png_bytes(idat=idat))
    with pytest.raises(FormatError, match=words) as info:
        read_frame(png)
    assert str(png) in str(info.value)


def test_missing_idat_and_missing_iend(frame_files):
    png, _ = frame_files(SIG + ihdr(1648, 384) + chunk(b"IEND", b""))
    with pytest.raises(FormatError, match="holds 0 complete rows"):
        read_frame(png)
    png, _ = frame_files(GOOD[:-12])
    with pytest.raises(FormatError, match="before an IEND chunk"):
        read_frame(png)


def test_chunk_declaring_four_gigabytes(frame_files):
    bogus = struct.pack(">I", 0xFFFFFFFF) + b"IDAT" + b"\x00" * 64
    png, _ = frame_files(SIG + ihdr(1648, 384) + bogus)
    read_frame(frame_files()[0])  # imports done before measuring
    png, _ = frame_files(SIG + ihdr(1648, 384) + bogus)
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="declares 4294967295 bytes"):
            read_frame(png)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_file_far_larger_than_its_header_allows(frame_files):
    padding = chunk(b"zzZz", bytes(2_000_000))
    png, _ = frame_files(SIG + ihdr(1648, 128) + padding + GOOD[IDAT_AT:], meta_dict(128))
    with pytest.raises(FormatError, match="more than a 1648x128 8-bit image can hold") as info:
        read_frame(png, filters=["RED"])
    assert str(png) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"GIF89a" + bytes(100), b"\xff\xd8\xff\xe0" + bytes(100), b"\x89PNG\r\n", b"PNG" * 20],
)
def test_not_a_png(frame_files, content):
    png, _ = frame_files(content)
    with pytest.raises(FormatError, match="not a PNG|truncated PNG") as info:
        read_frame(png)
    assert str(png) in str(info.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "JNCE_FIFO-raw.png"
    os.mkfifo(fifo)
    with pytest.raises(FormatError, match="not a regular file") as info:
        read_frame(fifo)
    assert str(fifo) in str(info.value)


def test_a_valid_frame_still_reads(frame_files):
    png, _ = frame_files()
    frame = read_frame(png)
    assert frame.pixels.shape == (384, 1648)
    np.testing.assert_array_equal(frame.pixels, strip())
