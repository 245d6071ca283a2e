"""Streaming memory (issue 18): the in-place and banded paths give the same values as before.

The engine lets the colour stages write their result into the picture the compose
stage made (``Context.in_place``); the stage functions then work a band of rows at a
time (``out=``, and ``weight=`` for the stages blended on the target). These tests
compare, bit for bit, the in-place path with the path that makes a new picture, and
the banded functions with the whole-image computations they replace; also the
statistics taken without copies of the masked pixels (``rank.masked_percentile``,
``target_weight``'s sky level and noise), the compose stage's freeing of the bands,
the packed opacity and the single-band result's one channel.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from junocam import enhance
from junocam.decode import RawFrame
from junocam.metadata import Filter, assumed_meta, from_website_json
from junocam.pipeline import Pipeline
from junocam.pipeline.registry import Context, State
from junocam.pipeline.stages import STAGES
from junocam.simulate import JupiterScene, SimulationSpec, simulate_frame

ENHANCED = Pipeline.named("enhanced")
COLOUR_STAGES = [s for s in ENHANCED.stages if STAGES[s.name].kind == "color"]


def _picture(h: int, w: int, seed: int, channels: int = 3) -> State:
    """A random picture with a disc-like target weight, a mask and a few rims."""
    rng = np.random.default_rng(seed)
    shape = (h, w, channels) if channels == 3 else (h, w)
    rgb = rng.random(shape, dtype=np.float32) * np.float32(0.9)
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h / 2, xx - w / 2) / (0.4 * min(h, w))
    target = np.clip(1.5 - r, 0.0, 1.0).astype(np.float32)
    mask = r < 1.2
    if channels == 3:
        rgb[r < 1.0] *= np.float32(0.5) + np.float32(0.5) * target[r < 1.0, None]
        rim = (r > 0.95) & (r < 1.0)
        rgb[rim, 0] = 0.0  # one band missing at the limb: defringe's work
    rgb[~mask] = 0.0
    return State(rgb=rgb, mask=mask, target=target, mono=channels != 3)


def _ctx(in_place: bool) -> Context:
    frame = RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384))
    return Context(frame, None, [], in_place=in_place)


@pytest.mark.parametrize("channels", [3, 1])
def test_each_colour_stage_in_place_is_bit_identical(channels: int) -> None:
    # 600 rows: several bands of rows, and the CLAHE tiles of a band cross them
    state = _picture(600, 170, seed=channels, channels=channels)
    for stage in COLOUR_STAGES:
        spec = STAGES[stage.name]
        reference = spec.run(state, stage.params, _ctx(False))
        mine = State(**{**state.__dict__, "rgb": state.rgb.copy()})
        buffer = mine.rgb
        got = spec.run(mine, stage.params, _ctx(True))
        assert np.array_equal(got.rgb, reference.rgb), stage.name
        assert got.rgb is buffer, stage.name  # written into the picture it was given
        state = reference


def test_pure_path_leaves_its_input_alone() -> None:
    state = _picture(300, 90, seed=4)
    before = state.rgb.copy()
    for stage in COLOUR_STAGES:
        STAGES[stage.name].run(state, stage.params, _ctx(False))
    assert np.array_equal(state.rgb, before)


@settings(max_examples=15, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 12),
    radius=st.floats(0.3, 12.0),
    amount=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**16),
)
def test_unsharp_by_rows_equals_the_whole_image(
    h: int, w: int, radius: float, amount: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w, 3)) * 1.2 - 0.1).astype(np.float32)  # some out of [0, 1]
    weight = rng.random((h, w)).astype(np.float32)
    whole = enhance.unsharp(img, radius, amount)
    assert np.array_equal(enhance.unsharp(img, radius, amount, weight=np.ones((h, w))), whole)
    blended = whole - img
    blended *= weight[..., None]
    blended += img
    mine = img.copy()
    out = enhance.unsharp(mine, radius, amount, out=mine, weight=weight)
    assert out is mine
    assert np.array_equal(mine, blended)


def test_unsharp_by_rows_with_a_radius_longer_than_a_band() -> None:
    rng = np.random.default_rng(1)
    img = rng.random((700, 9, 3), dtype=np.float32)
    mine = img.copy()
    enhance.unsharp(mine, 80.0, 1.0, out=mine)  # reach 320 rows: bands of 320
    assert np.array_equal(mine, enhance.unsharp(img, 80.0, 1.0))


def _flatten_whole_image(
    img: np.ndarray, sigma: float, strength: float, max_gain: float
) -> np.ndarray:
    """The whole-image flatten_illumination this round replaced (automatic mask)."""
    a = enhance._unit_copy(img)
    lum = a if a.ndim == 2 else a @ enhance._LUMA
    valid = lum > 0.02
    target = float(lum[valid].mean(dtype=np.float64))
    num, den = enhance._masked_blur(lum, valid, sigma)
    gain = np.maximum(den, np.float32(1e-6))
    np.divide(num, gain, out=gain)
    np.maximum(gain, np.float32(target / max_gain), out=gain)
    np.divide(np.float32(target), gain, out=gain)
    np.power(gain, np.float32(strength), out=gain)
    np.clip(gain, 1.0 / max_gain, max_gain, out=gain)
    weight = np.divide(den, np.float32(0.25), out=den)
    np.clip(weight, 0.0, 1.0, out=weight)
    gain -= 1.0
    gain *= weight
    gain += 1.0
    enhance.apply_per_pixel(a, gain)
    return enhance._finish(a)


@pytest.mark.parametrize("sigma", [3.0, 60.0])
@pytest.mark.parametrize("channels", [3, 1])
def test_flatten_by_rows_equals_the_whole_image(sigma: float, channels: int) -> None:
    img = _picture(700, 260, seed=7, channels=channels).rgb
    reference = _flatten_whole_image(img, sigma, 0.7, 8.0)
    assert np.array_equal(enhance.flatten_illumination(img, sigma, 0.7), reference)
    mine = img.copy()
    enhance.flatten_illumination(mine, sigma, 0.7, out=mine)
    assert np.array_equal(mine, reference)


def test_masked_blur_bands_equal_whole_block_means() -> None:
    from skimage.transform import downscale_local_mean

    rng = np.random.default_rng(2)
    values = rng.random((1000, 97), dtype=np.float32)
    weights = values > 0.3
    num, den, k = enhance._masked_blur_coarse(values, weights, 60.0)
    assert k == 15
    whole = downscale_local_mean(values * weights, (k, k))
    s = 60.0 / k
    expected = ndimage.gaussian_filter(whole, s, mode="reflect", truncate=3.0)
    assert np.array_equal(num, expected.astype(np.float32))
    expected = ndimage.gaussian_filter(
        downscale_local_mean(weights.astype(np.float32), (k, k)), s, mode="reflect", truncate=3.0
    )
    assert np.array_equal(den, expected.astype(np.float32))


def test_out_must_fit() -> None:
    img = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="out must be a float32 array of shape"):
        enhance.gamma(img, 2.0, out=np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="weight must have shape"):
        enhance.unsharp(img, weight=np.ones((3, 3)))


def test_pipeline_in_place_equals_the_copying_run() -> None:
    """The whole enhanced recipe: the engine's in-place run gives the picture the
    copying run (``keep_stages``, every stage on a new picture) gives, bit for bit."""
    spec = SimulationSpec(
        n_exposures=4, oversample=1, filters=(Filter.BLUE, Filter.GREEN, Filter.RED), seed=3
    )
    sim = simulate_frame(JupiterScene(radius_deg=8.0, seed=3), spec)
    frame = RawFrame(sim.strip, from_website_json(sim.metadata), path=None)
    fast = ENHANCED.run(frame, keep_bands=False)
    slow = ENHANCED.run(frame, keep_stages=True, spin_fit=fast.fit)
    assert np.array_equal(fast.rgb, slow.rgb)
    assert np.array_equal(fast.alpha, slow.alpha)


@pytest.fixture(scope="module")
def composed_44c(shared_junocam):
    """44C00029 and its ``enhanced`` result up to compose (made once for the module)."""
    from junocam.decode import read_frame

    folder = shared_junocam / "raw" / "JNCE_2022229_44C00029_V01"
    frame = read_frame(sorted(folder.glob("*.png"))[0])
    return frame, ENHANCED.through("compose").run(frame, keep_bands=False)


def test_real_frame_in_place_equals_the_copying_stages(composed_44c) -> None:
    """On a real frame's composite (44C00029, ``enhanced`` up to compose), every colour
    stage in place gives the copying stage's picture, bit for bit."""
    frame, composed = composed_44c
    # the picture as the compose stage left it is not kept by the result: rebuild the
    # state from it (the colour stages read rgb, mask and target)
    state = State(rgb=composed.rgb.copy(), mask=composed.mask, target=_target(composed))
    ctx = Context(frame, None, [])
    for stage in COLOUR_STAGES:
        spec = STAGES[stage.name]
        reference = spec.run(state, stage.params, ctx)
        mine = State(**{**state.__dict__, "rgb": state.rgb.copy()})
        got = spec.run(mine, stage.params, Context(frame, None, [], in_place=True))
        assert np.array_equal(got.rgb, reference.rgb), stage.name
        state = reference


def _target(result) -> np.ndarray:
    from junocam.compose import target_weight

    return target_weight(result.rgb, result.mask)


def test_grey_result_is_one_channel_repeated_by_a_view() -> None:
    """A single-band frame's picture stays one channel to the end: the result's three
    channels are a read-only view of it, equal to the copying run's RGB picture."""
    spec = SimulationSpec(n_exposures=4, oversample=1, filters=(Filter.METHANE,), seed=5)
    sim = simulate_frame(JupiterScene(radius_deg=8.0, seed=5), spec)
    frame = RawFrame(sim.strip, from_website_json(sim.metadata), path=None)
    fast = ENHANCED.run(frame, keep_bands=False)
    slow = ENHANCED.run(frame, keep_stages=True, spin_fit=fast.fit)
    assert fast.rgb.shape == slow.rgb.shape and fast.rgb.shape[-1] == 3
    assert np.array_equal(fast.rgb, slow.rgb)
    assert not fast.rgb.flags.writeable
    assert fast.rgb.strides[-1] == 0  # no copies of the grey channel
    from junocam.output import encode_png, to_uint

    assert encode_png(to_uint(fast.rgb, 8), 3) == encode_png(to_uint(slow.rgb, 8), 3)


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 700),
    w=st.integers(1, 300),
    channels=st.sampled_from([0, 1, 3]),
    cover=st.floats(0.0, 1.0),
    levels=st.sampled_from([0, 3, 1000]),
    q=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_masked_percentile_is_numpys(
    h: int, w: int, channels: int, cover: float, levels: int, q: list[float], seed: int
) -> None:
    """rank.masked_percentile (stretch's statistics without the copy of the valid
    pixels) is np.percentile of the valid pixels bit for bit: ties (few levels),
    sparse and full masks, grey and RGB, up to 630,000 values (the bracketing path)."""
    from junocam import rank

    rng = np.random.default_rng(seed)
    shape = (h, w) if channels == 0 else (h, w, channels)
    values = rng.random(shape, dtype=np.float32)
    if levels:
        values = np.floor(values * levels).astype(np.float32)
    mask = rng.random((h, w)) < cover
    if not mask.any():
        mask[rng.integers(h), rng.integers(w)] = True
    got = rank.masked_percentile(values, mask, q)
    assert np.array_equal(got, np.percentile(values[mask], q))


def test_masked_percentile_against_a_sample_that_misses() -> None:
    """Values sorted along the rows (the sample sees few of some ranges): the
    bracket may miss, the result is still numpy's."""
    from junocam import rank

    values = np.sort(np.random.default_rng(3).random(600 * 400)).reshape(600, 400)
    values = values.astype(np.float32)
    mask = np.zeros((600, 400), bool)
    mask[::7] = True
    mask[:, 5] = True
    q = [0.1, 50.0, 99.9]
    assert np.array_equal(rank.masked_percentile(values, mask, q), np.percentile(values[mask], q))


def _old_sky_level_noise(lum: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """target_weight's statistics as they were: a copy of lum[mask] partitioned."""
    vals = lum[mask] if mask.any() else lum.ravel().copy()
    half = max(vals.size // 2, 1)
    if half < vals.size:
        vals.partition(half - 1)
    dark = vals[:half]
    level = float(np.median(dark, overwrite_input=True))
    np.subtract(dark, np.float32(level), out=dark)
    np.abs(dark, out=dark)
    return level, 1.4826 * float(np.median(dark, overwrite_input=True)) + 1e-3


@settings(max_examples=30, deadline=None)
@given(
    h=st.integers(1, 600),
    w=st.integers(1, 400),
    cover=st.sampled_from([0.0, 0.3, 1.0]),
    levels=st.sampled_from([0, 2, 50]),
    seed=st.integers(0, 2**16),
)
def test_sky_statistics_equal_the_copying_ones(
    h: int, w: int, cover: float, levels: int, seed: int
) -> None:
    """target_weight's sky level and noise (the darker half's median and deviation)
    from band-wise order statistics equal those of the partitioned copy, bit for
    bit: ties at the half's edge, an empty mask, up to 240,000 values."""
    from junocam.compose import _sky_level_noise

    rng = np.random.default_rng(seed)
    lum = rng.random((h, w), dtype=np.float32) ** 2
    if levels:
        lum = (np.floor(lum * levels) / levels).astype(np.float32)
    mask = rng.random((h, w)) < cover
    assert _sky_level_noise(lum, mask) == _old_sky_level_noise(lum, mask)


def test_target_weight_on_a_real_composite_is_unchanged(composed_44c) -> None:
    from junocam.compose import _sky_level_noise
    from junocam.enhance import luminance

    res = composed_44c[1]
    lum = luminance(res.rgb)
    assert _sky_level_noise(lum, res.mask) == _old_sky_level_noise(lum, res.mask)


def test_compose_releases_only_the_dict_it_is_given() -> None:
    """With release_bands the compose stage empties the state's band dict once it has
    composed it (the engine gives it a dict of its own); without, nothing changes,
    and the composite is the same either way."""
    ctx = _ctx(False)
    compose = STAGES["compose"]
    params = next(s.params for s in ENHANCED.stages if s.name == "compose")
    rng = np.random.default_rng(0)
    bands = {f: rng.random((40, 30), dtype=np.float32) for f in (Filter.RED, Filter.GREEN)}
    masks = {f: np.ones((40, 30), bool) for f in bands}
    kept = compose.run(State(bands=bands, masks=masks), params, ctx)
    assert len(bands) == 2 and kept.bands == bands
    mine = dict(bands)
    freed = compose.run(
        State(bands=mine, masks=masks), params, Context(ctx.frame, None, [], release_bands=True)
    )
    assert mine == {} and len(bands) == 2
    assert np.array_equal(freed.rgb, kept.rgb) and np.array_equal(freed.alpha, kept.alpha)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 600), w=st.integers(1, 50), ramp=st.floats(0.0, 0.08), seed=st.integers())
def test_packed_opacity_gives_the_same_values(h: int, w: int, ramp: float, seed: int) -> None:
    """The engine holds the opacity from the compose stage to the fade as the mask and
    the pixels where it differs from it: unpacked, the same float32 values; the
    sky's mask, mask & (alpha >= 1), the same; too many such pixels: not packed."""
    from junocam.pipeline.engine import _PackedAlpha

    rng = np.random.default_rng(seed % 2**32)
    mask = rng.random((h, w)) < 0.7
    alpha = mask.astype(np.float32)
    edge = rng.random((h, w)) < ramp
    alpha[edge] = rng.choice(np.array([0.0, 0.25, 0.999, 1.0, np.nan], np.float32), edge.sum())
    packed = _PackedAlpha.of(alpha, mask)
    differing = int(np.count_nonzero(alpha != mask))
    if differing > _PackedAlpha.LIMIT * alpha.size:
        assert packed is None
        return
    assert packed is not None and packed.index.size == differing
    assert np.array_equal(packed.unpack(mask), alpha, equal_nan=True)
    assert np.array_equal(packed.opaque(mask), mask & (alpha >= 1.0))


def test_masked_percentile_with_a_sky_of_one_value() -> None:
    """Half the values one number (a clipped sky): the ties are counted, not kept,
    and the percentiles are still numpy's."""
    from junocam import rank

    rng = np.random.default_rng(8)
    img = rng.random((700, 300, 3), dtype=np.float32)
    img[:350] = 0.0
    img[600:] = 1.0
    mask = np.ones((700, 300), bool)
    mask[::5, ::3] = False
    for q in ([0.5, 99.7], [50.0], [0.1, 60.0, 100.0], [0.0]):
        assert np.array_equal(rank.masked_percentile(img, mask, q), np.percentile(img[mask], q))
