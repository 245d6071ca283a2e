"""Statistical checks of the built-in recipes on a real JunoCam frame.

Not golden pixel dumps: each recipe must do what it says in measurable terms on
JNCE_2022229_44C00029_V01 (a half-lit Jupiter against dark sky). To stay fast, the
ten exposures that hold the disc are processed at half scale with the nominal spin
(``stitch.fit_spin=false``), and the frame is decoded once for all recipes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from junocam.calibrate import repair_hot_pixels
from junocam.compose import contact_sheet
from junocam.decode import RawFrame, read_frame
from junocam.enhance import luminance
from junocam.output import write_png
from junocam.pipeline import Pipeline, PipelineResult, target_weight

PRODUCT = "JNCE_2022229_44C00029_V01"
RECIPES = ("raw", "true-color", "enhanced", "vivid")
FAST = ["stitch.fit_spin=false", "stitch.scale=0.5"]
FIRST, LAST = 3, 13  # exposures holding the disc


@pytest.fixture(scope="module")
def frame(shared_junocam: Path) -> RawFrame:
    """The disc's exposures of the real frame (a valid, shorter RawFrame)."""
    full = read_frame(shared_junocam / "raw" / PRODUCT / f"{PRODUCT}-raw.png")
    n = full.meta.n_filters * full.meta.framelet_lines
    pixels = full.pixels[FIRST * n : LAST * n]
    meta = dataclasses.replace(full.meta, lines=pixels.shape[0])
    return RawFrame(pixels, meta, full.path)


@pytest.fixture(scope="module")
def results(frame: RawFrame) -> dict[str, PipelineResult]:
    return {name: Pipeline.named(name).with_overrides(FAST).run(frame) for name in RECIPES}


@pytest.fixture(scope="module")
def regions(results: dict[str, PipelineResult]) -> tuple[np.ndarray, np.ndarray]:
    """(disc interior, sky) masks from the raw recipe's composite."""
    raw = results["raw"]
    w = target_weight(raw.rgb, raw.mask)
    disc = ndimage.binary_erosion(raw.mask & (w > 0.99), iterations=10)  # off limb/terminator
    sky = raw.mask & (w < 0.01)
    return disc, sky


def mean_gradient(rgb: np.ndarray, where: np.ndarray) -> float:
    """Mean gradient magnitude of the luminance over ``where`` (local contrast)."""
    gy, gx = np.gradient(luminance(rgb))
    return float(np.hypot(gx, gy)[where].mean())


def mean_chroma(rgb: np.ndarray, where: np.ndarray) -> float:
    """Mean CIELAB chroma over ``where``."""
    from skimage.color import rgb2lab

    lab = rgb2lab(np.clip(rgb, 0.0, 1.0))
    return float(np.hypot(lab[..., 1], lab[..., 2])[where].mean())


def colour_cast(rgb: np.ndarray, where: np.ndarray) -> float:
    """Largest |log| ratio of a channel mean to the mean of the three (0 = neutral)."""
    m = rgb[where].mean(axis=0).astype(np.float64)
    return float(np.abs(np.log(m / m.mean())).max())


def test_regions_are_sensible(regions):
    disc, sky = regions
    assert disc.sum() > 20_000 and sky.sum() > 100_000
    assert not (disc & sky).any()


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_is_finite_in_range_and_keeps_the_sky_dark(results, regions, name):
    rgb = results[name].rgb
    disc, sky = regions
    assert rgb.dtype == np.float32 and rgb.shape[:2] == results["raw"].rgb.shape[:2]
    assert np.isfinite(rgb).all() and rgb.min() >= 0.0 and rgb.max() <= 1.0
    assert float(rgb[sky].mean()) < 0.03, name
    assert float(np.percentile(rgb[sky], 99)) < 0.12, name
    assert float(luminance(rgb)[disc].mean()) > 0.3, name


def test_enhanced_has_more_local_contrast_than_raw(results, regions):
    disc, _ = regions
    raw = mean_gradient(results["raw"].rgb, disc)
    enhanced = mean_gradient(results["enhanced"].rgb, disc)
    vivid = mean_gradient(results["vivid"].rgb, disc)
    assert enhanced > 1.2 * raw, (raw, enhanced)
    assert vivid > enhanced, (enhanced, vivid)


def test_vivid_is_more_saturated_than_enhanced(results, regions):
    disc, _ = regions
    enhanced = mean_chroma(results["enhanced"].rgb, disc)
    vivid = mean_chroma(results["vivid"].rgb, disc)
    assert vivid > 1.1 * enhanced, (enhanced, vivid)


def test_true_color_is_closer_to_neutral_than_raw(results, regions):
    disc, _ = regions
    raw = colour_cast(results["raw"].rgb, disc)
    true = colour_cast(results["true-color"].rgb, disc)
    assert true < 0.5 * raw, (raw, true)
    assert true < 0.2
    # and still warm: Jupiter's clouds are red > blue in natural colour
    m = results["true-color"].rgb[disc].mean(axis=0)
    assert m[0] > m[2]


def test_contact_sheet_of_all_recipes(results, tmp_path):
    panels = [(name, results[name].rgb) for name in RECIPES]
    sheet = contact_sheet(panels, 200)
    assert sheet.ndim == 3 and sheet.shape[1] >= 4 * 200 and sheet.shape[2] == 3
    target = tmp_path / "recipes_contact_sheet.png"
    write_png(target, sheet, bits=8)
    assert target.stat().st_size > 10_000


def test_hot_pixel_stage_removes_injected_hot_pixels(frame):
    """Hot pixels injected into real framelets are found and repaired; detail is kept."""
    framelets = frame.linear().reshape(
        frame.meta.n_exposures, frame.meta.n_filters, frame.meta.framelet_lines, -1
    )
    clean = framelets[2:6, 1].astype(np.float32)  # green, four exposures across the disc
    rng = np.random.default_rng(7)
    n = 300
    e = rng.integers(0, clean.shape[0], n)
    ln = rng.integers(2, clean.shape[1] - 2, n)
    s = rng.integers(40, clean.shape[2] - 40, n)
    dirty = clean.copy()
    dirty[e, ln, s] += rng.uniform(400.0, 2000.0, n).astype(np.float32)
    repaired, mask = repair_hot_pixels(dirty, return_mask=True)
    assert mask[e, ln, s].mean() > 0.97
    err = np.abs(repaired[e, ln, s] - clean[e, ln, s])
    assert float(np.median(err)) < 0.2 * float(np.median(dirty[e, ln, s] - clean[e, ln, s]))
    # the real frame has its own spikes (radiation hits in the sky): the same ones are
    # found with and without the injected pixels, and they are few
    _, own = repair_hot_pixels(clean, return_mask=True)
    injected = np.zeros_like(mask)
    injected[e, ln, s] = True
    assert own.mean() < 0.005
    assert (mask & ~injected & ~own).sum() < 0.05 * n
    # pixels not flagged are untouched, and the bright disc is rarely flagged (0.04 %)
    np.testing.assert_array_equal(repaired[~mask], dirty[~mask])
    disc = clean > 200.0
    assert disc.sum() > 50_000
    assert (own & disc).sum() < 1e-3 * disc.sum()
