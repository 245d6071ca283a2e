"""The committed sample frames: simulated, small, paired, documented and reproducible."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from conftest import REPO_ROOT

from junocam.cli import main
from junocam.decode import find_metadata, read_frame

SAMPLES = REPO_ROOT / "sample_frames"
README = (SAMPLES / "README.md").read_text(encoding="utf-8")
COMMANDS = re.findall(r"^junocam simulate .*$", README, flags=re.MULTILINE)


def test_every_sample_is_small_paired_and_simulated() -> None:
    pngs = sorted(SAMPLES.glob("*-raw.png"))
    assert len(pngs) == len(COMMANDS) == 3
    for png in pngs:
        assert png.stat().st_size < 500_000
        meta_path = find_metadata(png)
        assert meta_path == png.with_suffix(".json")
        meta = json.loads(meta_path.read_text())
        assert "SIMULATION" in meta and meta["PRODUCT_ID"] in README
        frame = read_frame(png)
        assert frame.meta.assumed == ()
        assert frame.pixels.dtype == np.uint8


def test_readme_command_regenerates_a_sample_exactly(tmp_path: Path) -> None:
    # the methane frame is the quickest to render
    cmd = next(c for c in COMMANDS if "--filters METHANE " in c)
    args = shlex.split(cmd)[1:]
    args[args.index("sample_frames")] = str(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (made,) = tmp_path.glob("*-raw.png")
    assert made.read_bytes() == (SAMPLES / made.name).read_bytes()
    assert (
        made.with_suffix(".json").read_bytes()
        == (SAMPLES / made.name).with_suffix(".json").read_bytes()
    )


def test_process_makes_a_colour_image_of_the_rgb_sample(tmp_path: Path) -> None:
    png = next(SAMPLES.glob("*_00C*-raw.png"))
    result = CliRunner().invoke(main, ["process", str(png), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    outputs = list(tmp_path.glob("*.png"))
    assert len(outputs) == 1
    assert "fitted turn" in result.output
