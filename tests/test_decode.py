"""Reading frames: PNG header checks, metadata pairing, PDS3 products."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_strip, website_json

from junocam.decode import RawFrame, find_metadata, read_frame, read_png_header
from junocam.errors import FormatError, MetadataError, MissingMetadataError, SizeLimitError
from junocam.metadata import Companding, Filter
from junocam.output import encode_png


def test_read_frame_with_json(make_frame):
    strip = synthetic_strip(2, 3, texture=5)
    png = make_frame(strip)
    frame = read_frame(png)
    assert isinstance(frame, RawFrame)
    assert frame.pixels.dtype == np.uint8 and frame.pixels.shape == (768, 1648)
    np.testing.assert_array_equal(frame.pixels, strip)
    assert frame.meta.source.endswith("12345-Metadata.json")
    assert frame.framelets.data.shape == (2, 3, 128, 1648)
    assert np.shares_memory(frame.framelets.data, frame.pixels)
    assert frame.linear().dtype == np.float32


def test_raw_frame_is_frozen(make_frame):
    frame = read_frame(make_frame())
    with pytest.raises(AttributeError):
        frame.path = "x"  # type: ignore[misc]


def test_find_metadata_same_stem_variants(tmp_path):
    png = tmp_path / "JNCE_A_V01-raw.png"
    assert find_metadata(png) is None
    (tmp_path / "JNCE_A_V01.json").write_text("{}")
    assert find_metadata(png).name == "JNCE_A_V01.json"
    (tmp_path / "JNCE_A_V01-raw-Metadata.json").write_text("{}")
    assert find_metadata(png).name == "JNCE_A_V01-raw-Metadata.json"
    (tmp_path / "JNCE_A_V01-raw.json").write_text("{}")
    assert find_metadata(png).name == "JNCE_A_V01-raw.json"


def test_find_metadata_matches_by_product_id_among_several(tmp_path):
    png = tmp_path / "JNCE_A_V01-raw.png"
    (tmp_path / "1-Metadata.json").write_text(json.dumps({"PRODUCT_ID": "JNCE_B_V01"}))
    (tmp_path / "2-Metadata.json").write_text(json.dumps({"PRODUCT_ID": "JNCE_A_V01"}))
    (tmp_path / "3-Metadata.json").write_text("{broken")
    assert find_metadata(png).name == "2-Metadata.json"


def test_find_metadata_ambiguous(tmp_path):
    png = tmp_path / "JNCE_A_V01-raw.png"
    for i in (1, 2):
        (tmp_path / f"{i}-Metadata.json").write_text(json.dumps({"PRODUCT_ID": "JNCE_A_V01"}))
    with pytest.raises(MetadataError, match="several metadata files"):
        find_metadata(png)


def test_find_metadata_website_imageset_layout(make_frame, tmp_path):
    root = tmp_path / "13537-ImageSet"
    png = make_frame(folder=root / "ImageSet", meta=None, product_id="JNCE_W_V01")
    (root / "DataSet").mkdir()
    meta = website_json("JNCE_W_V01", 768)
    (root / "DataSet" / "13537-Metadata.json").write_text(json.dumps(meta))
    assert find_metadata(png) == root / "DataSet" / "13537-Metadata.json"
    assert read_frame(png).meta.product_id == "JNCE_W_V01"


def test_explicit_metadata_path(make_frame, tmp_path):
    png = make_frame(meta=None)
    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps(website_json("JNCE_E_V01", 768)))
    assert read_frame(png, other).meta.product_id == "JNCE_E_V01"
    with pytest.raises(MissingMetadataError, match="does not exist"):
        read_frame(png, tmp_path / "nope.json")


def test_no_metadata_assumes_rgb_or_refuses(make_frame):
    png = make_frame(meta=None)
    frame = read_frame(png)
    assert frame.meta.is_assumed("filters")
    assert frame.meta.filters == (Filter.BLUE, Filter.GREEN, Filter.RED)
    with pytest.raises(MissingMetadataError, match="no metadata found"):
        read_frame(png, allow_assumed=False)
    user = read_frame(png, filters=["M"], interframe_delay=0.37, allow_assumed=False)
    assert user.meta.filters == (Filter.METHANE,) and user.meta.n_exposures == 6
    assert user.meta.is_assumed("interframe_delay")


def test_filters_fill_a_json_without_filter_name(make_frame):
    png = make_frame(FILTER_NAME=None)
    with pytest.raises(MetadataError, match="FILTER_NAME is missing"):
        read_frame(png)
    frame = read_frame(png, filters=["BLUE", "GREEN", "RED"])
    assert frame.meta.is_assumed("filters")


def test_user_values_contradicting_metadata_are_refused(make_frame):
    png = make_frame()
    with pytest.raises(MetadataError, match="contradicts"):
        read_frame(png, filters=["RED"])
    with pytest.raises(MetadataError, match="contradicts"):
        read_frame(png, interframe_delay=0.5)
    assert read_frame(png, interframe_delay=0.372).meta.assumed == ()


def test_delay_fills_missing_interframe_delay(make_frame):
    frame = read_frame(make_frame(INTERFRAME_DELAY=None), interframe_delay=0.4)
    assert frame.meta.interframe_delay == 0.4 and frame.meta.is_assumed("interframe_delay")


# --- bad inputs ---------------------------------------------------------------------


def test_wrong_width(tmp_path):
    p = tmp_path / "w-raw.png"
    p.write_bytes(encode_png(np.zeros((384, 1000), np.uint8)))
    with pytest.raises(FormatError, match="width is 1000 samples") as info:
        read_frame(p)
    assert str(p) in str(info.value)


def test_height_not_multiple_of_128(tmp_path):
    p = tmp_path / "h-raw.png"
    p.write_bytes(encode_png(np.zeros((300, 1648), np.uint8)))
    with pytest.raises(FormatError, match="height 300 lines is not a multiple"):
        read_frame(p)


def test_height_not_multiple_of_filter_count(make_frame):
    png = make_frame(synthetic_strip(1, 2, levels=[1, 2]))  # 256 lines, 3 filters in JSON
    with pytest.raises(FormatError, match=r"height 256 lines is not a multiple of 384"):
        read_frame(png)


@pytest.mark.parametrize(
    ("img", "what"),
    [
        (np.zeros((384, 1648, 3), np.uint8), "8-bit RGB"),
        (np.zeros((384, 1648), np.uint16), "16-bit greyscale"),
    ],
)
def test_colour_or_16bit_png(tmp_path, img, what):
    p = tmp_path / "c-raw.png"
    p.write_bytes(encode_png(img))
    with pytest.raises(FormatError, match=f"image is {what}.*8-bit greyscale"):
        read_frame(p)


def test_truncated_png(make_frame):
    png = make_frame(synthetic_strip(2, 3, texture=50))
    data = png.read_bytes()
    png.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="cannot decode PNG data") as info:
        read_frame(png)
    assert str(png) in str(info.value)


def test_truncated_header_and_non_png(tmp_path):
    p = tmp_path / "t-raw.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(FormatError, match="truncated PNG"):
        read_frame(p)
    p.write_bytes(b"hello, I am text")
    with pytest.raises(FormatError, match="not a PNG file"):
        read_frame(p)
    p.write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        read_frame(p)


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        read_frame(tmp_path / "nothing.png")


def test_lines_contradicting_pixels(make_frame):
    png = make_frame(LINES=4608)
    with pytest.raises(MetadataError, match="LINES = 4608 .*contradicts the image height of 768"):
        read_frame(png)


def test_malformed_json(make_frame):
    png = make_frame(meta='{"FILTER_NAME": ["RED",')
    with pytest.raises(MetadataError, match="malformed JSON") as info:
        read_frame(png)
    assert "12345-Metadata.json" in str(info.value)


def _fake_png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    crc = zlib.crc32(b"IHDR" + ihdr)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", crc)


def test_size_limit_refused_before_decoding(tmp_path, monkeypatch):
    p = tmp_path / "huge-raw.png"
    # claims 1648 x 4 000 000 lines but holds no pixel data at all
    p.write_bytes(_fake_png_header(1648, 4_000_000))
    import PIL.Image

    def boom(*a, **k):
        raise AssertionError("decoder must not be called")

    monkeypatch.setattr(PIL.Image, "open", boom)
    with pytest.raises(SizeLimitError, match="refused before decoding"):
        read_frame(p)
    assert read_png_header(p).height == 4_000_000


def test_configurable_size_limit(make_frame):
    png = make_frame()
    with pytest.raises(SizeLimitError, match="more than the limit of 1000"):
        read_frame(png, max_pixels=1000)


# --- PDS3 ---------------------------------------------------------------------------

PDS_KEYS = """PDS_VERSION_ID = PDS3
RECORD_TYPE = FIXED_LENGTH
RECORD_BYTES = {record_bytes}
FILE_RECORDS = {file_records}
^IMAGE = {pointer}
PRODUCT_ID = "JNCE_2017038_04C00586_V01"
START_TIME = 2017-02-07T12:45:17.347
INTERFRAME_DELAY = 0.376 <s>
SAMPLE_BIT_MODE_ID = "SQROOT"
FILTER_NAME = ('BLUE', 'GREEN', 'RED')
OBJECT = IMAGE
  LINES = {lines}
  LINE_SAMPLES = 1648
  SAMPLE_TYPE = {sample_type}
  SAMPLE_BITS = {bits}
END_OBJECT = IMAGE
END
"""


def _label(pointer: str, lines: int, bits: int, sample_type: str, label_records: int = 0) -> str:
    rb = 1648 * bits // 8
    return PDS_KEYS.format(
        record_bytes=rb,
        file_records=lines + label_records,
        pointer=pointer,
        lines=lines,
        sample_type=sample_type,
        bits=bits,
    )


@pytest.mark.parametrize(
    ("bits", "sample_type", "dtype"),
    [
        (8, "UNSIGNED_INTEGER", ">u1"),
        (16, "MSB_UNSIGNED_INTEGER", ">u2"),
        (16, "LSB_UNSIGNED_INTEGER", "<u2"),
    ],
)
def test_pds3_detached(tmp_path, bits, sample_type, dtype):
    rng = np.random.default_rng(1)
    top = 255 if bits == 8 else 40000
    pixels = rng.integers(0, top, size=(384, 1648)).astype(dtype)
    (tmp_path / "P.IMG").write_bytes(pixels.tobytes())
    lbl = tmp_path / "P.LBL"
    lbl.write_text(_label('"P.IMG"', 384, bits, sample_type))
    for entry in (lbl, tmp_path / "P.IMG"):
        frame = read_frame(entry)
        np.testing.assert_array_equal(frame.pixels, pixels.astype(pixels.dtype.newbyteorder("=")))
        assert frame.pixels.dtype == (np.uint8 if bits == 8 else np.uint16)
        expected = Companding.SQROOT if bits == 8 else Companding.NONE
        assert frame.meta.companding is expected
        assert frame.meta.n_exposures == 1


def test_pds3_attached_label(tmp_path):
    pixels = np.arange(384 * 1648, dtype=np.uint32).reshape(384, 1648).astype(np.uint8)
    label_records = 2
    text = _label(str(label_records + 1), 384, 8, "UNSIGNED_INTEGER", label_records)
    head = text.encode().ljust(label_records * 1648, b" ")
    img = tmp_path / "A.IMG"
    img.write_bytes(head + pixels.tobytes())
    frame = read_frame(img)
    np.testing.assert_array_equal(frame.pixels, pixels)
    assert frame.meta.product_id == "JNCE_2017038_04C00586_V01"


def test_pds3_byte_offset_pointer(tmp_path):
    pixels = np.full((384, 1648), 7, np.uint8)
    (tmp_path / "B.DAT").write_bytes(b"xxxx" + pixels.tobytes())
    lbl = tmp_path / "B.LBL"
    lbl.write_text(_label('("B.DAT", 5 <BYTES>)', 384, 8, "UNSIGNED_INTEGER"))
    np.testing.assert_array_equal(read_frame(lbl).pixels, pixels)


def test_pds3_missing_img_names_the_file(tmp_path):
    lbl = tmp_path / "M.LBL"
    lbl.write_text(_label('"M.IMG"', 384, 8, "UNSIGNED_INTEGER"))
    with pytest.raises(FormatError, match=r"image file M\.IMG named by \^IMAGE is missing"):
        read_frame(lbl)


def test_pds3_truncated_img(tmp_path):
    (tmp_path / "T.IMG").write_bytes(b"\0" * 1000)
    lbl = tmp_path / "T.LBL"
    lbl.write_text(_label('"T.IMG"', 384, 8, "UNSIGNED_INTEGER"))
    with pytest.raises(FormatError, match="truncated image"):
        read_frame(lbl)


def test_pds3_img_without_label(tmp_path):
    img = tmp_path / "N.IMG"
    img.write_bytes(b"\0" * 100)
    with pytest.raises(MissingMetadataError, match="no attached PDS3 label"):
        read_frame(img)


def test_pds3_malformed_label(tmp_path):
    lbl = tmp_path / "X.LBL"
    lbl.write_text("PDS_VERSION_ID = PDS3\nOBJECT = IMAGE\n  LINES = = 3\nEND\n")
    with pytest.raises(MetadataError, match="malformed PVL"):
        read_frame(lbl)
    lbl.write_text("PDS_VERSION_ID = PDS3\n")
    with pytest.raises(MetadataError, match="no END"):
        read_frame(lbl)


def test_pds3_size_limit(tmp_path):
    lbl = tmp_path / "S.LBL"
    lbl.write_text(_label('"S.IMG"', 3_840_000, 8, "UNSIGNED_INTEGER"))
    (tmp_path / "S.IMG").write_bytes(b"")
    with pytest.raises(SizeLimitError, match="refused before reading"):
        read_frame(lbl)


def test_paths_are_accepted_as_str_and_path(make_frame):
    png = make_frame()
    assert read_frame(str(png)).path == read_frame(Path(png)).path
