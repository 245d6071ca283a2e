"""The overlap matcher (junocam.matching): correspondences in detector coordinates.

What the spin fit relies on: under the true model every block's residual shift is
zero to a few hundredths of a pixel; under a wrong model the measured
correspondences are still the true ones (so one solve on them recovers the model);
the 4 x 4 level starts several pixels off; saturated areas are never matched; and
thinning a block costs precision only as the square root of the points.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import grey_texture
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from junocam.camera import CameraModel
from junocam.companding import decompand
from junocam.framelets import split
from junocam.matching import match_blocks, median_3x5, overlapping_pairs, prepare
from junocam.metadata import Filter
from junocam.simulate import ImageScene, SimulationSpec, simulate_frame
from junocam.spin import SpinModel
from junocam.spinfit import _match_offsets, _Matches
from junocam.stitch import CylinderGrid


@pytest.fixture(scope="module")
def grey():
    spec = SimulationSpec(
        n_exposures=5, oversample=1, hot_pixels=0, seed=3, band_gain=(1.0, 1.0, 1.0, 1.0)
    )
    sim = simulate_frame(ImageScene(grey_texture(1400), fov_deg=80.0), spec)
    fr = split(decompand(sim.strip, "SQROOT"), spec.filters)
    return fr, spec.true_spin().with_reference(2.0)


def _as_matches(m) -> _Matches:
    return _Matches(m.exposure, m.band, m.sample, m.line, m.weight)


def test_true_model_leaves_hundredths_of_a_pixel(grey) -> None:
    fr, true = grey
    m = match_blocks(prepare(fr), CameraModel(), true)
    assert len(m) > 60
    assert m.cross_band.sum() > 20 and (~m.cross_band).sum() > 20
    rms = np.sqrt(np.mean(m.shift**2, axis=0))
    assert np.all(rms < 0.05), rms
    assert np.all(np.abs(m.shift.mean(axis=0)) < 0.01)
    assert np.median(m.score) > 0.9


def test_correspondences_do_not_depend_on_the_measuring_model(grey) -> None:
    fr, true = grey
    wrong = replace(true, turn_per_exposure=true.turn_per_exposure * 1.004, tilt_z=0.001)
    prep = prepare(fr)
    m = match_blocks(prep, CameraModel(), wrong)
    grid = CylinderGrid.covering(fr, CameraModel(), true, margin=24)
    # the wrong model leaves shifts of up to a couple of pixels to measure ...
    assert np.max(np.abs(m.shift)) > 0.8
    # ... and what was measured agrees with the true model to hundredths of a pixel
    left = _match_offsets(_as_matches(m), true, CameraModel(), grid)
    assert np.sqrt(np.mean(left**2)) < 0.06


def test_coarse_level_starts_pixels_off(grey) -> None:
    fr, true = grey
    wrong = replace(true, turn_per_exposure=true.turn_per_exposure * 1.02)  # ~2.3 px/exposure
    prep = prepare(fr)
    m = match_blocks(prep, CameraModel(), wrong, level=4, min_rows=3, max_points=256)
    assert len(m) > 30
    assert np.max(np.abs(m.shift)) > 4.0
    grid = CylinderGrid.covering(fr, CameraModel(), true, margin=24)
    left = _match_offsets(_as_matches(m), true, CameraModel(), grid)
    # a start, not a result: within half a pixel is what the fine level needs
    assert np.median(np.abs(left)) < 0.5


def test_thinning_costs_precision_as_the_square_root(grey) -> None:
    fr, true = grey
    prep = prepare(fr)
    full = match_blocks(prep, CameraModel(), true, max_points=4096)
    thin = match_blocks(prep, CameraModel(), true, max_points=1024)
    both = full.keys() & thin.keys()
    assert len(both) > 40
    wf = {k: w for k, w in zip(_keys(full), full.weight, strict=True) if k in both}
    wt = {k: w for k, w in zip(_keys(thin), thin.weight, strict=True) if k in both}
    ratio = np.median([wf[k] / wt[k] for k in both], axis=0)
    # four times fewer points: about four times the variance (blocks are often smaller)
    assert np.all((ratio > 1.5) & (ratio < 6.0)), ratio


def _keys(m) -> list[tuple[int, int, int, int, int]]:
    return [
        (int(e[0]), int(b[0]), int(e[1]), int(b[1]), int(k))
        for e, b, k in zip(m.exposure, m.band, m.block, strict=True)
    ]


def test_saturated_areas_are_never_matched(grey) -> None:
    fr, true = grey
    data = np.array(fr.data)
    data[:, :, :, 700:1000] = 5000.0  # a blown-out band across every framelet
    sat = split(data.reshape(-1, data.shape[-1]), list(fr.filters))
    m = match_blocks(prepare(sat, saturation=4000.0), CameraModel(), true)
    assert len(m) > 20
    assert np.all(np.isfinite(m.shift))
    # no block centre sits in or next to the blown-out columns
    assert not np.any((m.sample > 690) & (m.sample < 1010))
    assert np.sqrt(np.mean(m.shift**2)) < 0.06


def test_pairs_are_later_exposures_of_overlapping_stripes() -> None:
    fr = split(np.ones((6 * 384, 1648), np.float32), ["BLUE", "GREEN", "RED"])
    pairs = overlapping_pairs(prepare(fr, levels=(4,)), CameraModel(), SpinModel.nominal(0.372))
    assert pairs
    assert all(i < j <= i + 4 for i, _, j, _ in pairs)
    green = list(Filter).index(Filter.GREEN)
    # a band always overlaps itself one exposure on (the same stripe, a turn later)
    assert (0, green, 1, green) in pairs


def test_black_frame_gives_no_matches() -> None:
    fr = split(np.full((4 * 384, 1648), 3.0, np.float32), ["BLUE", "GREEN", "RED"])
    assert len(match_blocks(prepare(fr), CameraModel(), SpinModel.nominal(0.372))) == 0


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.uint16,
        st.tuples(st.integers(1, 9), st.integers(1, 12)),
        elements=st.integers(0, 4000),
    )
)
def test_median_is_the_separable_rank_filter(x: np.ndarray) -> None:
    want = ndimage.median_filter(
        ndimage.median_filter(x, size=(3, 1), mode="nearest"), size=(1, 5), mode="nearest"
    )
    assert np.array_equal(median_3x5(x), want)


def test_median_removes_hot_pixels_and_streaks() -> None:
    rng = np.random.default_rng(1)
    x = ndimage.gaussian_filter(rng.random((64, 200)), 3).astype(np.float32)
    dirty = x.copy()
    dirty[10, 50] += 5.0  # a hot pixel
    dirty[:, 120:122] += 3.0  # a TDI streak two samples wide
    clean = median_3x5(dirty)
    # of the hot pixel (5.0) and the streak (3.0) at most the scene's own variation
    # across the window is left (its order statistics shift by one place)
    diff = np.abs(clean - median_3x5(x))
    assert diff[10, 50] < 0.01
    assert np.max(diff) < 0.05


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 12)),
        elements=st.floats(0, 4000, width=32),
    )
)
def test_binomial_is_the_edge_repeating_121_filter(x: np.ndarray) -> None:
    from junocam.matching import _binomial

    w = np.array([0.25, 0.5, 0.25])
    want = ndimage.correlate1d(x.astype(np.float64), w, axis=-2, mode="nearest")
    want = ndimage.correlate1d(want, w, axis=-1, mode="nearest")
    got = _binomial(x)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-3)


def test_prepare_in_chunks_is_prepare_at_once(monkeypatch) -> None:
    import junocam.matching as matching

    rng = np.random.default_rng(5)
    data = ndimage.gaussian_filter(rng.uniform(0, 2000, (5 * 2 * 62, 203)), 1.5)
    data = data.astype(np.float32)
    data[7, 30] = np.nan  # exposure 0
    data[130, 100] = np.inf  # exposure 1
    data[400:404, 50:60] = 5000.0  # saturated, exposure 3
    data[500, 10] = -50.0  # negative (dark-subtracted noise)
    fr = split(data, ["RED", "GREEN"], 62)
    monkeypatch.setattr(matching, "_CHUNK_PIXELS", 1)  # one exposure at a time
    parts = prepare(fr, saturation=4000.0)
    monkeypatch.setattr(matching, "_CHUNK_PIXELS", 10**9)
    whole = prepare(fr, saturation=4000.0)
    assert parts.noise == whole.noise
    for f in (1, 2, 4):
        a, b = parts.levels[f], whole.levels[f]
        assert a.shape == b.shape == (62 // f, 203 // f)
        assert np.array_equal(a.flat, b.flat) and np.isfinite(a.flat).all()
        assert a.bad is not None and b.bad is not None
        assert np.array_equal(a.bad, b.bad) and np.array_equal(a.wide_bad, b.wide_bad)
        # unusable pixels (and only framelets with some) are masked at every level
        assert set(np.flatnonzero(a.bad.any(axis=(1, 2)))) == {0, 2, 6}
    bad1 = parts.levels[1].bad.reshape(5, 2, 62, 203)
    assert bad1[0, 0, 7, 30] and bad1[1, 0, 6, 100] and bad1[3, 0, 28:32, 50:60].all()


def test_blocks_of_one_pair_kind_share_their_geometry(grey) -> None:
    # the spin turns each exposure by the same angle: pairs of one kind (exposure
    # gap, bands) are matched on shared lattices, and measuring them together gives
    # what measuring each pair alone gives
    fr, true = grey
    prep = prepare(fr, levels=(4,))
    pairs = overlapping_pairs(prep, CameraModel(), true)
    green = list(Filter).index(Filter.GREEN)
    some = [p for p in pairs if p[1] == p[3] == green][:3] + [
        p for p in pairs if p[1] != p[3] and p[2] - p[0] == 1
    ][:1]
    assert len(some) == 4
    together = match_blocks(prep, CameraModel(), true, level=4, min_rows=3, pairs=some)
    alone = [match_blocks(prep, CameraModel(), true, level=4, min_rows=3, pairs=[p]) for p in some]
    assert len(together) == sum(len(m) for m in alone) > 4
    for name in ("sample", "line", "shift", "weight"):
        want = np.concatenate([getattr(m, name) for m in alone])
        np.testing.assert_allclose(getattr(together, name), want, rtol=1e-9, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 20),
    st.integers(60, 200),
    st.integers(0, 2**32 - 1),
)
def test_noise_from_the_sampled_differences_only(
    n_exp: int, n_lines: int, n_samples: int, seed: int
) -> None:
    # the estimate computes only the differences it samples: the same numbers as
    # sampling the differences of every fourth line's square roots
    from junocam.matching import _ROOT_SCALE, _noise_sigma

    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 300.0, (n_exp, n_lines, n_samples)).astype(np.float32)
    x[rng.random(x.shape) < 0.01] = np.nan
    root = np.sqrt(np.maximum(np.where(np.isfinite(x), x, 0.0), 0.0)) * _ROOT_SCALE
    d = np.diff(root[:, ::4, 40:-40], axis=-1).ravel()
    d = d[:: max(1, d.size // 250_000)]
    if d.size == 0:
        want = 1.0
    else:
        mad = float(np.median(np.abs(d - np.median(d))))
        if mad == 0.0:
            mad = float(np.mean(np.abs(d))) * 0.8
        want = max(mad / 0.6745 / np.sqrt(2.0), 1e-3)
    assert _noise_sigma(x) == pytest.approx(want, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.bool_, st.tuples(st.integers(1, 30), st.integers(1, 40)), elements=st.booleans()),
    st.sampled_from([3, 5, 7]),
    st.floats(0.0, 1.0),
)
def test_grow_is_the_maximum_filter(mask: np.ndarray, size: int, keep: float) -> None:
    from junocam.matching import _grow

    # sparse masks too (a saturated limb): thin the random mask to a fraction
    rng = np.random.default_rng(mask.size)
    mask = mask & (rng.random(mask.shape) < keep)
    want = ndimage.maximum_filter(mask.view(np.uint8), size=size) > 0
    assert np.array_equal(_grow(mask, size), want)
