"""Property-based fuzzing (hypothesis) of the readers, metadata parsers, recipe loader and CLI.

The property everywhere: whatever the input, only a :class:`JunoCamError` (or, for the
command line, a click usage error with exit code 2) comes out; never another
exception, never a run over the deadline, and the reader's memory stays bounded.

The budget is small by default so the suite stays fast; raise it on demand with
``JUNOCAM_FUZZ_EXAMPLES=2000 python -m pytest tests/adversarial/test_fuzz.py``.
"""

# ruff: noqa: E501 - strategy tables read best one a line
from __future__ import annotations

import os
import string
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from junocam.cli import main
from junocam.decode import read_frame
from junocam.errors import JunoCamError
from junocam.metadata import from_pds3_label, from_website_json, parse_quantity
from junocam.output import encode_png
from junocam.pipeline import Pipeline, parse_override

from .conftest import PID, meta_dict, strip

EXAMPLES = int(os.environ.get("JUNOCAM_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=3000,  # ms per example: a hang or a slow path fails the test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=os.environ.get("JUNOCAM_FUZZ_RANDOM") is None,  # same cases in CI
)
#: Peak Python memory allowed while reading one fuzzed file.
MEMORY_LIMIT = 64 << 20

SMALL_PNG = encode_png(strip(128))
SMALL_META = meta_dict(lines=128, FILTER_NAME=["RED"])


def only_project_errors(fn: Callable[[], Any]) -> None:
    """Run ``fn``: success or a JunoCamError pass; anything else fails the test."""
    try:
        fn()
    except JunoCamError as err:
        assert str(err).strip(), "an error without a message"


@contextmanager
def bounded_memory(limit: int = MEMORY_LIMIT) -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit, f"peak {peak} bytes"


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """Overwrite bytes at (position, value) pairs, then optionally cut the data."""
    buf = bytearray(data)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    return bytes(buf[:cut] if cut is not None else buf)


EDITS = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8)
HEADER_EDITS = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 255)), max_size=6)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def _write_frame(folder: Path, png: bytes, meta: Any) -> Path:
    p = folder / f"{PID}-raw.png"
    p.write_bytes(png)
    j = folder / f"{PID}-raw.json"
    if isinstance(meta, bytes):
        j.write_bytes(meta)
    else:
        import json

        j.write_text(json.dumps(meta))
    return p


# --- readers ------------------------------------------------------------------------


@FUZZ
@given(edits=HEADER_EDITS, more=EDITS, cut=st.none() | st.integers(0, len(SMALL_PNG)))
def test_read_frame_mutated_png(workdir, edits, more, cut):
    png = _write_frame(workdir, mutate(SMALL_PNG, edits + more, cut), SMALL_META)
    with bounded_memory():
        only_project_errors(lambda: read_frame(png))


@FUZZ
@given(data=st.binary(max_size=2048))
def test_read_frame_random_bytes(workdir, data):
    png = _write_frame(workdir, data, SMALL_META)
    with bounded_memory():
        only_project_errors(lambda: read_frame(png))


LABEL = (
    'PDS_VERSION_ID = PDS3\nRECORD_BYTES = 1648\n^IMAGE = ("F.IMG", 1)\nPRODUCT_ID = "P"\n'
    "FILTER_NAME = ('RED')\nINTERFRAME_DELAY = 0.37 <s>\nOBJECT = IMAGE\n  LINES = 128\n"
    "  LINE_SAMPLES = 1648\n  SAMPLE_BITS = 8\nEND_OBJECT = IMAGE\nEND\n"
)


@FUZZ
@given(
    edits=st.lists(st.tuples(st.integers(0, len(LABEL) - 1), st.sampled_from(
        list(string.printable) + ["(", ")", "<", ">", "=", "-", "9", "\x00", "{", "'"])),
        max_size=6),
    img_size=st.sampled_from([0, 1648, 128 * 1648 - 1, 128 * 1648, 130 * 1648]),
)  # fmt: skip
def test_read_frame_mutated_pds3_label(workdir, edits, img_size):
    text = list(LABEL)
    for pos, ch in edits:
        text[pos] = ch
    folder = workdir / "pds"
    folder.mkdir(exist_ok=True)
    (folder / "F.IMG").write_bytes(bytes(img_size))
    lbl = folder / "F.LBL"
    lbl.write_text("".join(text), encoding="latin-1")
    with bounded_memory():
        only_project_errors(lambda: read_frame(lbl))


@FUZZ
@given(text=st.text(max_size=400))
def test_pds3_label_text(text):
    only_project_errors(lambda: from_pds3_label(text, source="x.LBL"))


# --- metadata -----------------------------------------------------------------------

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.sampled_from(["0.372 <s>", "19.2 <ms>", "2022-07-05T12:13:37.407", "2022-186T12:00:00",
                       "BLUE", "SQROOT", "N/A", "1e999", "-1", "nan <s>", "<s>"])
)  # fmt: skip
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(sorted(meta_dict()) + ["SAMPLING_FACTOR", "PJ", "JNO:TDI_STAGES_COUNT",
                       "SUB_SPACECRAFT_LATITUDE", "SPACECRAFT_ALTITUDE", "TITLE", "TARGET_NAME"])  # fmt: skip


@FUZZ
@given(changes=st.dictionaries(KEYS, JSON_VALUES, max_size=5), drop=st.sets(KEYS, max_size=3))
def test_website_json_fields(changes, drop):
    data = {k: v for k, v in {**meta_dict(), **changes}.items() if k not in drop}
    only_project_errors(lambda: from_website_json(data, source="m.json"))


@FUZZ
@given(data=JSON_VALUES)
def test_website_json_any_value(data):
    only_project_errors(lambda: from_website_json(data, source="m.json"))


@FUZZ
@given(value=JSON_SCALARS)
def test_parse_quantity(value):
    only_project_errors(lambda: parse_quantity(value))


@FUZZ
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_metadata_file_bytes(workdir, raw):
    png = _write_frame(workdir, SMALL_PNG, raw)
    only_project_errors(lambda: read_frame(png))


# --- recipes ------------------------------------------------------------------------

STAGE_NAMES = st.sampled_from(["stitch", "compose", "gamma", "clahe", "stretch", "hot_pixels",
                               "band_weights", "flatten", "nope", ""])  # fmt: skip
PARAM_NAMES = st.sampled_from(["gamma", "kernel_size", "high", "low", "size", "threshold",
                               "weights", "geometry", "fit_spin", "sigma", "x"])  # fmt: skip
STAGE = st.fixed_dictionaries(
    {"name": STAGE_NAMES | JSON_SCALARS}, optional={}
).flatmap(lambda base: st.dictionaries(PARAM_NAMES, JSON_VALUES, max_size=3).map(
    lambda params: {**params, **base}))  # fmt: skip


@FUZZ
@given(
    stages=st.lists(STAGE, max_size=5),
    extra=st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=2),
)
def test_recipe_from_dict(stages, extra):
    data = {"stages": stages, **{k: v for k, v in extra.items() if k != "stages"}}
    only_project_errors(lambda: Pipeline.from_dict(data, source="r.toml"))


@FUZZ
@given(text=st.text(max_size=300))
def test_recipe_toml_text(workdir, text):
    p = workdir / "r.toml"
    p.write_bytes(text.encode("utf-8", "surrogatepass"))
    only_project_errors(lambda: Pipeline.from_toml(p))


@FUZZ
@given(text=st.text(max_size=80))
def test_parse_override(text):
    only_project_errors(lambda: Pipeline(["stitch", "compose", "gamma"]).with_overrides([text]))
    only_project_errors(lambda: parse_override(text))


# --- the command line ---------------------------------------------------------------

WORDS = st.sampled_from([
    "info", "split", "process", "pipelines", "batch", "simulate", "compare", "gallery",
    "--json", "--fit", "--debug", "--max-pixels", "0", "1", "-1", "1e9", "--set",
    "gamma.gamma=nan", "stretch.high=2", "--pipeline", "nope", "raw", "--filters", "X,Y",
    "BLUE,GREEN,RED", "--interframe-delay", "-3", "--metadata", "--format", "gif", "-o",
    "--geometry", "sphere", "--fov", "--center", "a,b", "--jobs", "--scheduler", "--verbose",
    "--stages", "--per-framelet", "--", "-", "",
])  # fmt: skip


@FUZZ
@given(words=st.lists(WORDS | st.just("FRAME") | st.text(max_size=12), max_size=7))
def test_cli_arguments(workdir, words):
    folder = workdir / "cli"
    folder.mkdir(exist_ok=True)
    png = _write_frame(folder, SMALL_PNG, SMALL_META)
    args = [str(png) if w == "FRAME" else w for w in words]
    cwd = os.getcwd()
    os.chdir(folder)  # relative output folders land in the scratch folder
    try:
        res = CliRunner().invoke(main, args)
    finally:
        os.chdir(cwd)
    assert res.exit_code in (0, 1, 2), (args, res.exit_code, res.output)
    if res.exception is not None:
        assert isinstance(res.exception, SystemExit), (args, repr(res.exception))
    assert "Traceback" not in res.output, (args, res.output)


@FUZZ
@given(edits=HEADER_EDITS, cut=st.none() | st.integers(0, 4000),
       command=st.sampled_from([["info"], ["info", "--json"], ["split", "-o", "s"],
                                ["process", "-o", "p", "--pipeline", "raw", "--geometry", "naive"]]))  # fmt: skip
def test_cli_on_mutated_frames(workdir, edits, cut, command):
    folder = workdir / "cli2"
    folder.mkdir(exist_ok=True)
    png = _write_frame(folder, mutate(SMALL_PNG, edits, cut), SMALL_META)
    cmd = [command[0], str(png), *[str(folder / c) if c in ("s", "p") else c for c in command[1:]]]
    res = CliRunner().invoke(main, cmd)
    assert res.exit_code in (0, 1), (cmd, res.output)
    assert "internal error" not in res.stderr and "Traceback" not in res.output, res.stderr
    if res.exit_code == 1:
        assert res.stderr.startswith(f"error: {png}: "), res.stderr
