"""``junocam simulate``: outputs, metadata pairing, options and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from junocam.cli import main
from junocam.cli.simulate import simulated_product_id
from junocam.decode import find_metadata, read_frame
from junocam.metadata import Filter
from junocam.output import write_png

FAST = ["--exposures", "2", "--oversample", "1"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_default_rgb_frame(tmp_path: Path) -> None:
    code, out, err = run("simulate", "-o", str(tmp_path / "sim"), *FAST)
    assert code == 0, err
    pid = "JNCS_2026329_00C00000_V01"
    png = tmp_path / "sim" / f"{pid}-raw.png"
    js = tmp_path / "sim" / f"{pid}-raw.json"
    assert png.is_file() and js.is_file()
    assert str(png) in out
    # the other commands pair the image with its metadata
    assert find_metadata(png) == js
    frame = read_frame(png)
    assert frame.meta.assumed == ()
    assert frame.meta.product_id == pid
    assert frame.meta.filters == (Filter.BLUE, Filter.GREEN, Filter.RED)
    assert frame.pixels.shape == (2 * 3 * 128, 1648) and frame.pixels.dtype == np.uint8
    assert frame.meta.interframe_delay == pytest.approx(0.372)
    meta = json.loads(js.read_text())
    assert meta["FILE_NAME"] == png.name
    truth = meta["SIMULATION"]
    assert truth["scene"] == "jupiter" and truth["noise"] is True
    assert truth["turn_per_exposure_rad"] == pytest.approx(1.987 * 2 * np.pi / 60 * 0.373)
    assert truth["reference_exposure"] == 0.5
    # a planet was rendered: bright pixels in the photoactive area, dark columns dark
    assert frame.pixels[:, 23:1631].max() > 150
    assert frame.pixels[:, :23].max() < 30
    # no temp files left behind
    assert sorted(p.name for p in (tmp_path / "sim").iterdir()) == [js.name, png.name]


def test_methane_turn_delay_and_seed(tmp_path: Path) -> None:
    args = ["simulate", "-o", str(tmp_path), "--filters", "METHANE", "--exposures", "3"]
    args += ["--oversample", "1", "--turn", "0.07", "--interframe-delay", "0.38", "--seed", "4"]
    code, _, err = run(*args)
    assert code == 0, err
    png = tmp_path / "JNCS_2026329_00M00004_V01-raw.png"
    frame = read_frame(png)
    assert frame.meta.filters == (Filter.METHANE,)
    assert frame.pixels.shape == (3 * 128, 1648)
    assert frame.meta.interframe_delay == pytest.approx(0.38)
    truth = json.loads(png.with_suffix(".json").read_text())["SIMULATION"]
    assert truth["turn_per_exposure_rad"] == 0.07 and truth["seed"] == 4


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        args = ["simulate", "-o", str(tmp_path / name), *FAST, "--seed", seed]
        code, _, err = run(*args, "--product-id", "SIM")
        assert code == 0, err
    data = {n: (tmp_path / n / "SIM-raw.png").read_bytes() for n in "abc"}
    assert data["a"] == data["b"] != data["c"]


def test_noise_free_four_filter_frame(tmp_path: Path) -> None:
    code, _, err = run(
        "simulate",
        "-o",
        str(tmp_path),
        *FAST,
        "--filters",
        "METHANE,BLUE,GREEN,RED",
        "--no-noise",
        "--hot-pixels",
        "0",
        "--scene",
        "neutral",
        "--radius-deg",
        "5",
    )
    assert code == 0, err
    png = tmp_path / "JNCS_2026329_00A00000_V01-raw.png"
    frame = read_frame(png)
    assert frame.pixels.shape == (2 * 4 * 128, 1648)
    truth = json.loads(png.with_suffix(".json").read_text())["SIMULATION"]
    assert truth["noise"] is False and truth["read_noise_dn"] == 0 and truth["hot_pixels"] == 0
    assert truth["scene"] == "neutral"
    # noise free: the sky is exactly the dark level everywhere
    assert len(np.unique(frame.pixels[:128, 23:200])) == 1


def test_image_scene(tmp_path: Path) -> None:
    img = np.zeros((200, 300, 4), np.uint8)
    img[..., :3] = 200
    img[..., 3] = 255
    scene = tmp_path / "scene.png"
    write_png(scene, img[..., :3])
    code, _, err = run(
        "simulate", "-o", str(tmp_path / "o"), *FAST, "--scene", str(scene), "--image-fov", "20"
    )
    assert code == 0, err
    png = next((tmp_path / "o").glob("*-raw.png"))
    frame = read_frame(png)
    assert frame.pixels[:, 23:1631].max() > 150
    assert json.loads(png.with_suffix(".json").read_text())["SIMULATION"]["scene"] == "image"


@pytest.mark.parametrize(
    "args, match",
    [
        (["--filters", "PURPLE"], "filters"),
        (["--filters", "RED,RED"], "twice"),
        (["--exposures", "0"], "exposures"),
        (["--scene", "no-such-file.png"], "neither"),
        (["--turn", "0"], "turn"),
        (["--product-id", "../x"], "safe file name"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], match: str) -> None:
    code, _, err = run("simulate", "-o", str(tmp_path), *args)
    assert code == 2
    assert match in err
    assert not any(tmp_path.iterdir())


def test_unreadable_scene_and_bad_out_dir(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    code, _, err = run("simulate", "-o", str(tmp_path / "o"), *FAST, "--scene", str(bad))
    assert code == 1
    assert err.startswith("error: ") and "cannot read the scene image" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run("simulate", "-o", str(blocker), *FAST)
    assert code == 1 and "not a directory" in err


def test_product_ids() -> None:
    assert simulated_product_id((Filter.RED, Filter.BLUE), 123456) == "JNCS_2026329_00T23456_V01"
    assert simulated_product_id((Filter.GREEN, Filter.RED), 1).startswith("JNCS_2026329_00X")
