"""Naive band images, band offsets and RGB composition."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic_strip
from hypothesis import given, settings
from hypothesis import strategies as st

from junocam.compose import (
    compose_rgb,
    naive_band_images,
    naive_band_offsets,
    naive_composite,
    nominal_band_offsets,
    percentile_of_finite,
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


# ------------------------------------------------ the white point's tail percentile


def _reference_percentile(parts: list[np.ndarray], q: float) -> float:
    data = np.concatenate([p.reshape(-1) for p in parts])
    return float(np.percentile(data[np.isfinite(data)], q))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(0, 30_000), min_size=1, max_size=3),
    q=st.one_of(st.floats(0.0, 100.0), st.sampled_from([0.0, 0.05, 50.0, 99.9, 99.99, 100.0])),
    kind=st.sampled_from(["normal", "ties", "skewed", "nonfinite"]),
)
def test_percentile_of_finite_is_numpy_percentile(seed: int, sizes: list[int], q: float, kind: str):
    """Exact (to float rounding) on every path: the tail shortcut for q near 0 or 100
    (with ties at its bound, NaN and infinities), and the full partition otherwise."""
    rng = np.random.default_rng(seed)
    parts = []
    for n in sizes:
        if kind == "ties":
            x = rng.integers(0, 5, n).astype(np.float32)
        elif kind == "skewed":
            x = rng.lognormal(0.0, 3.0, n).astype(np.float32)
        else:
            x = rng.normal(100.0, 30.0, n).astype(np.float32)
        if kind == "nonfinite" and n:
            bad = rng.random(n) < 0.2
            x[bad] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), int(bad.sum()))
        parts.append(x.reshape(-1, 1) if n % 2 else x)
    got = percentile_of_finite(parts, q)
    if not any(np.isfinite(p).any() for p in parts):
        assert got is None
        return
    want = _reference_percentile(parts, q)
    assert got is not None
    assert abs(got - want) <= 1e-6 * max(abs(want), 1e-30)


def test_white_point_uses_the_exact_percentile_of_the_subsample():
    rng = np.random.default_rng(3)
    bands = {f: rng.gamma(2.0, 100.0, (1200, 900)).astype(np.float32) for f in RGB}
    rgb = compose_rgb(bands, percentile=99.9)
    # the documented subsample: every step-th value, step = size // 1e6 (1 here)
    white = float(np.percentile(np.concatenate([b.ravel() for b in bands.values()]), 99.9))
    want = np.clip(bands[Filter.RED] / np.float32(white), 0, 1)
    np.testing.assert_allclose(rgb[..., 0], want, rtol=2e-6, atol=0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    channels=st.sampled_from([0, 1, 3, 4]),
    strided=st.booleans(),
)
def test_fill_where_is_boolean_assignment(seed: int, channels: int, strided: bool):
    from junocam.compose import fill_where

    rng = np.random.default_rng(seed)
    shape = (13, 17) if channels == 0 else (13, 17, channels)
    img = rng.random(shape).astype(np.float32)
    if strided:
        img = np.asarray(rng.random((13, 34) + shape[2:]), np.float32)[:, ::2]
    where = rng.random((13, 17)) < 0.4
    value = rng.random(max(channels, 1)).astype(np.float32) if channels else np.float32(0.25)
    want = img.copy()
    want[where] = value
    assert fill_where(img, where, value) is img
    np.testing.assert_array_equal(img, want)


def test_over_sky_equals_its_formula_everywhere():
    """alpha 0 is the sky exactly, alpha 1 the picture, the ramp sky + a (rgb - sky)."""
    from junocam.compose import over_sky

    rng = np.random.default_rng(5)
    rgb = rng.random((40, 50, 3)).astype(np.float32)
    alpha = rng.choice(np.array([0.0, 1.0, 0.3, 0.75], np.float32), (40, 50))
    sky = np.array([0.01, 0.02, 0.05], np.float32)
    want = sky + alpha[..., None] * (rgb - sky)
    got = over_sky(rgb, alpha, sky)
    np.testing.assert_array_equal(got[alpha == 0], np.broadcast_to(sky, got[alpha == 0].shape))
    np.testing.assert_array_equal(got[alpha == 1], rgb[alpha == 1])
    ramp = (alpha > 0) & (alpha < 1)
    np.testing.assert_array_equal(got[ramp], want[ramp])
