"""The command line's recipe features: ``pipelines``, ``process --pipeline/--set/--save-stages``
and ``compare``, on a small simulated frame (3 exposures, nominal spin where possible)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import imageio.v3 as iio
import pytest
from click.testing import CliRunner, Result

from junocam.cli import main
from junocam.metadata import Filter
from junocam.output import encode_png
from junocam.pipeline import STAGES, Pipeline, builtin_recipes
from junocam.simulate import JupiterScene, SimulationSpec, metadata_json, simulate_frame

NOMINAL = ("--set", "stitch.fit_spin=false")


def run(*args: str | os.PathLike[str]) -> Result:
    return CliRunner().invoke(main, [os.fspath(a) for a in args])


@pytest.fixture(scope="module")
def sim_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated RGB frame on disk: ``<id>-raw.png`` beside ``<id>-raw.json``."""
    folder = tmp_path_factory.mktemp("sim")
    spec = SimulationSpec(
        n_exposures=3, oversample=1, filters=(Filter.BLUE, Filter.GREEN, Filter.RED)
    )
    sim = simulate_frame(JupiterScene(radius_deg=6.0), spec)
    pid = sim.metadata["PRODUCT_ID"]
    png = folder / f"{pid}-raw.png"
    png.write_bytes(encode_png(sim.strip))
    (folder / f"{pid}-raw.json").write_text(metadata_json(sim.metadata))
    return png


def product_id(png: Path) -> str:
    return png.name.removesuffix("-raw.png")


USER_RECIPE = """\
name = "mine"
description = "my own look"

[[stages]]
name = "hot_pixels"
threshold = 10.0

[[stages]]
name = "stitch"
fit_spin = false

[[stages]]
name = "compose"

[[stages]]
name = "gamma"
gamma = 1.3
"""


def test_pipelines_lists_every_builtin_recipe():
    result = run("pipelines")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(builtin_recipes())
    for name in ("raw", "true-color", "enhanced", "vivid", "methane"):
        line = next(ln for ln in lines if ln.split()[0] == name)
        assert Pipeline.named(name).description in line
    verbose = run("pipelines", "--verbose")
    assert verbose.exit_code == 0
    assert "stages: stitch -> compose" in verbose.output  # the raw recipe


def test_pipelines_stages_lists_every_stage_and_parameter():
    result = run("pipelines", "--stages")
    assert result.exit_code == 0, result.output
    out = result.output
    for spec in STAGES.values():
        assert f"{spec.name} ({spec.kind}): {spec.doc}" in out
        for pname in spec.params:
            assert f"    {pname} = " in out
    assert "high = 99.5 [50.0, 100.0]" in out  # default and range
    assert "{cylinder, perspective, naive}" in out  # choices


def test_process_with_a_user_recipe_file(sim_png, tmp_path):
    recipe = tmp_path / "mine.toml"
    recipe.write_text(USER_RECIPE)
    out = tmp_path / "out"
    result = run("process", sim_png, "-o", out, "--pipeline", recipe)
    assert result.exit_code == 0, result.stderr
    pid = product_id(sim_png)
    img = iio.imread(out / f"{pid}-mine.png")
    assert img.ndim == 3 and img.shape[2] == 3 and img.max() > 100
    record = json.loads((out / f"{pid}-mine.json").read_text())
    assert record["pipeline"] == "mine"
    assert record["pipeline_digest"] == Pipeline.from_toml(recipe).digest()
    assert [s["name"] for s in record["stages"]] == ["hot_pixels", "stitch", "compose", "gamma"]
    assert record["stages"][0]["threshold"] == 10.0 and record["stages"][3]["gamma"] == 1.3
    assert "spin_fit" in record


def test_process_set_overrides_a_parameter(sim_png, tmp_path):
    out = tmp_path / "out"
    args = ("--set", "compose.percentile=99.0", "--set", "stitch.order=3")
    result = run("process", sim_png, "-o", out, "--pipeline", "raw", *NOMINAL, *args)
    assert result.exit_code == 0, result.stderr
    record = json.loads((out / f"{product_id(sim_png)}-raw.json").read_text())
    stitch, compose = record["stages"]
    assert stitch["fit_spin"] is False and stitch["order"] == 3
    assert compose["percentile"] == 99.0
    expected = Pipeline.named("raw").with_overrides(
        ["stitch.fit_spin=false", "compose.percentile=99.0", "stitch.order=3"]
    )
    assert record["pipeline_digest"] == expected.digest() != Pipeline.named("raw").digest()


BAD_RECIPES = {
    "bad-type": (USER_RECIPE.replace("gamma = 1.3", 'gamma = "strong"'), ["'gamma'", "number"]),
    "unknown-stage": (USER_RECIPE.replace('name = "gamma"', 'name = "glow"'), ["'glow'"]),
    "unknown-param": (USER_RECIPE.replace("threshold", "treshold"), ["'hot_pixels'", "'treshold'"]),
    "nan": (USER_RECIPE.replace("1.3", "nan"), ["'gamma'", "finite"]),
    "syntax": (USER_RECIPE + "[[stages]\n", ["invalid TOML"]),
    "include": ('include = "/etc/passwd"\n' + USER_RECIPE, ["'include'"]),
}


@pytest.mark.parametrize("case", sorted(BAD_RECIPES))
def test_bad_recipe_file_is_one_error_line(sim_png, tmp_path, case):
    text, words = BAD_RECIPES[case]
    recipe = tmp_path / "broken.toml"
    recipe.write_text(text)
    out = tmp_path / "out"
    result = run("process", sim_png, "-o", out, "--pipeline", recipe)
    assert result.exit_code == 2, (result.output, result.stderr)
    assert "Traceback" not in result.stderr and "Usage:" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {recipe}: "), result.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not out.exists()  # nothing was processed


@pytest.mark.parametrize(
    "override, words",
    [
        ("glow.amount=2", ["enhanced.toml", "no stage 'glow'"]),
        ("stretch.high=lots", ["enhanced.toml", "'stretch'", "'high'", "'lots'"]),
        ("stretch.high", ["stage.parameter=value"]),
    ],
)
def test_bad_set_is_one_error_line(sim_png, tmp_path, override, words):
    result = run("process", sim_png, "-o", tmp_path / "out", "--set", override)
    assert result.exit_code == 2, (result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_unknown_pipeline_name(sim_png, tmp_path):
    result = run("process", sim_png, "-o", tmp_path / "out", "--pipeline", "sparkly")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown pipeline 'sparkly'")
    assert "vivid" in result.stderr


def test_save_stages_writes_one_png_per_stage(sim_png, tmp_path):
    out = tmp_path / "out"
    result = run(
        "process", sim_png, "-o", out, "--pipeline", "true-color", "--save-stages", *NOMINAL
    )
    assert result.exit_code == 0, result.stderr
    stages = Pipeline.named("true-color").stages
    folder = out / f"{product_id(sim_png)}-true-color-stages"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"{i + 1:02d}-{s.name}.png" for i, s in enumerate(stages)]
    final = iio.imread(out / f"{product_id(sim_png)}-true-color.png")
    last = iio.imread(folder / names[-1])
    assert last.shape == final.shape


def test_compare_writes_a_contact_sheet(sim_png, tmp_path):
    out = tmp_path / "cmp"
    width = 160
    result = run(
        "compare", sim_png, "-o", out, "--pipelines", "raw,vivid,methane", "--width", str(width)
    )
    assert result.exit_code == 0, result.stderr
    # the methane recipe cannot run on an RGB frame: a note, and the others still appear
    assert "methane" in result.stderr and "METHANE" in result.stderr
    sheet = iio.imread(out / f"{product_id(sim_png)}-compare.png")
    assert sheet.ndim == 3 and sheet.shape[2] == 3
    assert sheet.shape[1] == 2 * width
    assert sheet.max() > 100


def test_compare_with_a_bad_recipe(sim_png, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(USER_RECIPE.replace("gamma = 1.3", "gamma = 99.0"))
    result = run("compare", sim_png, "-o", tmp_path / "cmp", "--pipelines", f"raw,{bad}")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: ")
    assert "'gamma'" in lines[0] and "maximum" in lines[0]
