"""Hostile website metadata JSON and PDS3 labels, read through :func:`read_frame`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from junocam.decode import read_frame
from junocam.errors import FormatError, MetadataError
from junocam.metadata import MAX_LABEL_CHARS, from_pds3_label

from .conftest import expect, meta_dict

# (case id, JSON text, words the message must contain)
RAW_JSON = [
    ("empty", "", "malformed JSON"),
    ("whitespace", "   \n", "malformed JSON"),
    ("list", "[1, 2, 3]", "must be a JSON object"),
    ("string", '"hello"', "must be a JSON object"),
    ("number", "42", "must be a JSON object"),
    ("null", "null", "must be a JSON object"),
    ("cut", '{"PRODUCT_ID": "X", "FILTER_', "malformed JSON"),
    ("trailing", '{"a": 1} {"b": 2}', "malformed JSON"),
    ("deep", "[" * 50_000 + "]" * 50_000, "nested too deeply"),
    ("deep-object", '{"a":' * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
]


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in RAW_JSON], ids=[c[0] for c in RAW_JSON])
def test_malformed_json_text(frame_files, text, words):
    png, js = frame_files(meta=text)
    expect(MetadataError, lambda: read_frame(png), js, words)


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe{\x00}\x00", b'{"TITLE": "caf\xe9"}', b"\x80\x81\x82", b'{"a": "\xed\xa0\x80"}'],
)
def test_non_utf8_bytes(frame_files, raw):
    png, js = frame_files(meta=raw)
    expect(MetadataError, lambda: read_frame(png), js, "not UTF-8")


def test_oversized_json(frame_files):
    png, js = frame_files(meta='{"pad": "' + "x" * (1 << 24) + '"}')
    expect(MetadataError, lambda: read_frame(png), js, "larger than")


# (case id, overrides of the valid metadata, words): wrong types, missing fields,
# contradictions and absurd values.
FIELDS = [
    ("no-filters", {"FILTER_NAME": None}, "FILTER_NAME is missing"),
    ("zero-filters", {"FILTER_NAME": []}, "lists no filters"),
    ("filter-number", {"FILTER_NAME": 3}, "FILTER_NAME"),
    ("filter-dict", {"FILTER_NAME": {"a": 1}}, "FILTER_NAME"),
    ("filter-unknown", {"FILTER_NAME": ["BLUE", "GREEN", "INFRARED"]}, "unknown filter name"),
    ("filter-null-item", {"FILTER_NAME": ["BLUE", None, "RED"]}, "filter name must be a string"),
    ("filter-repeated", {"FILTER_NAME": ["BLUE", "BLUE", "RED"]}, "repeats a filter"),
    ("no-lines", {"LINES": None}, "LINES is missing"),
    ("lines-text", {"LINES": "many"}, "LINES"),
    ("lines-float", {"LINES": 384.5}, "LINES"),
    ("lines-bool", {"LINES": True}, "LINES"),
    ("lines-negative", {"LINES": -384}, "must be positive"),
    ("lines-huge", {"LINES": 10**30}, "contradicts the image height"),
    ("lines-contradict", {"LINES": 768}, "contradicts the image height"),
    ("samples-contradict", {"LINE_SAMPLES": 1600}, "contradicts the image width"),
    ("samples-zero", {"LINE_SAMPLES": 0}, "must be positive"),
    ("no-id", {"PRODUCT_ID": None, "FILE_NAME": None}, "neither PRODUCT_ID nor FILE_NAME"),
    ("id-number", {"PRODUCT_ID": 12}, "PRODUCT_ID"),
    ("bitmode-unknown", {"SAMPLE_BIT_MODE_ID": "LOG"}, "unknown SAMPLE_BIT_MODE_ID"),
    ("bitmode-list", {"SAMPLE_BIT_MODE_ID": ["SQROOT"]}, "SAMPLE_BIT_MODE_ID"),
    ("delay-negative", {"INTERFRAME_DELAY": "-0.37 <s>"}, "outside (0, 60)"),
    ("delay-zero", {"INTERFRAME_DELAY": 0}, "outside (0, 60)"),
    ("delay-huge", {"INTERFRAME_DELAY": "1e308 <s>"}, "outside (0, 60)"),
    ("delay-overflow", {"INTERFRAME_DELAY": "1e999 <s>"}, "outside (0, 60)"),
    ("delay-unit", {"INTERFRAME_DELAY": "0.37 <furlong>"}, "unknown time unit"),
    ("delay-text", {"INTERFRAME_DELAY": "soon"}, "INTERFRAME_DELAY"),
    ("delay-list", {"INTERFRAME_DELAY": [0.37]}, "INTERFRAME_DELAY"),
    ("exposure-negative", {"EXPOSURE_DURATION": "-19 <ms>"}, "outside (0, 60)"),
    ("exposure-bool", {"EXPOSURE_DURATION": False}, "EXPOSURE_DURATION"),
    ("sampling-3", {"SAMPLING_FACTOR": 3}, "SAMPLING_FACTOR must be 1 or 2"),
    ("date-year-9999", {"START_TIME": "9999-12-31T23:59:59.999"}, "outside the years"),
    ("date-year-1", {"START_TIME": "0001-01-01T00:00:00"}, "outside the years"),
    ("date-year-1900", {"STOP_TIME": "1900-01-01T00:00:00"}, "outside the years"),
    ("date-month-13", {"START_TIME": "2022-13-01T00:00:00"}, "START_TIME"),
    ("date-doy-400", {"START_TIME": "2022-400T00:00:00"}, "START_TIME"),
    ("date-text", {"START_TIME": "yesterday"}, "START_TIME"),
    ("date-number", {"START_TIME": 1656000000}, "START_TIME"),
    ("stop-before-start", {"STOP_TIME": "2022-07-05T12:00:00"}, "before START_TIME"),
    ("lat-200", {"SUB_SPACECRAFT_LATITUDE": "200.0"}, "SUB_SPACECRAFT_LATITUDE"),
    ("lat-nan", {"SUB_SPACECRAFT_LATITUDE": float("nan")}, "SUB_SPACECRAFT_LATITUDE"),
    ("lon-inf", {"SUB_SPACECRAFT_LONGITUDE": "1e999"}, "SUB_SPACECRAFT_LONGITUDE"),
    ("altitude-negative", {"SPACECRAFT_ALTITUDE": "-5 <km>"}, "SPACECRAFT_ALTITUDE"),
    ("altitude-unit", {"SPACECRAFT_ALTITUDE": "5 <parsec>"}, "unknown distance unit"),
    ("pj-text", {"PJ": "forty-three"}, "PJ"),
    ("tdi-float", {"JNO:TDI_STAGES_COUNT": 2.5}, "JNO:TDI_STAGES_COUNT"),
    # the former quantity pattern backtracked cubically here: 63 s for 4,000 blanks
    ("delay-unclosed-unit", {"INTERFRAME_DELAY": "0.372 <" + " " * 5000}, "INTERFRAME_DELAY"),
    ("delay-long-digits", {"INTERFRAME_DELAY": "1" * 50000 + "x"}, "INTERFRAME_DELAY"),
]


@pytest.mark.parametrize(("over", "words"), [c[1:] for c in FIELDS], ids=[c[0] for c in FIELDS])
def test_bad_metadata_fields(frame_files, no_hang, over, words):
    png, js = frame_files(meta=meta_dict(**over))
    with pytest.raises(MetadataError) as info:
        read_frame(png)
    text = str(info.value)
    assert str(js) in text or str(png) in text, text
    assert words.lower() in text.lower(), text


def test_filter_name_list_does_not_break_the_metadata_search(tmp_path):
    """FILE_NAME given as a list (unhashable) made the folder search crash."""
    png = tmp_path / "JNCE_Q-raw.png"
    from junocam.output import encode_png

    png.write_bytes(encode_png(np.zeros((384, 1648), np.uint8)))
    (tmp_path / "1-Metadata.json").write_text(json.dumps({"FILE_NAME": ["a"], "PRODUCT_ID": {}}))
    (tmp_path / "2-Metadata.json").write_text(json.dumps(meta_dict(PRODUCT_ID="JNCE_Q")))
    frame = read_frame(png)
    assert frame.meta.product_id == "JNCE_Q"


def test_contradicting_user_values(frame_files):
    png, _ = frame_files()
    expect(MetadataError, lambda: read_frame(png, filters=["RED", "GREEN", "BLUE"]), png,
           "contradicts the metadata's FILTER_NAME")  # fmt: skip
    expect(MetadataError, lambda: read_frame(png, interframe_delay=0.5), png,
           "contradicts the metadata's INTERFRAME_DELAY")  # fmt: skip


# --- PDS3 labels --------------------------------------------------------------------

LABEL = """PDS_VERSION_ID = PDS3
RECORD_TYPE = FIXED_LENGTH
RECORD_BYTES = {rb}
^IMAGE = {ptr}
PRODUCT_ID = "JNCE_2017038_04C00586_V01"
FILTER_NAME = ('BLUE', 'GREEN', 'RED')
INTERFRAME_DELAY = 0.376 <s>
OBJECT = IMAGE
  LINES = {lines}
  LINE_SAMPLES = 1648
  SAMPLE_BITS = {bits}
  SAMPLE_TYPE = {stype}
  LINE_PREFIX_BYTES = {prefix}
END_OBJECT = IMAGE
END
"""


def _pds(tmp_path: Path, img_bytes: int = 384 * 1648, **kw: object) -> Path:
    fields = {"rb": 1648, "ptr": '"P.IMG"', "lines": 384, "bits": 8,
              "stype": "UNSIGNED_INTEGER", "prefix": 0, **kw}  # fmt: skip
    (tmp_path / "P.IMG").write_bytes(bytes(img_bytes))
    lbl = tmp_path / "P.LBL"
    lbl.write_text(LABEL.format(**fields))
    return lbl


PDS_CASES = [
    ("record-zero", {"ptr": '("P.IMG", 0)'}, MetadataError, "whole number from 1"),
    ("record-negative", {"ptr": '("P.IMG", -3)'}, MetadataError, "whole number from 1"),
    ("record-text", {"ptr": '("P.IMG", "abc")'}, MetadataError, "whole number from 1"),
    ("record-float", {"ptr": '("P.IMG", 1.5)'}, MetadataError, "whole number from 1"),
    ("record-huge", {"ptr": '("P.IMG", 99999999999999999999999)'}, FormatError, "past the end"),
    ("record-past-end", {"ptr": '("P.IMG", 2)'}, FormatError, "past the end"),
    ("bytes-past-end", {"ptr": '("P.IMG", 100 <BYTES>)'}, FormatError, "past the end"),
    ("bytes-negative", {"ptr": '("P.IMG", -5 <BYTES>)'}, MetadataError, "byte offset"),
    ("bytes-unit", {"ptr": '("P.IMG", 5 <KM>)'}, MetadataError, "unit"),
    ("pointer-triple", {"ptr": '("P.IMG", 1, 2)'}, MetadataError, "is not a file name"),
    ("pointer-set", {"ptr": "{1, 2}"}, MetadataError, "is not a file name"),
    ("pointer-absolute", {"ptr": '"/etc/hostname"'}, MetadataError, "without folders"),
    ("pointer-dotdot", {"ptr": '"../P.IMG"'}, MetadataError, "without folders"),
    ("pointer-missing-file", {"ptr": '"Q.IMG"'}, FormatError, "is missing"),
    ("record-bytes-zero", {"ptr": '("P.IMG", 2)', "rb": 0}, MetadataError, "RECORD_BYTES"),
    ("record-bytes-negative", {"ptr": '("P.IMG", 2)', "rb": -5}, MetadataError, "RECORD_BYTES"),
    ("record-bytes-text", {"ptr": '("P.IMG", 2)', "rb": '"big"'}, MetadataError, "RECORD_BYTES"),
    ("prefix-negative", {"prefix": -1648}, MetadataError, "must not be negative"),
    ("prefix-huge", {"prefix": 10**15}, FormatError, "past the end"),
    ("lines-more-than-file", {"lines": 768}, FormatError, "truncated image"),
    ("lines-zero", {"lines": 0}, MetadataError, "must be positive"),
    ("lines-giant", {"lines": 10**12}, FormatError, "more than the limit"),
    ("bits-12", {"bits": 12}, MetadataError, "SAMPLE_BITS is 12"),
    ("sample-type-real", {"stype": "IEEE_REAL"}, MetadataError, "SAMPLE_TYPE"),
]


@pytest.mark.parametrize(
    ("kw", "err", "words"), [c[1:] for c in PDS_CASES], ids=[c[0] for c in PDS_CASES]
)
def test_bad_pds3_labels(tmp_path, kw, err, words):
    lbl = _pds(tmp_path, **kw)
    with pytest.raises(err) as info:
        read_frame(lbl)
    text = str(info.value)
    assert str(lbl) in text or str(tmp_path / "P.IMG") in text, text
    assert words.lower() in text.lower(), text


BAD_PVL = [
    ("no-end", "PDS_VERSION_ID = PDS3\nOBJECT = IMAGE\n", "no END"),
    ("double-equals", "PDS_VERSION_ID = PDS3\nLINES = = 3\nEND\n", "malformed PVL"),
    ("unclosed-object", "OBJECT = IMAGE\n LINES = 3\nEND\n", "IMAGE"),
    ("unclosed-string", 'PRODUCT_ID = "abc\nEND\n', "malformed PVL"),
    ("no-image", "PDS_VERSION_ID = PDS3\nFILTER_NAME = RED\nEND\n", "no IMAGE object"),
    ("binary", "PDS_VERSION_ID = \x00\x01\x02\xff\nEND\n", "PVL"),
    # found by the atheris fuzzer: pvl 1.3's parser looped forever on these
    ("equals-line-after-value", 'A = 1\n = "D.IMG"\nEND\n', "malformed PVL"),
    (
        "fuzz-timeout-8e6b98",
        'PDS_VERSION_ID = PDS3\nRECORD_BYTES = 1648\n = "D.IMG"\n'
        "PROD= 128\n  LINE_SAMPLESTER_48\n  SAMPLE_BITS = 4\nEND_OBJEPDS_VERAGE\nEND\n",
        "malformed PVL",
    ),
    ("deep-groups", "GROUP = A\n" * 300 + "END_GROUP = A\n" * 300 + "END\n", "IMAGE"),
    # pvl spends about a millisecond on each unquoted word: 32 KB of these took 15 s
    ("many-words", "PDS_VERSION_ID = PDS3\n" + "A=B\n" * 8192 + "END\n", "24580 words"),
    # the END-line search backtracked quadratically over blank lines: 3 s for 40,000
    ("blank-lines-no-end", "PDS_VERSION_ID = PDS3\n" + "\n" * 300_000, "no END"),
    (
        "huge-label",
        "PDS_VERSION_ID = PDS3\n/*" + "c" * 70000 + "*/\nEND\n",
        "characters long, more than the 65536",
    ),
]


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in BAD_PVL], ids=[c[0] for c in BAD_PVL])
def test_bad_pvl(tmp_path, no_hang, text, words):
    lbl = tmp_path / "X.LBL"
    lbl.write_text(text, encoding="latin-1")
    expect(MetadataError, lambda: read_frame(lbl), lbl, words)


def test_label_size_limits_leave_real_labels_alone():
    """A long description and a few hundred statements stay under the label limits."""
    long_text = 'DESCRIPTION = "' + "a long note, " * 3000 + '"\n/* ' + "c" * 9000 + " */\n"
    statements = "".join(f"KEY_{i} = (1, 2) <s>\n" for i in range(150))  # 1,500 tokens
    text = LABEL.format(rb=1648, ptr="2", lines=384, bits=8, stype="UNSIGNED_INTEGER", prefix=0)
    text = text.replace("END\n", long_text + statements + "END\n")
    assert len(text) < MAX_LABEL_CHARS
    meta = from_pds3_label(text)
    assert meta.lines == 384 and meta.extra["KEY_149"]


def test_attached_label_pointing_inside_itself(tmp_path):
    label = LABEL.format(rb=64, ptr="1", lines=384, bits=8, stype="UNSIGNED_INTEGER", prefix=0)
    img = tmp_path / "A.IMG"
    img.write_bytes(label.encode() + bytes(384 * 1648))
    expect(MetadataError, lambda: read_frame(img), img, "inside the attached label")


def test_archive_label_scan_is_linear_on_blank_lines(no_hang):
    """The download's label scan (``fetch.pds``) read ``^\\s*`` across blank lines too."""
    from junocam.fetch.pds import parse_label

    text = "\n" * 300_000 + 'RECORD_BYTES = 1648\nFILE_RECORDS = 2\n^IMAGE = "A.IMG"\nEND\n'
    facts = parse_label(text)
    assert (facts.image_name, facts.size, facts.md5) == ("A.IMG", 3296, None)
    assert parse_label(" \n" * 300_000).image_name is None
