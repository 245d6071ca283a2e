"""Pipelines as data: recipe validation, overrides, digests and runs on simulated frames.

Every recipe error must be a :class:`~junocam.errors.RecipeError` whose message names
the recipe file, the stage and the parameter (where there is one), so a user can fix
the file from the message alone. The runs use small simulated frames (3 exposures,
no supersampling); the spin is fitted once per frame and shared by all recipes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from junocam.decode import RawFrame
from junocam.errors import JunoCamError, RecipeError
from junocam.metadata import Filter, from_website_json
from junocam.pipeline import (
    STAGES,
    Pipeline,
    PipelineResult,
    Stage,
    builtin_recipes,
    parse_override,
    recipe_path,
    target_weight,
)
from junocam.simulate import JupiterScene, SimulationSpec, simulate_frame

BUILTIN = ("raw", "true-color", "enhanced", "vivid", "methane")
RGB_RECIPES = ("raw", "true-color", "enhanced", "vivid")

HEAD = 'name = "test"\n'
STITCH = '[[stages]]\nname = "stitch"\n'
COMPOSE = '[[stages]]\nname = "compose"\n'


def stage(name: str, **params: str) -> str:
    """A ``[[stages]]`` table; parameter values are TOML literals."""
    return f'[[stages]]\nname = "{name}"\n' + "".join(f"{k} = {v}\n" for k, v in params.items())


def recipe(*tables: str) -> str:
    """A recipe of stitch, compose and then ``tables``."""
    return HEAD + STITCH + COMPOSE + "".join(tables)


def load_error(tmp_path: Path, body: str | bytes) -> tuple[str, Path]:
    """Write ``body`` as a recipe, load it, and return the RecipeError text and path."""
    path = tmp_path / "my-recipe.toml"
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body, encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        Pipeline.from_toml(path)
    assert type(info.value) is RecipeError
    msg = str(info.value)
    assert msg.startswith(f"{path}: "), msg
    assert "\n" not in msg.strip(), msg
    return msg, path


# ---------------------------------------------------------------------------
# Validation: each error names the file, the stage and the parameter


PARAM_ERRORS = [
    # (id, body, stage, parameter, words in the message)
    ("unknown-parameter", recipe(stage("stretch", hihg="99.0")), "stretch", "hihg", "unknown"),
    ("string-for-float", recipe(stage("stretch", high='"99"')), "stretch", "high", "number"),
    ("bool-for-float", recipe(stage("gamma", gamma="true")), "gamma", "gamma", "number"),
    ("float-for-int", recipe(stage("clahe", kernel_size="8.5")), "clahe", "kernel_size", "whole"),
    ("string-for-int", recipe(stage("clahe", kernel_size='"8"')), "clahe", "kernel_size", "whole"),
    ("bool-for-int", recipe(stage("clahe", kernel_size="true")), "clahe", "kernel_size", "whole"),
    ("int-for-bool", recipe(stage("stretch", linked="1")), "stretch", "linked", "true or false"),
    ("string-for-bool", recipe(stage("stretch", linked='"yes"')), "stretch", "linked", "true"),
    ("above-max", recipe(stage("stretch", high="150.0")), "stretch", "high", "maximum"),
    ("below-min", recipe(stage("gamma", gamma="0.0")), "gamma", "gamma", "minimum"),
    ("negative", recipe(stage("unsharp", amount="-1")), "unsharp", "amount", "minimum"),
    ("nan", recipe(stage("stretch", high="nan")), "stretch", "high", "finite"),
    ("inf", recipe(stage("saturation", factor="inf")), "saturation", "factor", "finite"),
    ("minus-inf", recipe(stage("gamma", gamma="-inf")), "gamma", "gamma", "finite"),
    ("nan-for-int", recipe(stage("clahe", kernel_size="nan")), "clahe", "kernel_size", "whole"),
    ("huge-kernel", recipe(stage("clahe", kernel_size="100000")), "clahe", "kernel_size", "max"),
    (
        "int64-kernel",
        recipe(stage("clahe", kernel_size="9223372036854775807")),
        "clahe",
        "kernel_size",
        "maximum",
    ),
    ("huge-blur", recipe(stage("flatten", sigma="1e300")), "flatten", "sigma", "maximum"),
    ("huge-radius", recipe(stage("unsharp", radius="1e9")), "unsharp", "radius", "maximum"),
    (
        "huge-median",
        HEAD + stage("hot_pixels", size="1001") + STITCH + COMPOSE,
        "hot_pixels",
        "size",
        "maximum",
    ),
    (
        "huge-output",
        HEAD + stage("stitch", size="1000000000") + COMPOSE,
        "stitch",
        "size",
        "maximum",
    ),
    ("bad-choice", recipe(stage("true_color", matrix='"xyz"')), "true_color", "matrix", "one of"),
    ("gains-two", recipe(stage("band_weights", weights="[1, 2]")), "band_weights", "weights", "3"),
    (
        "gains-nan",
        recipe(stage("white_balance", gains="[1.0, nan, 1.0]")),
        "white_balance",
        "gains",
        "finite",
    ),
    (
        "gains-name",
        recipe(stage("white_balance", gains='"purple"')),
        "white_balance",
        "gains",
        "gill",
    ),
    (
        "nested-table",
        recipe('[[stages]]\nname = "stretch"\n[stages.include]\nfile = "/etc/passwd"\n'),
        "stretch",
        "include",
        "unknown",
    ),
]


@pytest.mark.parametrize(
    "body, stage_name, param, words",
    [p[1:] for p in PARAM_ERRORS],
    ids=[p[0] for p in PARAM_ERRORS],
)
def test_parameter_errors_name_file_stage_and_parameter(tmp_path, body, stage_name, param, words):
    msg, _ = load_error(tmp_path, body)
    assert f"'{stage_name}'" in msg, msg
    assert f"'{param}'" in msg, msg
    if words == "3":
        assert "three numbers" in msg, msg
    else:
        assert words in msg, msg


def test_unknown_stage_names_the_stage_and_lists_the_known_ones(tmp_path):
    msg, _ = load_error(tmp_path, recipe(stage("sharpen", amount="2.0")))
    assert "unknown stage 3 ('sharpen')" in msg
    assert "unsharp" in msg and "clahe" in msg  # the known stages are listed


def test_stage_name_must_be_a_string(tmp_path):
    msg, _ = load_error(tmp_path, HEAD + "[[stages]]\nname = 3\n" + STITCH + COMPOSE)
    assert "stage 1" in msg and "unknown" in msg


@pytest.mark.parametrize(
    "body, words",
    [
        (HEAD, "non-empty [[stages]]"),
        (HEAD + "stages = []\n", "non-empty [[stages]]"),
        (HEAD + '[stages]\nname = "stitch"\n', "non-empty [[stages]]"),
        (HEAD + "[[stages]]\nhigh = 3.0\n" + STITCH + COMPOSE, "stage 1 has no name"),
        ("", "non-empty [[stages]]"),
    ],
    ids=["no-stages", "empty-list", "table-not-list", "stage-without-name", "empty-file"],
)
def test_missing_or_empty_stages(tmp_path, body, words):
    msg, _ = load_error(tmp_path, body)
    assert words in msg


@pytest.mark.parametrize(
    "body, key",
    [
        ('include = "/etc/passwd"\n' + recipe(), "include"),
        ('imports = ["os"]\n' + recipe(), "imports"),
        (recipe() + "[extends]\nfile = 'other.toml'\n", "extends"),
    ],
    ids=["include", "imports", "extends-table"],
)
def test_unknown_top_level_keys(tmp_path, body, key):
    msg, _ = load_error(tmp_path, body)
    assert "unknown top-level key" in msg and f"'{key}'" in msg


def test_name_and_description_must_be_strings(tmp_path):
    msg, _ = load_error(tmp_path, "name = 3\n" + STITCH + COMPOSE)
    assert "name and description must be strings" in msg


def test_bad_toml_syntax_names_the_file(tmp_path):
    msg, _ = load_error(tmp_path, recipe(stage("stretch", high="99.0 99.5")))
    assert "invalid TOML" in msg
    assert "line" in msg  # tomllib says where


def test_non_utf8_bytes(tmp_path):
    body = recipe().encode() + b'description = "caf\xe9"\n'
    msg, _ = load_error(tmp_path, body)
    assert "not UTF-8" in msg


@pytest.mark.parametrize(
    "body, bad_stage, kinds",
    [
        (HEAD + COMPOSE + STITCH, "stitch", ("geometry", "compose")),
        (HEAD + STITCH + COMPOSE + stage("gamma") + stage("flat"), "flat", ("linear", "color")),
        (HEAD + stage("gamma") + STITCH + COMPOSE, "stitch", ("geometry", "color")),
    ],
    ids=["geometry-after-compose", "linear-after-color", "color-first"],
)
def test_stages_out_of_order(tmp_path, body, bad_stage, kinds):
    msg, _ = load_error(tmp_path, body)
    assert f"('{bad_stage}')" in msg
    assert f"a {kinds[0]} stage cannot come after a {kinds[1]} stage" in msg


@pytest.mark.parametrize(
    "body, kind, count",
    [
        (HEAD + COMPOSE, "geometry", 0),
        (HEAD + STITCH + STITCH + COMPOSE, "geometry", 2),
        (HEAD + STITCH, "compose", 0),
        (HEAD + STITCH + COMPOSE + stage("methane_composite"), "compose", 2),
    ],
    ids=["no-geometry", "two-geometry", "no-compose", "two-compose"],
)
def test_exactly_one_geometry_and_one_compose_stage(tmp_path, body, kind, count):
    msg, _ = load_error(tmp_path, body)
    assert f"exactly one {kind} stage, this one has {count}" in msg


def test_missing_recipe_file_and_unknown_name(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(RecipeError, match="not found") as info:
        Pipeline.named(missing)
    assert str(missing) in str(info.value)
    with pytest.raises(RecipeError, match="unknown pipeline 'sparkly'") as info:
        Pipeline.named("sparkly")
    assert "enhanced" in str(info.value)  # lists the built-ins
    with pytest.raises(RecipeError, match="cannot read recipe"):
        Pipeline.from_toml(tmp_path)  # a folder


def test_oversized_recipe_refused(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(recipe() + "# " + "x" * 1_100_000 + "\n")
    with pytest.raises(RecipeError, match="larger than 1 MB"):
        Pipeline.from_toml(path)


def test_valid_values_are_normalised(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(
        recipe(
            stage("clahe", kernel_size="64.0"),
            stage("stretch", high="99"),
            stage("white_balance", gains="[1, 1.5, 2]"),
        )
    )
    p = Pipeline.from_toml(path)
    assert p.name == "test" and p.source == str(path)
    clahe, stretch, wb = p.stages[2:]
    assert clahe.params["kernel_size"] == 64 and isinstance(clahe.params["kernel_size"], int)
    assert stretch.params["high"] == 99.0 and isinstance(stretch.params["high"], float)
    assert wb.params["gains"] == (1.0, 1.5, 2.0)
    assert stretch.params["low"] == STAGES["stretch"].params["low"].default  # defaults filled in
    with pytest.raises(TypeError):
        stretch.params["high"] = 1.0  # type: ignore[index]


# ---------------------------------------------------------------------------
# Built-in recipes, overrides, digests, the Python API


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_recipes_load_and_validate(name):
    assert set(BUILTIN) <= set(builtin_recipes())
    p = Pipeline.named(name)
    assert p.name == name and p.description
    assert Path(p.source or "") == recipe_path(name)
    kinds = [STAGES[s.name].kind for s in p.stages]
    assert kinds.count("geometry") == 1 and kinds.count("compose") == 1
    assert kinds == sorted(kinds, key=("linear", "geometry", "compose", "color").index)
    # a re-validation of the validated stages changes nothing
    assert Pipeline(list(p.stages)).digest() == p.digest()


def test_parse_override():
    assert parse_override("stretch.high=99.5") == ("stretch", "high", 99.5)
    assert parse_override(" clahe.kernel_size = 64 ") == ("clahe", "kernel_size", 64)
    assert parse_override("stitch.fit_spin=false") == ("stitch", "fit_spin", False)
    assert parse_override("stitch.geometry=perspective") == ("stitch", "geometry", "perspective")
    assert parse_override('stitch.geometry="naive"') == ("stitch", "geometry", "naive")
    assert parse_override("white_balance.gains=[1, 2, 3]") == ("white_balance", "gains", [1, 2, 3])
    value = parse_override("stretch.high=nan")[2]
    assert isinstance(value, float) and math.isnan(value)
    for bad in ("stretch.high", "high=3", "=3", "stretch"):
        with pytest.raises(RecipeError, match="stage.parameter=value"):
            parse_override(bad)


def test_overrides_apply_to_the_first_stage_of_that_name():
    base = Pipeline.named("enhanced")
    stretches = [i for i, s in enumerate(base.stages) if s.name == "stretch"]
    assert len(stretches) == 2
    p = base.with_overrides(["stretch.high=98", "stitch.fit_spin=false"])
    assert p.stages[stretches[0]].params["high"] == 98.0
    assert p.stages[stretches[1]].params["high"] == base.stages[stretches[1]].params["high"]
    assert p.stages[[s.name for s in p.stages].index("stitch")].params["fit_spin"] is False
    assert base.stages[stretches[0]].params["high"] == 99.7  # the original is unchanged
    assert (p.name, p.source) == (base.name, base.source)


@pytest.mark.parametrize(
    "override, words",
    [
        ("sharpen.amount=2", ["no stage 'sharpen'", "stitch", "--set sharpen.amount=2"]),
        ("stretch.hihg=99", ["'stretch'", "unknown parameter 'hihg'"]),
        ("stretch.high=abc", ["'stretch'", "'high'", "must be a number", "'abc'"]),
        ("stretch.high=150", ["'stretch'", "'high'", "maximum"]),
        ("stretch.high=inf", ["'stretch'", "'high'", "finite"]),
        ("stitch.fit_spin=maybe", ["'stitch'", "'fit_spin'", "true or false"]),
        ("stitch.geometry=fisheye", ["'stitch'", "'geometry'", "one of"]),
    ],
)
def test_bad_overrides(override, words):
    base = Pipeline.named("enhanced")
    with pytest.raises(RecipeError) as info:
        base.with_overrides([override])
    msg = str(info.value)
    assert msg.startswith(str(base.source)), msg
    for w in words:
        assert w in msg, (w, msg)


def test_digest_is_stable_and_tracks_parameters():
    digests = {name: Pipeline.named(name).digest() for name in BUILTIN}
    assert len(set(digests.values())) == len(BUILTIN)
    for name, d in digests.items():
        assert len(d) == 16 and int(d, 16) >= 0
        assert Pipeline.named(name).digest() == d
    enhanced = Pipeline.named("enhanced")
    changed = enhanced.with_overrides(["stretch.high=99.0"])
    assert changed.digest() != enhanced.digest()
    assert changed.with_overrides(["stretch.high=99.7"]).digest() == enhanced.digest()
    # name, description and source are not part of the digest; explicit defaults equal implicit
    raw = Pipeline.named("raw")
    same = Pipeline(
        ["stitch", ("compose", {"normalize": "joint", "hide_bleed": False})], name="other"
    )
    assert same.digest() == raw.digest()
    assert Pipeline(["stitch", "compose", "gamma"]).digest() != same.digest()
    assert (
        Pipeline(["stitch", "compose", "gamma", "stretch"]).digest()
        != Pipeline(["stitch", "compose", "stretch", "gamma"]).digest()
    )


def test_pipeline_from_python():
    p = Pipeline(
        [
            "hot_pixels",
            Stage.make("stitch", {"fit_spin": False}),
            ("compose", {"normalize": "per-band"}),
            ("stretch", {"high": 99}),
        ],
        name="mine",
    )
    assert [s.name for s in p.stages] == ["hot_pixels", "stitch", "compose", "stretch"]
    assert p.stages[3].params["high"] == 99.0 and p.name == "mine" and p.source is None
    assert "mine" in repr(p)
    with pytest.raises(RecipeError, match=r"stage 3 is not a name or \(name, params\)"):
        Pipeline(["stitch", "compose", 42])  # type: ignore[list-item]
    with pytest.raises(RecipeError, match=r"stage 2 \('stretch'\) parameter 'high' must be"):
        Pipeline(["stitch", ("stretch", {"high": "x"}), "compose"])
    with pytest.raises(RecipeError) as info:
        Pipeline(["stitch", "compose", ("gamma", {"gamma": float("nan")})])
    assert info.value.path is None and "finite" in str(info.value)


# ---------------------------------------------------------------------------
# Runs on simulated frames


def _frame(filters: tuple[Filter, ...], seed: int) -> RawFrame:
    # six exposures: the bands' common coverage (where colour is shown) is most of the grid
    spec = SimulationSpec(n_exposures=6, oversample=1, filters=filters, seed=seed)
    sim = simulate_frame(JupiterScene(radius_deg=8.0, seed=seed), spec)
    return RawFrame(sim.strip, from_website_json(sim.metadata), path=None)


@pytest.fixture(scope="module")
def rgb_frame() -> RawFrame:
    return _frame((Filter.BLUE, Filter.GREEN, Filter.RED), seed=3)


@pytest.fixture(scope="module")
def rgb_results(rgb_frame: RawFrame) -> dict[str, PipelineResult]:
    """Every RGB recipe on one simulated frame, the spin fitted once (by ``raw``)."""
    out: dict[str, PipelineResult] = {}
    fit = None
    for name in RGB_RECIPES:
        out[name] = Pipeline.named(name).run(rgb_frame, keep_stages=True, spin_fit=fit)
        fit = fit or out[name].fit
    return out


@pytest.mark.parametrize("name", RGB_RECIPES)
def test_recipe_output_on_a_simulated_frame(rgb_results, name):
    res = rgb_results[name]
    rgb = res.rgb
    assert rgb.dtype == np.float32 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert np.isfinite(rgb).all()
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    assert res.mask.shape == rgb.shape[:2] and res.mask.dtype == bool
    assert set(res.bands) == {Filter.BLUE, Filter.GREEN, Filter.RED}
    for band in res.bands.values():
        assert band.shape == rgb.shape[:2]
    assert res.fit is not None
    assert rgb.shape[:2] == rgb_results["raw"].rgb.shape[:2]  # the same grid for all
    # outside the coverage: the sky's own level (issue 15), the same everywhere
    assert res.sky is not None and np.allclose(rgb[~res.mask], res.sky, atol=1e-6)
    assert rgb[res.mask].max() > 0.5  # and a visible planet inside it


@pytest.mark.parametrize("name", RGB_RECIPES)
def test_sky_stays_dark(rgb_results, name):
    raw = rgb_results["raw"]
    w = target_weight(raw.rgb, raw.mask)
    sky = raw.mask & (w < 0.01)
    disc = raw.mask & (w > 0.99)
    assert sky.mean() > 0.2 and disc.mean() > 0.05  # the scene has both
    rgb = rgb_results[name].rgb
    assert float(np.mean(rgb[sky])) < 0.05, name
    assert float(np.percentile(rgb[sky], 99)) < 0.2, name
    assert float(np.mean(rgb[disc])) > 4 * float(np.mean(rgb[sky])) + 0.1


def test_local_enhancement_is_weighted_by_the_target(rgb_frame, rgb_results):
    """Strong local stages change the disc a lot and the sky hardly at all."""
    raw = rgb_results["raw"]
    # the target as the stages saw it: on the composite before the coverage edge's fade
    w = target_weight(raw.rgba()[..., :3], raw.mask)
    assert w.dtype == np.float32 and w.min() >= 0.0 and w.max() <= 1.0
    assert not w[~raw.mask].any()
    flat = rgb_results["raw"].rgb
    raw_compose = next(s for s in Pipeline.named("raw").stages if s.name == "compose")
    loud = Pipeline(
        [
            "stitch",
            raw_compose,  # the same composite as raw's: only the local stages differ
            ("clahe", {"clip_limit": 0.05}),
            ("unsharp", {"amount": 5.0}),
        ]
    ).run(rgb_frame, spin_fit=raw.fit)
    diff = np.abs(loud.rgb - flat).mean(axis=-1)
    sky = raw.mask & (w < 0.01)
    disc = raw.mask & (w > 0.99)
    assert float(diff[disc].mean()) > 0.01
    assert float(np.percentile(diff[sky], 99.9)) < 1e-3
    assert float(diff[sky].max()) < 0.01


@pytest.mark.parametrize("name", RGB_RECIPES)
def test_keep_stages_gives_one_preview_per_stage(rgb_results, name):
    res = rgb_results[name]
    stages = Pipeline.named(name).stages
    assert [label for label, _ in res.stage_images] == [
        f"{i + 1:02d}-{s.name}" for i, s in enumerate(stages)
    ]
    assert list(res.timings) == [f"{i + 1}:{s.name}" for i, s in enumerate(stages)]
    for label, img in res.stage_images:
        assert img.ndim in (2, 3), label
        assert np.isfinite(img).all() and img.min() >= 0.0 and img.max() <= 1.0, label
    np.testing.assert_array_equal(res.stage_images[-1][1], res.rgb)


def test_methane_recipe_on_an_rgb_frame_names_the_missing_band(rgb_frame, rgb_results):
    with pytest.raises(JunoCamError) as info:
        Pipeline.named("methane").run(rgb_frame, spin_fit=rgb_results["raw"].fit)
    msg = str(info.value)
    assert "METHANE" in msg and "BLUE, GREEN, RED" in msg


def test_methane_recipe_on_a_four_filter_frame():
    frame = _frame((Filter.METHANE, Filter.BLUE, Filter.GREEN, Filter.RED), seed=4)
    p = Pipeline.named("methane").with_overrides(["stitch.fit_spin=false"])
    res = p.run(frame)
    assert set(res.bands) == {Filter.METHANE, Filter.BLUE, Filter.GREEN, Filter.RED}
    rgb = res.rgb
    assert rgb.dtype == np.float32 and rgb.shape[:2] == res.mask.shape
    assert np.isfinite(rgb).all() and rgb.min() >= 0.0 and rgb.max() <= 1.0
    assert rgb[res.mask].max() > 0.5
