"""The late-mission recipe on simulated radiation-damaged frames, against the clean render."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from junocam.calibrate import block_rank_map, estimate_background, subtract_background
from junocam.decode import RawFrame
from junocam.metadata import Filter, from_website_json
from junocam.pipeline import Pipeline
from junocam.quality import band_errors
from junocam.simulate import JupiterScene, SimulationSpec, degrade_late_mission, simulate_frame

RGB = (Filter.BLUE, Filter.GREEN, Filter.RED)


@pytest.fixture(scope="module")
def pair() -> tuple[RawFrame, RawFrame]:
    spec = SimulationSpec(
        filters=RGB, n_exposures=7, oversample=1, seed=2, product_id="JNCS_2024350_68C00002_V01"
    )
    scene = JupiterScene(radius_deg=8.0)
    clean = simulate_frame(
        scene, dataclasses.replace(spec, shot_noise=False, read_noise_dn=0.0, hot_pixels=0)
    )
    noisy = simulate_frame(scene, spec)
    meta = from_website_json(clean.metadata)
    bad = degrade_late_mission(noisy.strip, RGB, seed=2)
    return RawFrame(clean.strip, meta, None), RawFrame(bad, meta, None)


def linear(frame: RawFrame, recipe: str):
    p = Pipeline.named(recipe).with_overrides(["stitch.fit_spin=false"])
    return p.through("compose").run(frame)


def test_the_degradation_has_the_reported_levels():
    empty = np.zeros((384 * 3, 1648), np.uint8)  # three exposures of black sky
    bad = degrade_late_mission(empty, RGB, seed=5)
    for k, level in enumerate((7, 8, 9.5)):  # blue, green, red, companded DN [CAMERA.md]
        sky = bad[k * 128 : (k + 1) * 128, 40:1600]
        assert abs(float(np.median(sky)) - level) <= 0.5
    photo = np.delete(bad[:, 23:1631], 30 - 23, axis=1)  # without the hot column
    over = [(photo[k * 128 : (k + 1) * 128] > 40).sum() for k in range(9)]
    assert all(120 <= n <= 200 for n in over), over  # about 150 per framelet
    assert int(bad[:, 23:1631].max()) <= 218
    assert abs(float(np.median(bad[:, 30])) - 115) <= 2  # the hot column
    assert (bad[:, :23] < 5).all()  # the masked columns do not see the sky's floor


def test_late_mission_recipe_recovers_the_clean_bands(pair):
    clean, bad = pair
    truth = linear(clean, "raw")
    ref = truth.bands[Filter.GREEN]
    disc = ndimage.binary_erosion(ref > 0.2 * np.percentile(ref[truth.mask], 99), iterations=6)
    disc &= truth.mask
    sky = ndimage.binary_erosion(truth.mask & (ref < 0.01 * np.percentile(ref, 99)), iterations=6)
    assert disc.sum() > 5000 and sky.sum() > 5000
    late = band_errors(linear(bad, "late-mission").bands, truth.bands, disc, sky)
    plain = band_errors(linear(bad, "enhanced").bands, truth.bands, disc, sky)
    raw = band_errors(linear(bad, "raw").bands, truth.bands, disc, sky)
    # measured (seed 2): sky 0.0016/-0.0016/-0.0010 against enhanced's
    # 0.042/0.014/0.009; RMS 0.018/0.015/0.015 against 0.031/0.021/0.021; raw's
    # hits on the disc 0.34%/0.12%/0.02%
    for band in ("BLUE", "GREEN", "RED"):
        # the background measured in the frame is gone from the sky ...
        assert abs(late[band]["sky"]) < 0.005
        assert abs(late[band]["sky"]) < 0.25 * abs(plain[band]["sky"])
        # ... hot pixels and hits are gone from the disc ...
        assert late[band]["spikes"] == 0.0
        # ... and the noise is lower than with the standard clean-up
        assert late[band]["rms"] < 0.8 * plain[band]["rms"]
    assert raw["BLUE"]["spikes"] > 0.001  # the degradation did put hits on the disc


def test_block_rank_ignores_hits_and_the_background_is_the_sky_level():
    rng = np.random.default_rng(4)
    stack = 25.0 + rng.normal(0.0, 2.0, (5, 128, 1648)).astype(np.float32)
    stack[:, 30:100, 200:1400] += 800.0  # a large planet
    hits = rng.integers(0, 128, 2000), rng.integers(23, 1631, 2000)
    stack[:, hits[0], hits[1]] = 3000.0
    assert float(block_rank_map(stack[0, :, 23:1631]).max()) < 900.0  # no hit survives
    np.testing.assert_allclose(estimate_background(stack), 25.0, atol=0.5)
    out = subtract_background(stack)
    assert abs(float(np.median(out[:, :20, 23:1631]))) < 0.5
