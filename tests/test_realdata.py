"""Real JunoCam frames from ../shared/junocam: decode, metadata, split, compose, CLI.

These fail rather than skip when the CI environment variable is set and the data
is missing (see the ``shared_junocam`` fixture).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from junocam.cli import main
from junocam.compose import naive_band_images, naive_band_offsets
from junocam.decode import find_metadata, read_frame
from junocam.errors import FormatError
from junocam.framelets import PHOTOACTIVE, split
from junocam.metadata import Companding, Filter, from_pds3_label, from_website_json

pytestmark = pytest.mark.realdata

LABEL_DIR = "JNCE_2017038_04C00586_V01_pds3_label_only"
NO_META_DIR = "JNCE_2021246_36C00061_V01_no_metadata"


def _pngs(root: Path) -> list[Path]:
    return sorted((root / "raw").glob("*/*.png"))


def _with_metadata(root: Path) -> list[Path]:
    return [p for p in _pngs(root) if p.parent.name != NO_META_DIR]


@pytest.fixture(scope="module")
def raw_root(shared_junocam: Path) -> Path:
    root = shared_junocam
    assert len(_with_metadata(root)) >= 5, "expected the five website frames with metadata"
    return root


@pytest.fixture(scope="module")
def processed(raw_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """One CLI run over every real frame with metadata (the multi-frame path)."""
    out = tmp_path_factory.mktemp("processed")
    frames = [str(p) for p in _with_metadata(raw_root)]
    result = CliRunner().invoke(
        main, ["process", "-p", "raw", "--geometry", "naive", *frames, "-o", str(out)]
    )
    return result, out


def _json_of(png: Path) -> dict:
    (meta,) = png.parent.glob("*-Metadata.json")
    return json.loads(meta.read_text())


def test_every_png_decodes(raw_root):
    pngs = _pngs(raw_root)
    assert len(pngs) == 6
    for png in pngs:
        frame = read_frame(png)
        assert frame.pixels.dtype == np.uint8
        assert frame.pixels.shape[1] == 1648 and frame.pixels.shape[0] % 128 == 0
        fr = frame.framelets
        assert fr.data.shape == (
            frame.meta.n_exposures,
            frame.meta.n_filters,
            128,
            1648,
        )
        assert np.shares_memory(fr.data, frame.pixels)


@pytest.mark.parametrize(
    ("folder", "max_dn"),
    [
        ("JNCE_2022186_43C00078_V01", 249),
        ("JNCE_2022186_43M00081_V01", 58),
        (NO_META_DIR, 195),
    ],
)
def test_pixel_values_match_sources(raw_root, folder, max_dn):
    (png,) = (raw_root / "raw" / folder).glob("*.png")
    assert int(read_frame(png).pixels.max()) == max_dn


def test_metadata_matches_json_for_every_frame(raw_root):
    for png in _with_metadata(raw_root):
        data = _json_of(png)
        meta = read_frame(png).meta
        assert find_metadata(png).name.endswith("-Metadata.json")
        assert meta.product_id == data["PRODUCT_ID"]
        assert png.name == data["FILE_NAME"]
        assert [f.value for f in meta.filters] == data["FILTER_NAME"]
        assert meta.lines == data["LINES"]
        assert meta.n_exposures == data["LINES"] // 128 // len(data["FILTER_NAME"])
        assert meta.interframe_delay == float(data["INTERFRAME_DELAY"].split()[0])
        ms = float(data["EXPOSURE_DURATION"].split()[0])
        assert meta.exposure_duration == pytest.approx(ms / 1000, abs=1e-12)
        assert meta.exposure_duration == pytest.approx(data["JNO:TDI_STAGES_COUNT"] * 0.0032)
        assert meta.tdi_stages == data["JNO:TDI_STAGES_COUNT"]
        assert meta.perijove == int(data["PJ"])
        assert meta.start_time == datetime.fromisoformat(data["START_TIME"]).replace(tzinfo=UTC)
        assert meta.stop_time == datetime.fromisoformat(data["STOP_TIME"]).replace(tzinfo=UTC)
        assert meta.companding is Companding.SQROOT
        assert meta.assumed == ()


def test_43c00078_exact_values(raw_root):
    png = raw_root / "raw" / "JNCE_2022186_43C00078_V01" / "JNCE_2022186_43C00078_V01-raw.png"
    m = read_frame(png).meta
    assert m.lines == 4608 and m.n_exposures == 12
    assert m.filters == (Filter.BLUE, Filter.GREEN, Filter.RED)
    assert m.exposure_duration == 0.0192
    assert m.tdi_stages == 6
    assert m.interframe_delay == 0.372
    assert m.start_time == datetime(2022, 7, 5, 12, 13, 37, 407000, tzinfo=UTC)
    assert m.stop_time == datetime(2022, 7, 5, 12, 13, 41, 871000, tzinfo=UTC)
    assert m.perijove == 43 and m.target == "JUPITER"
    assert m.title == "PJ43 Southern circumpolar cyclones"
    assert m.spacecraft_altitude_km == 269171.4
    assert m.sub_spacecraft_lat_deg == -83.2812


def test_methane_frames(raw_root):
    m81 = read_frame(next((raw_root / "raw" / "JNCE_2022186_43M00081_V01").glob("*.png"))).meta
    assert m81.filters == (Filter.METHANE,) and m81.n_exposures == 12
    assert m81.exposure_duration == pytest.approx(0.1024) and m81.tdi_stages == 32
    m40 = read_frame(next((raw_root / "raw" / "JNCE_2022229_44M00040_V01").glob("*.png"))).meta
    assert m40.n_exposures == 36 and m40.interframe_delay == 0.373
    assert m40.spacecraft_altitude_km == pytest.approx(22056, abs=1)


def test_metadata_only_json(raw_root):
    path = raw_root / "raw" / "JNCE_2021052_32C00054_V01_metadata_only" / "10124-Metadata.json"
    m = from_website_json(json.loads(path.read_text()), source=path)
    assert m.product_id == "JNCE_2021052_32C00054_V01"
    assert m.lines == 9984 and m.n_exposures == 26
    assert m.exposure_duration == 0.0032 and m.tdi_stages == 1
    assert m.interframe_delay == 0.370 and m.perijove == 32


def _label_path(root: Path) -> Path:
    return root / "raw" / LABEL_DIR / "JNCE_2017038_04C00586_V01.LBL"


def test_pds3_label_parsed_fully(raw_root):
    path = _label_path(raw_root)
    m = from_pds3_label(path.read_text(encoding="latin-1"), source=path)
    assert m.product_id == "JNCE_2017038_04C00586_V01"
    assert m.lines == 3072 and m.line_samples == 1648 and m.n_exposures == 8
    assert m.filters == (Filter.BLUE, Filter.GREEN, Filter.RED)
    assert m.companding is Companding.SQROOT
    assert m.interframe_delay == 0.376
    assert m.exposure_duration == 0.0032 and m.tdi_stages == 1
    assert m.sampling_factor == 1
    assert m.start_time == datetime(2017, 2, 7, 12, 45, 17, 347000, tzinfo=UTC)
    assert m.stop_time == datetime(2017, 2, 7, 12, 45, 20, 355000, tzinfo=UTC)
    assert m.perijove == 4 and m.target == "JUPITER"
    assert m.spacecraft_altitude_km == pytest.approx(4005488.3)
    assert m.sub_spacecraft_lat_deg == -17.9467 and m.sub_spacecraft_lon_deg == 120.262
    assert m.extra["IMAGE"]["MD5_CHECKSUM"] == "8187bc46fcfbfe86d895d5745f644aae"
    assert m.extra["RECORD_BYTES"] == 1648 and m.extra["FILE_RECORDS"] == 3072
    assert m.assumed == ()


def test_pds3_label_missing_img_error(raw_root):
    path = _label_path(raw_root)
    with pytest.raises(FormatError, match=r"JNCE_2017038_04C00586_V01\.IMG .*is missing") as e:
        read_frame(path)
    assert str(e.value).startswith(str(path))
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 1
    assert "3072" in result.output and "8 exposures x 3 filters" in result.output
    assert f"error: {path}: the image file JNCE_2017038_04C00586_V01.IMG" in result.stderr


def test_frame_without_metadata(raw_root, tmp_path):
    (png,) = (raw_root / "raw" / NO_META_DIR).glob("*.png")
    runner = CliRunner()
    info = runner.invoke(main, ["info", "--json", str(png)])
    assert info.exit_code == 0
    data = json.loads(info.output)
    assert data["n_exposures"] == 18 and data["filters"] == ["BLUE", "GREEN", "RED"]
    assert {"filters", "companding", "product_id"} <= set(data["assumed"])
    split_run = runner.invoke(main, ["split", str(png), "-o", str(tmp_path / "s")])
    assert split_run.exit_code == 0
    assert len(list((tmp_path / "s").glob("*.png"))) == 3
    refused = runner.invoke(main, ["process", str(png), "-o", str(tmp_path / "p")])
    assert refused.exit_code == 1 and "no metadata found" in refused.stderr
    ok = runner.invoke(
        main,
        [
            "process",
            "-p",
            "raw",
            "--geometry",
            "naive",
            str(png),
            "-o",
            str(tmp_path / "p"),
            "--filters",
            "BLUE,GREEN,RED",
            "--interframe-delay",
            "0.37",
        ],
    )
    assert ok.exit_code == 0, ok.stderr
    assert "assumed" in ok.stderr
    assert (tmp_path / "p" / "JNCE_2021246_36C00061_V01-naive.png").is_file()


def test_cli_processes_every_frame(raw_root, processed):
    result, out = processed
    assert result.exit_code == 0, result.stderr
    for png in _with_metadata(raw_root):
        pid = _json_of(png)["PRODUCT_ID"]
        img = iio.imread(out / f"{pid}-naive.png")
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert img.max() > 200  # normalised, not an empty picture
        if "METHANE" in _json_of(png)["FILTER_NAME"] and len(_json_of(png)["FILTER_NAME"]) == 1:
            assert np.array_equal(img[..., 0], img[..., 1])  # single band: grey
        else:
            assert not np.array_equal(img[..., 0], img[..., 2])


def _band_codes(pixels: np.ndarray, filter_names: list[str], name: str) -> np.ndarray:
    """Rows of one band, picked by FILTER_NAME position without the package's split."""
    nf = len(filter_names)
    k = filter_names.index(name)
    rows = np.arange(pixels.shape[0])
    mine = rows[(rows // 128) % nf == k]  # exposure e, filter k: rows e*nf*128 + k*128 ...
    return pixels[mine][:, PHOTOACTIVE]


def _is_function_of(codes: np.ndarray, out: np.ndarray) -> bool:
    """Whether ``out`` is a non-decreasing function of ``codes`` (uint8 both)."""
    counts = np.bincount(codes.astype(np.int64).ravel() * 256 + out.ravel(), minlength=65536)
    pairs = np.flatnonzero(counts)
    code, value = pairs // 256, pairs % 256
    return len(np.unique(code)) == len(code) and bool(np.all(np.diff(value) >= 0))


@pytest.mark.parametrize(
    "product_id",
    ["JNCE_2022186_43C00078_V01", "JNCE_2022186_43C00080_V01", "JNCE_2022229_44C00029_V01"],
)
def test_composite_channels_come_from_the_right_framelets(raw_root, processed, product_id):
    result, out = processed
    assert result.exit_code == 0, result.stderr
    png = raw_root / "raw" / product_id / f"{product_id}-raw.png"
    names = _json_of(png)["FILTER_NAME"]
    frame = read_frame(png)
    rgb = iio.imread(out / f"{product_id}-naive.png")
    linear = split(frame.linear(), frame.meta.filters)
    offsets = naive_band_offsets(
        naive_band_images(linear, photoactive=True), interframe_delay=frame.meta.interframe_delay
    )
    y0 = min(o[0] for o in offsets.values())
    x0 = min(o[1] for o in offsets.values())
    channel_of = {"RED": 0, "GREEN": 1, "BLUE": 2}
    # colour is shown where every band has data (issue 15): compare inside the bands'
    # common placement, clear of the feathered edge
    shape = _band_codes(frame.pixels, names, "RED").shape
    top = max(o[0] for o in offsets.values()) - y0 + 8
    bottom = min(o[0] for o in offsets.values()) - y0 + shape[0] - 8
    left = max(o[1] for o in offsets.values()) - x0 + 8
    right = min(o[1] for o in offsets.values()) - x0 + shape[1] - 8
    for name, channel in channel_of.items():
        codes = _band_codes(frame.pixels, names, name)
        dy, dx = offsets[Filter(name)]
        h, w = codes.shape
        placed = rgb[dy - y0 : dy - y0 + h, dx - x0 : dx - x0 + w]
        rows = slice(top - (dy - y0), bottom - (dy - y0))
        cols = slice(left - (dx - x0), right - (dx - x0))
        codes, placed = codes[rows, cols], placed[rows, cols]
        assert codes.shape[0] > 1000
        assert _is_function_of(codes, placed[..., channel]), name
        other = (channel + 1) % 3
        assert not _is_function_of(codes, placed[..., other]), (name, other)
