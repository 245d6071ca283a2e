# ruff: noqa: E501 - the case tables read best one case a line
"""Hostile recipes (TOML) and output paths (``..``, symlinks onto inputs, existing files)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from junocam.cli import main
from junocam.errors import OutputError, RecipeError
from junocam.output import write_png
from junocam.pipeline import Pipeline

from .conftest import PID

BASE = '[[stages]]\nname = "stitch"\n\n[[stages]]\nname = "compose"\n'

# (case id, recipe text, words the message must contain besides the file name)
RECIPES = [
    ("unknown-stage", '[[stages]]\nname = "sharpen_more"\n' + BASE, "unknown stage 1 ('sharpen_more')"),
    ("stage-name-number", "[[stages]]\nname = 7\n" + BASE, "unknown stage 1 (7)"),
    ("stage-name-table", "[[stages]]\nname = {a = 1}\n" + BASE, "unknown stage 1"),
    ("stage-no-name", "[[stages]]\nx = 1\n" + BASE, "stage 1 has no name"),
    ("unknown-param", BASE + '[[stages]]\nname = "gamma"\nradius = 2\n', "unknown parameter 'radius'"),
    ("float-as-text", BASE + '[[stages]]\nname = "gamma"\ngamma = "2.2"\n', "parameter 'gamma' must be a number"),
    ("float-as-bool", BASE + '[[stages]]\nname = "gamma"\ngamma = true\n', "parameter 'gamma' must be a number"),
    ("float-as-list", BASE + '[[stages]]\nname = "gamma"\ngamma = [2.2]\n', "parameter 'gamma' must be a number"),
    ("int-as-float", BASE + '[[stages]]\nname = "clahe"\nkernel_size = 8.5\n', "parameter 'kernel_size' must be a whole number"),
    ("bool-as-int", '[[stages]]\nname = "stitch"\nfit_spin = 1\n[[stages]]\nname = "compose"\n', "parameter 'fit_spin' must be true or false"),
    ("choice-unknown", '[[stages]]\nname = "stitch"\ngeometry = "sphere"\n[[stages]]\nname = "compose"\n', "parameter 'geometry' must be one of"),
    ("nan", BASE + '[[stages]]\nname = "gamma"\ngamma = nan\n', "parameter 'gamma' must be finite"),
    ("inf", BASE + '[[stages]]\nname = "gamma"\ngamma = inf\n', "parameter 'gamma' must be finite"),
    ("minus-inf", BASE + '[[stages]]\nname = "unsharp"\nradius = -inf\n', "parameter 'radius' must be finite"),
    ("int-inf", BASE + '[[stages]]\nname = "clahe"\nkernel_size = inf\n', "parameter 'kernel_size' must be a whole number"),
    ("gains-nan", BASE + '[[stages]]\nname = "band_weights"\nweights = [1.0, nan, 1.0]\n', "three finite gains"),
    ("gains-two", BASE + '[[stages]]\nname = "band_weights"\nweights = [1.0, 1.0]\n', "a name or three numbers"),
    ("huge-clahe-kernel", BASE + '[[stages]]\nname = "clahe"\nkernel_size = 1000000000\n', "above its maximum"),
    ("huge-median-window", '[[stages]]\nname = "hot_pixels"\nsize = 100001\n' + BASE, "above its maximum"),
    ("even-median-window", '[[stages]]\nname = "hot_pixels"\nsize = 4\n' + BASE, "must be odd"),
    ("huge-blur", BASE + '[[stages]]\nname = "flatten"\nsigma = 1e300\n', "above its maximum"),
    ("huge-output-size", '[[stages]]\nname = "stitch"\nsize = 10000000000\n[[stages]]\nname = "compose"\n', "above its maximum"),
    ("huge-int-literal", BASE + '[[stages]]\nname = "clahe"\nkernel_size = 9223372036854775807\n', "above its maximum"),
    ("negative-window", '[[stages]]\nname = "black_level"\nwindow = -1\n' + BASE, "below its minimum"),
    ("include-key", 'include = "other.toml"\n' + BASE, "unknown top-level key(s) ['include']"),
    ("import-key", '"@import" = "x"\n' + BASE, "unknown top-level key"),
    ("stages-table", '[stages]\nname = "stitch"\n', "non-empty [[stages]] list"),
    ("stages-empty", "stages = []\n", "non-empty [[stages]] list"),
    ("stages-strings", 'stages = ["stitch", "compose"]\n', "stage 1 has no name"),
    ("no-geometry", '[[stages]]\nname = "compose"\n', "exactly one geometry stage"),
    ("two-geometry", BASE.replace('"compose"', '"stitch"') + '[[stages]]\nname = "compose"\n', "exactly one geometry"),
    ("wrong-order", '[[stages]]\nname = "compose"\n[[stages]]\nname = "stitch"\n', "cannot come after"),
    ("name-number", "name = 5\n" + BASE, "name and description must be strings"),
    ("duplicate-key", 'name = "a"\nname = "b"\n' + BASE, "invalid TOML"),
    ("bad-syntax", "[[stages]\nname = 'stitch'\n", "invalid TOML"),
    ("deep-array", "x = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("deep-table", "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n", "nested too deeply"),
    ("nul-byte", 'name = "a\x00b"\n' + BASE, "invalid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in RECIPES], ids=[c[0] for c in RECIPES])
def test_bad_recipes_name_file_stage_and_parameter(tmp_path, text, words):
    p = tmp_path / "bad.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        Pipeline.from_toml(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: "), msg
    assert words in msg, msg


@pytest.mark.parametrize("kind", ["dev-zero", "folder", "fifo", "dangling", "loop"])
def test_recipe_paths_that_are_not_files(tmp_path, kind):
    p = tmp_path / "trick.toml"
    if kind == "dev-zero":
        p.symlink_to("/dev/zero")
    elif kind == "folder":
        p.mkdir()
    elif kind == "fifo":
        os.mkfifo(p)
    elif kind == "dangling":
        p.symlink_to(tmp_path / "nowhere.toml")
    else:
        p.symlink_to(p)
    with pytest.raises(RecipeError) as info:
        Pipeline.named(p)
    msg = str(info.value)
    assert str(p) in msg and ("cannot read recipe" in msg or "not found" in msg), msg


def test_recipe_symlinked_to_a_builtin_is_just_that_recipe(tmp_path):
    from junocam.pipeline import builtin_recipes

    p = tmp_path / "mine.toml"
    p.symlink_to(builtin_recipes()["vivid"])
    assert [s.name for s in Pipeline.named(p).stages] == [
        s.name for s in Pipeline.named("vivid").stages
    ]


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("gamma.gamma=nan", "must be finite"),
        ("gamma.gamma=inf", "must be finite"),
        ("gamma.gamma=[[[[[[1]]]]]]", "must be a number"),
        ("stretch.low=99999999999999999999", "above its maximum"),
        ("gamma=2", "not of the form"),
        ("gamma.gamma=" + "[" * 3000, "gamma"),
        ("nosuch.x=1", "has no stage 'nosuch'"),
    ],
)
def test_bad_overrides_on_the_command_line(frame_files, tmp_path, override, words):
    png, _ = frame_files()
    res = CliRunner().invoke(
        main, ["process", str(png), "-o", str(tmp_path / "out"), "--pipeline", "true-color",
               "--set", override],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and words in res.stderr, res.stderr


# --- output paths -------------------------------------------------------------------

NAIVE = ["--pipeline", "raw", "--geometry", "naive"]


def _process(png: Path, out: Path | str):
    return CliRunner().invoke(main, ["process", str(png), "-o", str(out), *NAIVE])


def test_dotdot_in_the_output_path_resolves_normally(frame_files, tmp_path):
    png, _ = frame_files()
    res = _process(png, tmp_path / "a" / ".." / "b")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b" / f"{PID}-naive.png").is_file()
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())


def test_output_dir_is_the_input_dir_never_touches_the_inputs(frame_files, tmp_path):
    png, js = frame_files()
    before = {p.name: p.read_bytes() for p in (png, js)}
    res = _process(png, tmp_path)
    assert res.exit_code == 0, res.output
    assert {p.name: p.read_bytes() for p in (png, js)} == before


@pytest.mark.parametrize("which", ["image", "record"])
def test_output_symlinked_onto_an_input_is_refused(frame_files, tmp_path, which):
    png, js = frame_files()
    out = tmp_path / "out"
    out.mkdir()
    victim = png if which == "image" else js
    name = f"{PID}-naive.png" if which == "image" else f"{PID}-naive.json"
    (out / name).symlink_to(victim)
    before = victim.read_bytes()
    res = _process(png, out)
    assert res.exit_code == 1
    assert f"error: {out / name}: refusing to overwrite an input file" in res.stderr
    assert victim.read_bytes() == before and (out / name).is_symlink()
    assert not list(out.glob(".*.tmp"))


def test_output_hard_linked_onto_an_input_is_refused(frame_files, tmp_path):
    png, _ = frame_files()
    out = tmp_path / "out"
    out.mkdir()
    os.link(png, out / f"{PID}-naive.png")
    before = png.read_bytes()
    res = _process(png, out)
    assert res.exit_code == 1 and "refusing to overwrite an input file" in res.stderr
    assert png.read_bytes() == before


def test_output_dir_symlinked_onto_the_input_folder(frame_files, tmp_path):
    png, js = frame_files()
    link = tmp_path.parent / f"{tmp_path.name}-link"
    link.symlink_to(tmp_path)
    try:
        before = png.read_bytes()
        res = _process(link / png.name, link)
        assert res.exit_code == 0, res.output
        assert png.read_bytes() == before and (tmp_path / f"{PID}-naive.png").is_file()
    finally:
        link.unlink()


def test_symlink_to_an_unrelated_file_is_replaced_not_followed(frame_files, tmp_path):
    png, _ = frame_files()
    out = tmp_path / "out"
    out.mkdir()
    other = tmp_path / "precious.txt"
    other.write_text("keep me")
    (out / f"{PID}-naive.png").symlink_to(other)
    res = _process(png, out)
    assert res.exit_code == 0, res.output
    assert other.read_text() == "keep me"
    assert not (out / f"{PID}-naive.png").is_symlink()


def test_existing_output_file_is_replaced_atomically(frame_files, tmp_path):
    png, _ = frame_files()
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{PID}-naive.png").write_bytes(b"old")
    res = _process(png, out)
    assert res.exit_code == 0, res.output
    assert (out / f"{PID}-naive.png").read_bytes()[:4] == b"\x89PNG"


def test_existing_folder_where_the_output_goes(frame_files, tmp_path):
    png, _ = frame_files()
    out = tmp_path / "out"
    (out / f"{PID}-naive.png").mkdir(parents=True)
    res = _process(png, out)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"error: {out / f'{PID}-naive.png'}: cannot write" in res.stderr
    assert not list(out.glob(".*.tmp"))


def test_output_path_is_an_existing_file(frame_files, tmp_path):
    png, _ = frame_files()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = _process(png, blocker)
    assert res.exit_code == 1
    assert f"error: {blocker}: output path exists and is not a directory" in res.stderr
    res = _process(png, blocker / "sub")
    assert res.exit_code == 1 and f"{blocker / 'sub'}" in res.stderr
    assert "Traceback" not in res.output


def test_write_png_protect_through_a_dotdot_path(tmp_path):
    (tmp_path / "a").mkdir()
    target = tmp_path / "a" / "x.png"
    write_png(target, np.zeros((2, 2)))
    with pytest.raises(OutputError, match="refusing to overwrite an input file"):
        write_png(tmp_path / "a" / ".." / "a" / "x.png", np.zeros((2, 2)), protect=[target])
