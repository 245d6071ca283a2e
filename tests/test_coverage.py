"""Colour only where every band has data; spills and limb rims; frames without metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

from junocam.cli import main
from junocam.compose import band_coverage, over_sky, saturation_bleed
from junocam.decode import read_frame
from junocam.enhance import defringe, implausible_colour
from junocam.metadata import Filter, assumed_meta, guess_filters
from junocam.output import encode_png
from junocam.pipeline import Pipeline
from junocam.quality import missing_band_share
from junocam.simulate import JupiterScene, SimulationSpec, simulate_frame

RGB = (Filter.BLUE, Filter.GREEN, Filter.RED)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 12.0))
def test_coverage_is_the_intersection_and_alpha_ramps_inside_it(seed: int, feather: float):
    rng = np.random.default_rng(seed)
    masks = [rng.random((30, 40)) > 0.3 for _ in range(3)]
    mask, alpha = band_coverage(masks, feather)
    both = masks[0] & masks[1] & masks[2]
    assert (mask <= both).all()  # never where a band is missing
    assert alpha.dtype == np.float32 and alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert (alpha[~both] == 0).all()
    if feather <= 1.0:
        assert (mask == both).all()
    union, ones = band_coverage(masks, mode="any")
    assert (union == (masks[0] | masks[1] | masks[2])).all() and (ones[union] == 1).all()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.5, 9.0), st.integers(1, 40), st.integers(1, 40))
def test_feather_is_the_smoothstep_of_the_euclidean_distance(
    seed: int, feather: float, h: int, w: int
):
    # the local search gives exactly what a full distance transform gives
    rng = np.random.default_rng(seed)
    m = ndimage.binary_opening(rng.random((h, w)) > rng.uniform(0.1, 0.6))
    _, alpha = band_coverage([m], feather)
    if m.all():  # nothing uncovered anywhere: fully opaque
        assert (alpha == 1.0).all()
        return
    ramp = np.clip(ndimage.distance_transform_edt(m).astype(np.float32) / np.float32(feather), 0, 1)
    np.testing.assert_allclose(alpha, ramp * ramp * (3.0 - 2.0 * ramp), atol=1e-6)


def test_feathered_edge_is_monotone_from_the_edge_inwards():
    m = np.zeros((1, 30), bool)
    m[0, 5:] = True
    _, alpha = band_coverage([m, m], feather_px=6.0)
    ramp = alpha[0, 5:14]
    assert (np.diff(ramp) >= 0).all() and ramp[0] < 0.2 and ramp[-1] == 1.0


def test_saturation_spill_is_found_but_not_the_planet_beside_it():
    h, w = 40, 60
    red = np.zeros((h, w), np.float32)
    green = np.zeros((h, w), np.float32)
    red[:, :30] = 100.0
    green[:, :30] = 80.0  # the planet, all bands
    red[:, 30:45] = 100.0  # red's saturated spill over dark sky
    bleed = saturation_bleed([red, green], np.ones((h, w), bool))
    assert bleed[:, 31:45].all()
    assert not bleed[:, :29].any()  # the planet stays
    assert not bleed[:, 48:].any()  # the sky beyond is not touched


def test_defringe_recolours_only_implausible_pixels():
    img = np.tile(np.array([0.7, 0.5, 0.3], np.float32), (20, 20, 1))
    img[10, 3:17] = (0.0, 0.55, 0.5)  # a cyan rim across the disc
    img[2, 2] = (0.02, 0.01, 0.03)  # dark sky noise: left alone
    out = defringe(img)
    assert missing_band_share(out) == 0.0 and missing_band_share(img) > 0
    untouched = ~implausible_colour(img)
    assert np.array_equal(out[untouched], img[untouched])
    # the rim keeps its luminance and takes the disc's hue
    rim = out[10, 8]
    assert (
        abs(float(rim @ [0.2126, 0.7152, 0.0722]) - float(img[10, 8] @ [0.2126, 0.7152, 0.0722]))
        < 1e-3
    )
    np.testing.assert_allclose(rim / rim.max(), [1.0, 5 / 7, 3 / 7], atol=0.02)


def test_over_sky_and_rgba_round_trip():
    rgb = np.full((2, 3, 3), 0.6, np.float32)
    alpha = np.array([[1.0, 0.5, 0.0], [1.0, 1.0, 0.25]], np.float32)
    sky = np.array([0.1, 0.1, 0.1], np.float32)
    faded = over_sky(rgb.copy(), alpha, sky)
    np.testing.assert_allclose(faded[0, 1], 0.35)
    np.testing.assert_allclose(faded[0, 2], 0.1)
    from junocam.pipeline import PipelineResult

    r = PipelineResult(faded, alpha > 0, {}, None, [], {}, alpha=alpha, sky=sky)
    rgba = r.rgba()
    np.testing.assert_allclose(rgba[..., 3], alpha)
    np.testing.assert_allclose(rgba[alpha > 0][:, :3], 0.6, atol=1e-5)


def _partial_frame() -> tuple:
    """A simulated RGB frame whose first and last exposures leave bands uncovered."""
    spec = SimulationSpec(filters=RGB, n_exposures=5, oversample=1, hot_pixels=0, seed=3)
    sim = simulate_frame(JupiterScene(radius_deg=9.0), spec)
    return sim


def test_pipeline_shows_no_single_band_colour_at_coverage_edges():
    sim = _partial_frame()
    frame = read_frame_from_sim(sim)
    # partial coverage as before issue 15, against the defaults (coverage, spill, defringe)
    stitch = ("stitch", {"fit_spin": False})
    partial = Pipeline([stitch, ("compose", {"coverage": "any", "hide_bleed": False})]).run(frame)
    full = Pipeline([stitch, "compose", "defringe"]).run(frame)
    # at the coverage edges (where only some bands reach), not elsewhere in the frame
    edges = ndimage.binary_dilation(partial.mask & ~full.mask, iterations=12)
    assert missing_band_share(partial.rgb[edges][None]) > 0.01  # the staircases of the issue
    assert missing_band_share(full.rgb[edges][None]) <= 0.001
    assert full.alpha is not None and full.alpha.max() == 1.0
    assert full.mask.sum() < partial.mask.sum()


def read_frame_from_sim(sim):
    from junocam.decode import RawFrame
    from junocam.metadata import from_website_json

    meta = from_website_json(sim.metadata)
    return RawFrame(sim.strip, meta, None)


def test_alpha_option_writes_rgba_png_and_tiff(tmp_path):
    sim = _partial_frame()
    png = tmp_path / f"{sim.metadata['PRODUCT_ID']}-raw.png"
    png.write_bytes(encode_png(sim.strip))
    (tmp_path / f"{sim.metadata['PRODUCT_ID']}-raw.json").write_text(json.dumps(sim.metadata))
    for fmt, suffix in (("png8", ".png"), ("tiff16", ".tif")):
        res = CliRunner().invoke(
            main,
            ["process", str(png), "-o", str(tmp_path / fmt), "--alpha", "--format", fmt,
             "-p", "raw", "--set", "stitch.fit_spin=false"],
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        out = next((tmp_path / fmt).glob(f"*{suffix}"))
        if fmt == "png8":
            with Image.open(out) as im:
                assert im.mode == "RGBA"
                a = np.asarray(im)
        else:
            import tifffile

            a = tifffile.imread(out)
        assert a.shape[2] == 4
        alpha = a[..., 3]
        assert alpha.max() == np.iinfo(a.dtype).max and alpha.min() == 0
        assert 0 < (alpha == 0).mean() < 1


def with_stripe_pattern(strip: np.ndarray, n_bands: int, seed: int = 1) -> np.ndarray:
    """The strip plus a fixed column pattern per filter stripe (hot columns, DSNU), as
    every real CCD has: each band's framelets come from its own stripe."""
    rng = np.random.default_rng(seed)
    pattern = rng.normal(0.0, 2.0, (n_bands, strip.shape[1]))
    n = strip.shape[0] // 128
    rows = np.repeat(np.arange(n) % n_bands, 128)
    return np.clip(strip.astype(np.float64) + pattern[rows] + 10, 0, 255).astype(np.uint8)


def test_guess_filters_from_name_height_and_framelets():
    assert guess_filters(1536, "JNCE_2022186_43M00081_V01") == (Filter.METHANE,)
    assert guess_filters(4608, "JNCE_2022186_43C00078_V01") == RGB
    assert guess_filters(1664, "unknown") is None
    spec = SimulationSpec(
        filters=(Filter.METHANE, Filter.BLUE, Filter.GREEN, Filter.RED),
        n_exposures=6, oversample=1, seed=5,
    )  # fmt: skip
    sim = simulate_frame(JupiterScene(radius_deg=9.0), spec)
    lines = sim.strip.shape[0]
    assert lines % 384 == 0 and lines % 512 == 0  # ambiguous by height alone
    strip = with_stripe_pattern(sim.strip, len(spec.filters))
    assert guess_filters(lines, "x", strip) == spec.filters
    one_band = with_stripe_pattern(sim.strip, 1)
    assert guess_filters(lines, "x", one_band) == (Filter.METHANE,)
    m = assumed_meta(lines, source="strip-raw.png", pixels=strip)
    assert m.filters == spec.filters and m.interframe_delay == 0.372
    assert {"filters", "interframe_delay"} <= set(m.assumed)


def test_process_without_metadata_and_without_interframe_delay(tmp_path):
    sim = _partial_frame()
    png = tmp_path / "strip-raw.png"
    png.write_bytes(encode_png(sim.strip))
    res = CliRunner().invoke(
        main, ["process", str(png), "--filters", "BLUE,GREEN,RED", "-o", str(tmp_path / "o"),
               "-p", "raw"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rec = json.loads(next((tmp_path / "o").glob("*.json")).read_text())
    assert rec["assumed_values"]["interframe_delay"] == 0.372
    assert rec["assumed_values"]["filters"] == ["BLUE", "GREEN", "RED"]
    assert "interframe_delay" in rec["assumed"]
    frame = read_frame(png, allow_assumed=True)
    assert frame.meta.filters == RGB  # guessed from the framelets


@pytest.mark.parametrize("mode", ["all", "any"])
def test_recipes_validate_the_coverage_parameters(mode):
    p = Pipeline(["stitch", ("compose", {"coverage": mode, "feather": 2.0}), "defringe"])
    assert p.stages[1].params["coverage"] == mode


def test_default_pipeline_applies_each_override_where_its_stage_is():
    from junocam.errors import RecipeError
    from junocam.pipeline import DefaultPipeline

    auto = DefaultPipeline(('band_weights.weights="gill"', "stretch.high=99.0"))
    auto.validate()
    mono = auto.for_meta(assumed_meta(1536, ["METHANE"]))
    rgb = auto.for_meta(assumed_meta(1536))
    assert mono.name == "mono" and "band_weights" not in {s.name for s in mono.stages}
    assert next(s for s in mono.stages if s.name == "stretch").params["high"] == 99.0
    assert next(s for s in rgb.stages if s.name == "band_weights").params["weights"] == "gill"
    with pytest.raises(RecipeError, match="no stage 'nope'"):
        DefaultPipeline(("nope.x=1",)).validate()
    with pytest.raises(RecipeError, match="stretch"):
        DefaultPipeline(("stretch.high=500",)).validate()
