"""Naive band images, band offsets and RGB composition."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic_strip

from junocam.compose import (
    compose_rgb,
    naive_band_images,
    naive_band_offsets,
    naive_composite,
    nominal_band_offsets,
    reference_band,
    shift_bands,
)
from junocam.framelets import split
from junocam.metadata import Filter

RGB = (Filter.BLUE, Filter.GREEN, Filter.RED)


def test_band_images_stack_framelets_in_time_order():
    # value = 10 * exposure + filter index, so every framelet is identifiable
    n_exp, nf = 4, 3
    values = (10 * np.arange(n_exp)[:, None] + np.arange(nf)[None, :]).reshape(-1)
    strip = np.repeat(values, 128)[:, None] * np.ones((1, 1648))
    bands = naive_band_images(split(strip.astype(np.uint8), RGB))
    assert list(bands) == list(RGB)
    for k, f in enumerate(RGB):
        img = bands[f]
        assert img.dtype == np.float32 and img.shape == (n_exp * 128, 1648)
        np.testing.assert_array_equal(img[::128, 0], 10 * np.arange(n_exp) + k)


def test_band_images_accept_arrays_and_crop():
    strip = synthetic_strip(2, 2, levels=[1, 2])
    from_2d = naive_band_images(strip, ["RED", "BLUE"], photoactive=True)
    assert from_2d[Filter.RED].shape == (256, 1608)
    from_4d = naive_band_images(strip.reshape(2, 2, 128, 1648), ["RED", "BLUE"])
    assert float(from_4d[Filter.BLUE][0, 0]) == 2.0
    with pytest.raises(ValueError):
        naive_band_images(strip)


def test_reference_band_order():
    assert reference_band(RGB) is Filter.GREEN
    assert reference_band(["RED", "BLUE"]) is Filter.RED
    assert reference_band(["METHANE"]) is Filter.METHANE


def test_nominal_offsets_follow_ccd_layout():
    off = nominal_band_offsets([*RGB, Filter.METHANE], interframe_delay=0.372)
    assert off[Filter.GREEN] == 0
    assert off[Filter.BLUE] == -off[Filter.RED] != 0
    assert off[Filter.METHANE] < off[Filter.BLUE] < 0
    # half-height framelets (2x2 summing) halve the offsets
    half = nominal_band_offsets(RGB, interframe_delay=0.372, framelet_lines=64)
    assert abs(half[Filter.RED] - off[Filter.RED] / 2) <= 1


def test_measured_offsets_recover_a_known_shift():
    rng = np.random.default_rng(3)
    scene = rng.random((1200, 300)).astype(np.float32)
    green = scene[200:968]
    red = scene[370:1138]  # a feature on red line y is on green line y + 170
    out = naive_band_offsets({Filter.GREEN: green, Filter.RED: red}, interframe_delay=0.372)
    assert out[Filter.RED] == (170, 0)


def test_implausible_measurement_falls_back_to_nominal():
    rng = np.random.default_rng(4)
    scene = rng.random((1000, 200)).astype(np.float32)
    bands = {Filter.GREEN: scene[:768], Filter.RED: scene[:768]}  # measures 0: implausible
    nominal = nominal_band_offsets(list(bands), interframe_delay=0.372)
    assert naive_band_offsets(bands, interframe_delay=0.372)[Filter.RED] == (
        nominal[Filter.RED],
        0,
    )


def test_shift_bands_union_canvas():
    a = np.ones((3, 4))
    out = shift_bands({Filter.RED: a, Filter.GREEN: a}, {Filter.RED: (2, 1), Filter.GREEN: (0, 0)})
    assert out[Filter.RED].shape == (5, 5)
    assert np.isnan(out[Filter.RED][0, 0]) and out[Filter.RED][2, 1] == 1
    assert np.isnan(out[Filter.GREEN][4, 4]) and out[Filter.GREEN][0, 0] == 1


def test_compose_rgb_channel_rules():
    r, g, b, m = (np.full((2, 3), v, np.float32) for v in (8.0, 4.0, 2.0, 1.0))
    full = compose_rgb(
        {Filter.RED: r, Filter.GREEN: g, Filter.BLUE: b, Filter.METHANE: m}, percentile=100
    )
    assert full.dtype == np.float32 and full.shape == (2, 3, 3)
    np.testing.assert_allclose(full[0, 0], [1.0, 0.5, 0.25])
    rb = compose_rgb({Filter.RED: r, Filter.BLUE: b}, percentile=100)
    np.testing.assert_allclose(rb[0, 0], [1.0, 5 / 8, 0.25])  # green = mean(R, B)
    grey = compose_rgb({Filter.METHANE: m})
    np.testing.assert_allclose(grey[0, 0], [1.0, 1.0, 1.0])
    one = compose_rgb({Filter.BLUE: b, Filter.METHANE: m * 100})
    np.testing.assert_allclose(one[0, 0], [1.0, 1.0, 1.0])  # blue as grey, methane unused
    gr = compose_rgb({Filter.RED: r, Filter.GREEN: g}, percentile=100)
    np.testing.assert_allclose(gr[0, 0], [1.0, 0.5, 0.0])


def test_compose_rgb_normalisation_and_nan():
    r = np.array([[0.0, 5.0, 10.0, np.nan]], np.float32)
    g = np.array([[0.0, 1.0, 2.0, 2.0]], np.float32)
    joint = compose_rgb({"RED": r, "GREEN": g, "BLUE": g}, percentile=100)
    assert joint.min() >= 0 and joint.max() <= 1
    np.testing.assert_allclose(joint[0, :, 0], [0, 0.5, 1.0, 0.0])
    np.testing.assert_allclose(joint[0, :, 1], [0, 0.1, 0.2, 0.2])
    per = compose_rgb({"RED": r, "GREEN": g, "BLUE": g}, normalize="per-band", percentile=100)
    np.testing.assert_allclose(per[0, :, 1], [0, 0.5, 1.0, 1.0])
    gam = compose_rgb({"RED": r, "GREEN": g, "BLUE": g}, percentile=100, gamma=2.0)
    assert gam[0, 1, 0] == pytest.approx(0.5**0.5)
    with pytest.raises(ValueError):
        compose_rgb({"RED": r, "GREEN": g[:, :2]})
    with pytest.raises(ValueError):
        compose_rgb({"RED": r}, normalize="auto")  # type: ignore[arg-type]


def test_naive_composite_red_channel_comes_from_red_framelets():
    # FILTER_NAME order BLUE, GREEN, RED with distinct flat levels
    levels = {Filter.BLUE: 1.0, Filter.GREEN: 2.0, Filter.RED: 4.0}
    strip = synthetic_strip(6, 3, levels=[1, 2, 4]).astype(np.float32)
    rgb = naive_composite(split(strip, RGB), interframe_delay=0.372, percentile=100)
    off = nominal_band_offsets(RGB, interframe_delay=0.372)
    middle = rgb.shape[0] // 2  # covered by all bands
    assert rgb.shape[0] == 6 * 128 + off[Filter.RED] - off[Filter.BLUE]
    np.testing.assert_allclose(
        rgb[middle, 100],
        [levels[Filter.RED] / 4, levels[Filter.GREEN] / 4, levels[Filter.BLUE] / 4],
    )
    # rows only the blue band covers (blue is shifted up): red and green are empty
    np.testing.assert_allclose(rgb[5, 100], [0.0, 0.0, 0.25])
