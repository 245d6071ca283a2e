"""Metadata parsing: website JSON, PDS3 labels, assumed metadata, quantities."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import website_json
from hypothesis import given
from hypothesis import strategies as st

from junocam.errors import MetadataError, MissingMetadataError
from junocam.metadata import (
    Companding,
    Filter,
    assumed_meta,
    exposure_start_time,
    from_pds3_label,
    from_website_json,
    parse_duration,
    parse_quantity,
    product_id_from_filename,
)


def test_json_basic_values():
    meta = from_website_json(website_json("JNCE_X_V01", 4608), source="m.json")
    assert meta.product_id == "JNCE_X_V01"
    assert meta.filters == (Filter.BLUE, Filter.GREEN, Filter.RED)
    assert meta.n_exposures == 12
    assert meta.interframe_delay == pytest.approx(0.372)
    assert meta.exposure_duration == pytest.approx(0.0192)
    assert meta.tdi_stages == 6
    assert meta.perijove == 43 and isinstance(meta.perijove, int)
    assert meta.start_time == datetime(2022, 7, 5, 12, 13, 37, 407000, tzinfo=UTC)
    assert meta.start_time.tzinfo is not None
    assert meta.companding is Companding.SQROOT
    assert meta.assumed == ()
    assert meta.source == "m.json"
    assert meta.extra["TITLE"] == "synthetic"


def test_json_missing_bit_mode_is_assumed_sqroot():
    meta = from_website_json(website_json("X", 384, SAMPLE_BIT_MODE_ID=None))
    assert meta.companding is Companding.SQROOT
    assert meta.is_assumed("companding")


def test_json_missing_filter_name_is_an_error():
    with pytest.raises(MetadataError, match="FILTER_NAME is missing") as info:
        from_website_json(website_json("X", 384, FILTER_NAME=None), source="m.json")
    assert str(info.value).startswith("m.json: ")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("INTERFRAME_DELAY", "fast"),
        ("INTERFRAME_DELAY", "0.372 <parsecs>"),
        ("EXPOSURE_DURATION", ["19.2"]),
        ("START_TIME", "yesterday"),
        ("START_TIME", 12),
        ("LINES", "many"),
        ("LINES", 4608.5),
        ("PJ", "forty-three"),
        ("JNO:TDI_STAGES_COUNT", True),
        ("FILTER_NAME", ["BLUE", "ULTRAVIOLET"]),
        ("FILTER_NAME", 7),
        ("SAMPLE_BIT_MODE_ID", "LOG"),
        ("SPACECRAFT_ALTITUDE", "12 <parsec>"),
        ("TARGET_NAME", 5),
    ],
)
def test_json_bad_values_name_the_field(field, value):
    with pytest.raises(MetadataError) as info:
        from_website_json(website_json("X", 384, **{field: value}), source="m.json")
    assert field.split(":")[-1] in str(info.value) or field in str(info.value)


def test_json_not_an_object():
    with pytest.raises(MetadataError, match="JSON object"):
        from_website_json(["not", "a", "dict"])  # type: ignore[arg-type]


def test_json_doy_time_and_z_suffix():
    m = from_website_json(
        website_json("X", 384, START_TIME="2022-186T12:13:37.407", STOP_TIME="2022-07-05T12:13:41Z")
    )
    assert m.start_time == datetime(2022, 7, 5, 12, 13, 37, 407000, tzinfo=UTC)
    assert m.stop_time == datetime(2022, 7, 5, 12, 13, 41, tzinfo=UTC)


def test_json_product_id_from_file_name():
    m = from_website_json(website_json("X", 384, PRODUCT_ID=None, FILE_NAME="JNCE_A_V01-raw.png"))
    assert m.product_id == "JNCE_A_V01"


def test_exposure_start_time_uses_bias_and_delta():
    m = from_website_json(website_json("X", 4608))
    first = exposure_start_time(m, 0)
    last = exposure_start_time(m, -1)
    assert (first - m.start_time).total_seconds() == pytest.approx(0.06188)
    assert (last - first).total_seconds() == pytest.approx(11 * 0.373)


def test_exposure_start_time_needs_delay():
    m = from_website_json(website_json("X", 384, INTERFRAME_DELAY=None))
    with pytest.raises(MissingMetadataError, match="INTERFRAME_DELAY"):
        exposure_start_time(m, 0)


LABEL = """PDS_VERSION_ID = PDS3
RECORD_TYPE = FIXED_LENGTH
RECORD_BYTES = 3296
FILE_RECORDS = 768
^IMAGE = "JNCR_X.IMG"
PRODUCT_ID = "JNCR_X"
START_TIME = 2017-02-07T12:45:17.347
INTERFRAME_DELAY = 0.376 <s>
EXPOSURE_DURATION = 3.200000 <ms>
SAMPLE_BIT_MODE_ID = "SQROOT"
FILTER_NAME = ('RED', 'BLUE')
OBJECT = IMAGE
  LINES = 768
  LINE_SAMPLES = 1648
  SAMPLE_TYPE = MSB_UNSIGNED_INTEGER
  SAMPLE_BITS = {bits}
END_OBJECT = IMAGE
END
"""


def test_pds3_label_16bit_is_linear():
    m = from_pds3_label(LABEL.format(bits=16), source="x.LBL")
    assert m.companding is Companding.NONE
    assert m.filters == (Filter.RED, Filter.BLUE)
    assert m.n_exposures == 3
    assert m.interframe_delay == pytest.approx(0.376)
    assert m.exposure_duration == pytest.approx(0.0032)
    assert m.start_time.tzinfo is not None


def test_pds3_label_8bit_uses_bit_mode():
    assert from_pds3_label(LABEL.format(bits=8)).companding is Companding.SQROOT


def test_pds3_label_bad_bits_and_malformed():
    with pytest.raises(MetadataError, match="SAMPLE_BITS"):
        from_pds3_label(LABEL.format(bits=12))
    with pytest.raises(MetadataError, match="malformed PVL"):
        from_pds3_label("OBJECT = IMAGE\n LINES = = 3\nEND", source="bad.LBL")
    with pytest.raises(MetadataError, match="no IMAGE object"):
        from_pds3_label('PRODUCT_ID = "X"\nEND')


def test_assumed_meta_rgb_when_height_fits():
    m = assumed_meta(768, source="dir/JNCE_Y_V01-raw.png")
    assert m.filters == (Filter.BLUE, Filter.GREEN, Filter.RED)
    assert m.product_id == "JNCE_Y_V01"
    assert {"product_id", "filters", "companding", "line_samples"} <= set(m.assumed)
    # the nominal delay, recorded as assumed (issue 15: the spin fit measures the turn)
    assert m.interframe_delay == 0.372 and "interframe_delay" in m.assumed


def test_assumed_meta_refuses_when_height_does_not_fit():
    with pytest.raises(MissingMetadataError, match="not a multiple of 384"):
        assumed_meta(512, source="x.png")


def test_assumed_meta_with_user_values():
    m = assumed_meta(512, filters=["M"], interframe_delay=0.37)
    assert m.filters == (Filter.METHANE,)
    assert m.interframe_delay == 0.37
    assert m.is_assumed("interframe_delay")


def test_product_id_from_filename():
    assert product_id_from_filename("a/b/JNCE_Z_V01-raw.png") == "JNCE_Z_V01"
    assert product_id_from_filename("JNCE_Z_V01.LBL") == "JNCE_Z_V01"


@given(
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.sampled_from(["s", "ms", "km", "K", "deg"]),
)
def test_parse_quantity_round_trip(value, unit):
    parsed, parsed_unit = parse_quantity(f"{value!r} <{unit}>")
    assert parsed == value
    assert parsed_unit == unit


@given(st.floats(min_value=1e-6, max_value=1e4, allow_nan=False))
def test_parse_duration_ms_is_thousandth(value):
    assert parse_duration(f"{value} <ms>") == pytest.approx(value / 1000, rel=1e-9)
    assert parse_duration(f"{value} <s>") == pytest.approx(value, rel=1e-9)


@given(st.text(alphabet="abc<>xyz !", min_size=1, max_size=10))
def test_parse_quantity_rejects_text(text):
    with pytest.raises(MetadataError):
        parse_quantity(text)
