"""The command line on synthetic frames: outputs, exit codes and error messages."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import synthetic_strip

from junocam.cli import main
from junocam.output import encode_png


def run(*args: str | os.PathLike[str]):
    return CliRunner().invoke(main, [os.fspath(a) for a in args])


def assert_failed(result, *fragments: str, code: int = 1) -> None:
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    assert "Traceback" not in result.stderr
    error_lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert error_lines, result.stderr
    for fragment in fragments:
        assert any(fragment in ln for ln in error_lines), (fragment, result.stderr)


@pytest.mark.parametrize("command", [[], ["info"], ["split"], ["process"]])
def test_help_with_examples(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output


def test_info_text_and_json(make_frame):
    png = make_frame(synthetic_strip(2, 3))
    text = run("info", png)
    assert text.exit_code == 0, text.stderr
    assert "2 exposures x 3 filters = 6 framelets of 128 lines" in text.output
    assert "BLUE, GREEN, RED" in text.output and "SQROOT" in text.output
    assert "19.2 ms, TDI 6" in text.output
    data = json.loads(run("info", "--json", png).output)
    assert data["n_exposures"] == 2 and data["interframe_delay_s"] == 0.372
    assert data["first_exposure_start"].startswith("2022-07-05T12:13:37.46")
    assert data["assumed"] == []


def test_info_without_metadata_marks_assumed(make_frame):
    png = make_frame(meta=None)
    result = run("info", png)
    assert result.exit_code == 0
    assert "BLUE, GREEN, RED (readout order) (assumed)" in result.output
    assert "assumed:" in result.output


def test_split_writes_bands_and_framelets(make_frame, tmp_path):
    png = make_frame(synthetic_strip(2, 3, levels=[10, 20, 30]))
    out = tmp_path / "bands"
    assert run("split", png, "-o", out).exit_code == 0
    import imageio.v3 as iio

    names = sorted(p.name for p in out.iterdir())
    assert names == [f"JNCE_2022186_99C00001_V01-{b}.png" for b in ("BLUE", "GREEN", "RED")]
    red = iio.imread(out / "JNCE_2022186_99C00001_V01-RED.png")
    assert red.shape == (256, 1648) and set(np.unique(red)) == {30}
    per = tmp_path / "per"
    assert run("split", png, "-o", per, "--per-framelet").exit_code == 0
    assert len(list(per.iterdir())) == 6
    assert iio.imread(per / "JNCE_2022186_99C00001_V01-GREEN-001.png").shape == (128, 1648)


def test_process_writes_colour_png_with_bands_in_the_right_channels(make_frame, tmp_path):
    # FILTER_NAME order RED, GREEN, BLUE here, to check the order is honoured
    strip = synthetic_strip(4, 3, levels=[250, 120, 40])
    png = make_frame(strip, filters=("RED", "GREEN", "BLUE"))
    out = tmp_path / "out"
    result = run("process", "-p", "raw", "--geometry", "naive", png, "-o", out)
    assert result.exit_code == 0, result.stderr
    import imageio.v3 as iio

    rgb = iio.imread(out / "JNCE_2022186_99C00001_V01-naive.png")
    assert rgb.dtype == np.uint8 and rgb.ndim == 3
    r, g, b = rgb[rgb.shape[0] // 2, 800]
    assert r == 255 and 0 < b < g < r


@pytest.mark.parametrize(("fmt", "suffix"), [("png16", ".png"), ("tiff16", ".tif")])
def test_process_16bit_formats(make_frame, tmp_path, fmt, suffix):
    png = make_frame()
    result = run(
        "process", "-p", "raw", "--geometry", "naive", png, "-o", tmp_path / "o", "--format", fmt
    )
    assert result.exit_code == 0, result.stderr
    written = tmp_path / "o" / f"JNCE_2022186_99C00001_V01-naive{suffix}"
    data = written.read_bytes()
    if suffix == ".png":
        assert struct.unpack(">B", data[24:25])[0] == 16
    else:
        import tifffile

        assert tifffile.imread(written).dtype == np.uint16


def test_process_without_metadata_needs_filters(make_frame, tmp_path):
    png = make_frame(meta=None)
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", png, "-o", tmp_path / "o"),
        str(png),
        "no metadata found",
    )
    result = run(
        "process", png, "-o", tmp_path / "o", "--filters", "B,G,R", "--interframe-delay", "0.37"
    )
    assert result.exit_code == 0, result.stderr
    assert "assumed" in result.stderr and "interframe_delay=0.37" in result.stderr


# --- bad inputs: one clear line naming the file, exit 1, no traceback ----------------


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_bad_wrong_width(tmp_path):
    p = _write(tmp_path, "w-raw.png", encode_png(np.zeros((384, 1000), np.uint8)))
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", p, "-o", tmp_path / "o"),
        f"{p}: width is 1000 samples",
    )


def test_bad_height_not_multiple_of_128(tmp_path):
    p = _write(tmp_path, "h-raw.png", encode_png(np.zeros((200, 1648), np.uint8)))
    assert_failed(run("info", p), f"{p}: height 200 lines is not a multiple")


def test_bad_height_not_multiple_of_filter_count(make_frame, tmp_path):
    png = make_frame(synthetic_strip(1, 2, levels=[1, 2]))
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", png, "-o", tmp_path / "o"),
        f"{png}: height 256 lines is not a multiple of 384",
    )


def test_bad_colour_png(tmp_path):
    p = _write(tmp_path, "c-raw.png", encode_png(np.zeros((384, 1648, 3), np.uint8)))
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", p, "-o", tmp_path / "o"),
        f"{p}: image is 8-bit RGB",
    )


def test_bad_16bit_png(tmp_path):
    p = _write(tmp_path, "d-raw.png", encode_png(np.zeros((384, 1648), np.uint16)))
    assert_failed(run("split", p, "-o", tmp_path / "o"), f"{p}: image is 16-bit greyscale")


def test_bad_truncated_png(make_frame, tmp_path):
    png = make_frame(synthetic_strip(2, 3, texture=60))
    png.write_bytes(png.read_bytes()[:5000])
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", png, "-o", tmp_path / "o"),
        f"{png}: cannot decode PNG data",
    )


def test_bad_non_png_bytes(tmp_path):
    p = _write(tmp_path, "x-raw.png", b"<html>not found</html>")
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", p, "-o", tmp_path / "o"),
        f"{p}: not a PNG file",
    )


def test_bad_missing_metadata(make_frame, tmp_path):
    png = make_frame(meta=None)
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", png, "-o", tmp_path / "o"),
        f"{png}: no metadata found",
    )


def test_bad_missing_explicit_metadata(make_frame, tmp_path):
    png = make_frame(meta=None)
    missing = tmp_path / "gone.json"
    assert_failed(
        run(
            "process",
            "-p",
            "raw",
            "--geometry",
            "naive",
            png,
            "--metadata",
            missing,
            "-o",
            tmp_path / "o",
        ),
        f"{missing}: metadata file does not exist",
    )


def test_bad_malformed_json(make_frame, tmp_path):
    png = make_frame(meta="{not json")
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", png, "-o", tmp_path / "o"),
        "12345-Metadata.json: malformed JSON",
    )


def test_bad_malformed_pvl(tmp_path):
    lbl = _write(tmp_path, "bad.LBL", b"PDS_VERSION_ID = PDS3\nOBJECT = IMAGE\n LINES = = 2\nEND\n")
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", lbl, "-o", tmp_path / "o"),
        f"{lbl}: malformed PVL label",
    )


def test_bad_lines_contradict_pixels(make_frame, tmp_path):
    png = make_frame(LINES=1152)
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", png, "-o", tmp_path / "o"),
        f"{png}: LINES = 1152",
        "contradicts the image height of 768 lines",
    )


def test_bad_absurd_size(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 1648, 50_000_000, 8, 0, 0, 0, 0)
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
    p = _write(tmp_path, "big-raw.png", head + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", p, "-o", tmp_path / "o"),
        f"{p}: image is 1648x50000000",
    )
    small = synthetic_strip(1, 3)
    q = _write(tmp_path, "q-raw.png", encode_png(small))
    assert_failed(run("--max-pixels", "1000", "info", q), "more than the limit of 1000")


def test_bad_output_dir_not_writable(make_frame, tmp_path):
    png = make_frame()
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    result = run("process", "-p", "raw", "--geometry", "naive", png, "-o", blocker / "out")
    assert_failed(result, f"{blocker / 'out'}: cannot create the output directory")
    result = run("split", png, "-o", blocker)
    assert_failed(result, f"{blocker}: output path exists and is not a directory")


def test_never_overwrites_an_input(make_frame, tmp_path):
    # an input that happens to carry the output's name in the output directory
    strip = synthetic_strip(1, 3)
    out = tmp_path / "o"
    out.mkdir()
    victim = out / "JNCE_V_V01-naive.png"
    victim.write_bytes(encode_png(strip))
    (out / "JNCE_V_V01-naive.json").write_text(
        json.dumps(
            {"PRODUCT_ID": "JNCE_V_V01", "FILTER_NAME": ["BLUE", "GREEN", "RED"], "LINES": 384}
        )
    )
    before = victim.read_bytes()
    assert_failed(
        run("process", "-p", "raw", "--geometry", "naive", victim, "-o", out),
        "refusing to overwrite an input file",
    )
    assert victim.read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_multi_frame_run_continues_after_failures(make_frame, tmp_path):
    good1 = make_frame(product_id="JNCE_A_V01")
    bad = _write(tmp_path, "bad-raw.png", b"garbage")
    good2 = make_frame(product_id="JNCE_B_V01")
    out = tmp_path / "o"
    result = run("process", "-p", "raw", "--geometry", "naive", good1, bad, good2, "-o", out)
    assert_failed(result, f"{bad}: not a PNG file")
    assert sorted(p.name for p in out.iterdir()) == [
        "JNCE_A_V01-naive.json",
        "JNCE_A_V01-naive.png",
        "JNCE_B_V01-naive.json",
        "JNCE_B_V01-naive.png",
    ]


def test_debug_shows_traceback(tmp_path):
    bad = _write(tmp_path, "bad-raw.png", b"garbage")
    result = run(
        "--debug", "process", "-p", "raw", "--geometry", "naive", bad, "-o", tmp_path / "o"
    )
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "error: " in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["process"],
        ["process", "x.png"],
        ["process", "x.png", "-o", "o", "--format", "jpeg"],
        ["process", "x.png", "-o", "o", "--filters", "PURPLE"],
        ["process", "x.png", "-o", "o", "--interframe-delay", "-1"],
        ["process", "a.png", "b.png", "-o", "o", "--metadata", "m.json"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize("command", [["map", "-o", "maps"], ["geometry", "--navigate"]])
def test_several_frames_with_a_kernel_folder_without_kernels(tmp_path, make_frame, command):
    """``map`` and ``geometry --navigate`` navigate several frames first (a flyby's are
    tied to one spin axis); kernels that cannot be loaded are still reported per frame,
    one line each, no traceback."""
    (tmp_path / "empty").mkdir()
    a = make_frame(product_id="JNCE_2022186_99C00001_V01")
    b = make_frame(product_id="JNCE_2022186_99C00002_V01")
    cmd, *opts = command
    opts = [str(tmp_path / o) if o == "maps" else o for o in opts]
    result = run(cmd, a, b, "--kernels", tmp_path / "empty", *opts)
    assert_failed(result, "no SPICE kernels")
    assert result.stderr.count("error: ") == 2, result.stderr
