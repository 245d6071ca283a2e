"""The fast paths of issue 6 give the results of the straightforward ones.

Each optimisation keeps a slow, obviously-correct oracle here (whole-array scipy rank
filters, per-framelet inverse maps) and checks the fast code against it: bit for bit
where the fast path selects the same elements, within float32 tolerance otherwise.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import fft, ndimage

from junocam import compose as compose_module
from junocam.calibrate import (
    _median_along_samples,
    _median_filter_lines_samples,
    correct_blemishes,
    remove_fixed_pattern,
    repair_hot_pixels,
)
from junocam.camera import CameraModel
from junocam.compose import (
    _cross_power,
    _fast_shape,
    _phase_offset,
    _phase_offset_near,
    _plausible,
    _surface_columns,
)
from junocam.framelets import Framelets
from junocam.metadata import Filter
from junocam.spin import SpinModel, rotation_matrix
from junocam.stitch import (
    CylinderGrid,
    FrameletSample,
    PerspectiveGrid,
    _rotated,
    _shares_spin_axis,
    _shifted_map_footprints,
    framelet_footprints,
    stitch,
)

# the package exports a function of the same name
stitch_module = sys.modules["junocam.stitch"]


def _hot_pixels_oracle(
    x: np.ndarray, threshold: float = 8.0, size: int = 3, shot_noise: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """The documented rule evaluated everywhere with full median filters."""
    med = ndimage.median_filter(x, size=(1, size, size), mode="mirror")
    resid = x - med
    absr = np.abs(resid)
    local = ndimage.median_filter(absr, size=(1, 2 * size + 1, 2 * size + 1), mode="mirror")
    gmad = np.median(absr.reshape(absr.shape[0], -1), axis=1)[:, None, None]
    sigma = 1.4826 * np.maximum(local, 0.5 * gmad)
    sigma = np.maximum(
        np.maximum(sigma, np.float32(shot_noise) * np.sqrt(np.maximum(med, 1.0))), np.float32(0.5)
    )
    limit = np.float32(threshold) * sigma
    ring = np.ones((1, 3, 3), dtype=bool)
    ring[0, 1, 1] = False
    up = x - ndimage.maximum_filter(x, footprint=ring, mode="mirror")
    down = ndimage.minimum_filter(x, footprint=ring, mode="mirror") - x
    bad = ((resid > limit) & (up > limit)) | ((-resid > limit) & (down > limit))
    return np.where(bad, med, x).astype(np.float32), bad


def _noisy_stack(seed: int, shape: tuple[int, int, int] = (3, 64, 90)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.poisson(200, shape).astype(np.float32)
    x[rng.random(shape) < 0.01] *= 5  # hot
    x[rng.random(shape) < 0.005] = 0  # dead
    x[:, 20:30, 40:60] += 800  # an edge that must stay
    return x


@pytest.mark.parametrize("shape", [(2, 5, 7), (3, 64, 90), (1, 3, 3)])
@pytest.mark.parametrize("quantise", [False, True])
def test_median3x3_network_is_the_rank_filter(shape: tuple[int, int, int], quantise: bool):
    x = np.random.default_rng(0).normal(100, 3, shape).astype(np.float32)
    if quantise:  # many ties
        x = np.round(x / 3).astype(np.float32)
    want = ndimage.median_filter(x, size=(1, 3, 3), mode="mirror")
    assert np.array_equal(_median_filter_lines_samples(x, 3), want)


@pytest.mark.parametrize(("threshold", "size"), [(8.0, 3), (3.0, 3), (5.0, 5), (10.0, 7)])
def test_hot_pixels_equal_the_full_filter_rule(threshold: float, size: int):
    x = _noisy_stack(int(threshold) + size)
    want, want_mask = _hot_pixels_oracle(x, threshold, size)
    got, mask = repair_hot_pixels(x, threshold, size, return_mask=True)
    assert mask.sum() > 50
    assert np.array_equal(mask, want_mask)
    assert np.array_equal(got, want)


def test_hot_pixels_with_nan_equal_the_full_filter_rule():
    x = _noisy_stack(3)
    x[0, 5, 5] = np.nan
    want, want_mask = _hot_pixels_oracle(x)
    got, mask = repair_hot_pixels(x, return_mask=True)
    assert np.array_equal(mask, want_mask)
    assert np.array_equal(got, want, equal_nan=True)


# --------------------------------------------------------------- shared inverse maps


def _ramp_framelets(n_exposures: int, along: str) -> Framelets:
    """Framelets whose value is their own line (or sample) coordinate: bilinear
    resampling then returns exactly the coordinate each grid pixel was mapped to."""
    lines = np.arange(128, dtype=np.float32)[:, None] * np.ones((1, 1648), np.float32)
    samples = np.ones((128, 1), np.float32) * np.arange(1648, dtype=np.float32)[None, :]
    one = lines if along == "line" else samples
    return Framelets(np.broadcast_to(one, (n_exposures, 3, 128, 1648)).copy(), RGB)


RGB = (Filter.BLUE, Filter.GREEN, Filter.RED)


@pytest.mark.parametrize("along", ["line", "sample"])
def test_shared_band_map_equals_per_framelet_maps(along: str):
    fr = _ramp_framelets(5, along)
    cam = replace(CameraModel(), band_scale=(1.0, 1.0004, 1.0, 0.9999))  # a fitted camera
    spin = SpinModel(0.0777, tilt_y=-0.004, tilt_z=-0.003, reference_exposure=2.0)
    grid = CylinderGrid.covering(fr, cam, spin)
    assert _shares_spin_axis(grid, spin)
    slow = {(s.exposure, s.band): s for s in framelet_footprints(fr, cam, spin, grid)}
    fast = {
        (s.exposure, s.band): s
        for s in _shifted_map_footprints(fr, cam, spin, grid, RGB, 1, 8.0, 0)
    }
    assert set(fast) == set(slow) and len(fast) == 15
    worst = 0.0
    for key, f in fast.items():
        s = slow[key]
        r0, r1 = max(f.rows.start, s.rows.start), min(f.rows.stop, s.rows.stop)
        c0, c1 = max(f.cols.start, s.cols.start), min(f.cols.stop, s.cols.stop)

        def cut(x: FrameletSample, r0=r0, r1=r1, c0=c0, c1=c1):
            rs = slice(r0 - x.rows.start, r1 - x.rows.start)
            cs = slice(c0 - x.cols.start, c1 - x.cols.start)
            return x.valid[rs, cs], x.values[rs, cs]

        (vf, xf), (vs, xs) = cut(f), cut(s)
        # every pixel the per-framelet map covers is inside the shared map's box
        assert vf.sum() == s.valid.sum() or abs(int(vf.sum()) - int(s.valid.sum())) <= 2
        both = vf & vs
        worst = max(worst, float(np.abs(xf[both] - xs[both]).max()))
    assert worst < 1e-3  # pixels (the coordinates themselves)


def test_stitch_with_shared_maps_equals_per_framelet_stitch(monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(4)
    smooth = ndimage.gaussian_filter(rng.normal(0, 1, (4, 3, 128, 1648)), (0, 0, 2, 2))
    fr = Framelets((1000 + 300 * smooth).astype(np.float32), RGB)
    spin = SpinModel(0.0777, tilt_y=-0.004, tilt_z=-0.003, reference_exposure=1.5)
    grid = CylinderGrid.covering(fr, CameraModel(), spin)
    fast = stitch(fr, CameraModel(), spin, grid, order=3)
    monkeypatch.setattr(stitch_module, "_shares_spin_axis", lambda g, s: False)
    slow = stitch(fr, CameraModel(), spin, grid, order=3)
    for b in RGB:
        both = fast.masks[b] & slow.masks[b]
        assert (fast.masks[b] ^ slow.masks[b]).sum() <= 0.0001 * both.sum()
        # 1e-4 px of map difference times the scene's gradients (a few DN per px)
        np.testing.assert_allclose(fast.bands[b][both], slow.bands[b][both], rtol=0, atol=0.05)


# ------------------------------------------------------------ naive band offsets


@pytest.mark.parametrize("shape", [(768, 200), (769, 201), (1, 300)])
@pytest.mark.parametrize("shift", [(0, 0), (37, -5), (-120, 11)])
def test_phase_offset_matches_skimage(shape: tuple[int, int], shift: tuple[int, int]):
    from skimage.registration import phase_cross_correlation

    rng = np.random.default_rng(sum(shape))
    a = ndimage.gaussian_filter(rng.normal(0, 1, shape), 2).astype(np.float32)
    b = (np.roll(a, shift, axis=(0, 1)) * 1.7 + 3).astype(np.float32)
    want, _, _ = phase_cross_correlation(a - a.mean(), b - b.mean())
    h, w = shape
    dy, dx = (int(round(float(s))) for s in want)
    want_t = (dy - h if dy > h // 2 else dy, dx - w if dx > w // 2 else dx)
    assert _phase_offset(a, b) == want_t


def _scene_pair(seed: int, shape: tuple[int, int], shift: tuple[int, int], noise: float):
    """A reference band and a band ``shift`` (line, sample) away in one smooth scene,
    as the bands of one frame are (each with its own noise)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    pad = 2 * max(abs(shift[0]), abs(shift[1])) + 8
    scene = ndimage.gaussian_filter(rng.normal(0, 1, (h + 2 * pad, w + 2 * pad)), 1.5)
    ref = scene[pad : pad + h, pad : pad + w]
    mov = scene[pad + shift[0] : pad + shift[0] + h, pad + shift[1] : pad + shift[1] + w]
    out = [(x + noise * rng.normal(0, x.std(), x.shape)).astype(np.float32) for x in (ref, mov)]
    return out[0], out[1]


def _not_the_whole_surface(*args: object) -> None:
    raise AssertionError("the whole correlation surface was computed")


def _decided(measured: tuple[int, int] | None, nominal: int) -> tuple[int, int] | None:
    return measured if measured is not None and _plausible(measured, nominal) else None


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**16),
    h=st.integers(300, 420),
    w=st.integers(90, 170),
    nominal=st.integers(30, 60),
    sign=st.sampled_from([-1, 1]),
    ddy=st.integers(-30, 30),
    dx=st.integers(-30, 30),
    noise=st.sampled_from([0.0, 0.05, 0.3, 3.0]),
)
def test_windowed_phase_offset_decides_as_the_whole_surface(
    seed, h, w, nominal, sign, ddy, dx, noise
):
    # shifts inside the plausible window, in its margin and beyond it, and unrelated
    # images (noise 3): the offset used (measured or the nominal fallback) is the
    # whole surface's. The nominal offset is away from 0, where the frame edges
    # correlate, as the bands' are (+-172 lines).
    nominal *= sign
    dy = nominal + ddy
    ref, mov = _scene_pair(seed, (h, w), (dy, dx), noise)
    want = _decided(_phase_offset(ref, mov), nominal)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compose_module, "_WINDOW_MIN_VALUES", 0)  # the windowed path always
        mp.setattr(compose_module, "_phase_offset", _not_the_whole_surface)
        got = _decided(_phase_offset_near(ref, mov, nominal), nominal)
    assert got == want
    if abs(ddy) <= 16 and abs(dx) <= 16 and noise < 0.3:
        assert got == (dy, dx)  # and it is the true shift


def test_windowed_phase_offset_falls_back_like_the_whole_surface(monkeypatch):
    monkeypatch.setattr(compose_module, "_WINDOW_MIN_VALUES", 0)
    whole = _phase_offset
    monkeypatch.setattr(compose_module, "_phase_offset", _not_the_whole_surface)
    ref, _ = _scene_pair(5, (400, 120), (0, 0), 0.0)
    # the same image: the global peak is at 0, far from the nominal 40
    assert _phase_offset_near(ref, ref.copy(), 40) == (0, 0)
    assert _phase_offset_near(ref, np.full_like(ref, 3.0), 40) is None  # flat
    other, _ = _scene_pair(6, (400, 120), (0, 0), 0.0)  # unrelated: no plausible peak
    assert _decided(_phase_offset_near(ref, other, 40), 40) is None
    assert _decided(whole(ref, other), 40) is None


@pytest.mark.parametrize("shape", [(64, 40), (63, 41), (50, 30), (45, 33)])
def test_surface_columns_are_the_inverse_transform_there(shape: tuple[int, int]):
    rng = np.random.default_rng(shape[0])
    a, b = (rng.normal(0, 1, shape).astype(np.float32) for _ in range(2))
    cross = _cross_power(a, b)
    full = fft.irfft2(cross, s=_fast_shape(shape))
    cols = np.arange(-7, 9)
    got = _surface_columns(cross, full.shape, cols)
    np.testing.assert_allclose(got, full[:, cols % full.shape[1]], rtol=0, atol=1e-6)


def test_band_offsets_of_the_real_frames_are_the_whole_surfaces(shared_junocam, monkeypatch):
    from junocam.companding import decompand
    from junocam.compose import naive_band_images, naive_band_offsets
    from junocam.decode import read_frame
    from junocam.framelets import split

    seen = 0
    for png in sorted((shared_junocam / "raw").glob("*/*-raw.png")):
        frame = read_frame(png)
        if len(frame.meta.filters) < 2:
            continue
        lin = decompand(frame.pixels, frame.meta.companding)
        bands = naive_band_images(split(lin, frame.meta.filters), photoactive=True)
        assert next(iter(bands.values())).size >= compose_module._WINDOW_MIN_VALUES
        delay = frame.meta.interframe_delay
        fast = naive_band_offsets(bands, interframe_delay=delay)
        with pytest.MonkeyPatch.context() as mp:  # every band on the whole surface
            mp.setattr(compose_module, "_WINDOW_MIN_VALUES", 1 << 62)
            exact = naive_band_offsets(bands, interframe_delay=delay)
        assert fast == exact, png.name
        seen += 1
    assert seen >= 4


@pytest.mark.parametrize("width", [3, 5, 7, 9, 15])
@pytest.mark.parametrize("shape", [(3, 16, 200), (2, 4, 9), (1, 3, 7)])
def test_median_along_samples_is_the_rank_filter(width: int, shape: tuple[int, int, int]):
    rng = np.random.default_rng(width)
    x = np.round(rng.normal(100, 5, shape)).astype(np.float32)  # ties included
    want = ndimage.median_filter(x, size=(1, 1, width), mode="nearest")
    assert np.array_equal(_median_along_samples(x, width), want)
    x[0, 1, 2] = np.nan  # non-finite data take the rank filter itself
    want = ndimage.median_filter(x, size=(1, 1, width), mode="nearest")
    assert np.array_equal(_median_along_samples(x, width), want, equal_nan=True)


def test_defect_stages_equal_their_rank_filter_rule(monkeypatch: pytest.MonkeyPatch):
    stack = _noisy_stack(11, (5, 40, 120)) + 400.0
    stack[:, 10:14, 30] += 200.0  # a hot streak
    stack[:, 20:23, 60:63] *= 0.7  # a dust shadow
    fast = correct_blemishes(remove_fixed_pattern(stack, width=9), width=9)
    monkeypatch.setattr(
        "junocam.calibrate._median_along_samples",
        lambda x, w: ndimage.median_filter(x, size=(1, 1, w), mode="nearest"),
    )
    slow = correct_blemishes(remove_fixed_pattern(stack, width=9), width=9)
    assert np.array_equal(fast, slow)


def test_rotated_grid_rays_are_rotated_rays():
    rot = rotation_matrix([-1.0, 0.002, -0.002], 0.5)
    spin = SpinModel(0.078)
    grids = [
        CylinderGrid.for_spin(spin, (60, 80), 30.0, 40.0, 1480.0),
        PerspectiveGrid.looking_at([0.1, 0.2, 1.0], 20.0, (50, 60)),
    ]
    for grid in grids:
        whole = (slice(0, None), slice(0, None))
        np.testing.assert_allclose(
            _rotated(grid, rot).rays(*whole), grid.rays(*whole) @ rot, rtol=0, atol=1e-14
        )


# ------------------------------------------------------------ colour conversions


@pytest.mark.parametrize("stage", ["saturation", "clahe"])
def test_colour_stages_by_row_chunks_equal_whole_image(stage: str, monkeypatch: pytest.MonkeyPatch):
    from junocam import enhance

    rng = np.random.default_rng(9)
    img = ndimage.gaussian_filter(rng.random((70, 50, 3)), (3, 3, 0)).astype(np.float32)
    run = {
        "saturation": lambda x: enhance.saturation(x, 1.4, 0.3),
        "clahe": lambda x: enhance.clahe(x, 0.02, amount=0.7),
    }[stage]
    whole = run(img)
    monkeypatch.setattr(enhance, "_CHUNK_ROWS", 16)  # 70 rows: five chunks, one short
    assert np.array_equal(run(img), whole)
    assert not np.array_equal(whole, img)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 60), st.integers(0, 2**32 - 1))
def test_bilinear_is_map_coordinates_order_one(h: int, w: int, seed: int):
    from junocam.stitch import bilinear

    rng = np.random.default_rng(seed)
    img = rng.uniform(0, 4000, (h, w)).astype(np.float32)
    line = rng.uniform(-2, h + 1, 200)
    sample = rng.uniform(-2, w + 1, 200)
    want = ndimage.map_coordinates(img, np.stack([line, sample]), order=1, mode="nearest")
    np.testing.assert_allclose(bilinear(img, line, sample), want, rtol=2e-6, atol=1e-3)


# ------------------------------------------------- issue 18: streaming memory


@pytest.mark.parametrize("chunk", [1, 3000])
def test_stack_stages_by_pieces_equal_the_whole_stack(chunk: int, monkeypatch: pytest.MonkeyPatch):
    """hot_pixels by exposures, fixed_pattern and blemishes by lines: the same values."""
    stack = _noisy_stack(21, (7, 40, 120)) + 400.0
    stack[:, 10:14, 30] += 200.0  # a hot streak
    stack[:, 20:23, 60:63] *= 0.7  # a dust shadow
    stack[:, 30, 90] *= 0.1  # a dead pixel
    runs = {
        "hot": lambda: repair_hot_pixels(stack, return_mask=True),
        "fixed5": lambda: remove_fixed_pattern(stack, return_pattern=True),
        "fixed9": lambda: remove_fixed_pattern(stack, width=9, return_pattern=True),
        "blemishes": lambda: correct_blemishes(stack, return_gain=True),
        "blemishes5": lambda: correct_blemishes(stack, width=5, return_gain=True),
    }
    whole = {k: run() for k, run in runs.items()}
    monkeypatch.setattr("junocam.calibrate._CHUNK_VALUES", chunk)
    for k, run in runs.items():
        for got, want in zip(run(), whole[k], strict=True):
            assert np.array_equal(got, want), k


def test_selection_networks_are_numpy_medians():
    from junocam.calibrate import _median_over_exposures, _nanmedian_over_exposures

    rng = np.random.default_rng(4)
    for n in range(1, 10):
        x = np.round(rng.normal(10, 3, (n, 500))).astype(np.float32)  # ties included
        assert np.array_equal(_median_over_exposures(x), np.median(x, axis=0))
        x[rng.random(x.shape) < 0.3] = np.nan
        x[:, 0] = np.nan  # an empty column stays NaN
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            want = np.nanmedian(x, axis=0)
        assert np.array_equal(_nanmedian_over_exposures(x), want, equal_nan=True)


@pytest.mark.parametrize(
    ("shape", "kernel"), [((150, 90), None), ((150, 90), 16), ((37, 200), 8), ((64, 64), 9)]
)
@pytest.mark.parametrize("tiles", [1, 2])
def test_clahe_by_bands_is_equalize_adapthist(
    shape: tuple[int, int], kernel: int | None, tiles: int, monkeypatch: pytest.MonkeyPatch
):
    from skimage.exposure import equalize_adapthist

    from junocam import enhance

    rng = np.random.default_rng(shape[0] + tiles)
    light = ndimage.gaussian_filter(rng.random(shape), 2).astype(np.float32)
    light = (light - light.min()) / (light.max() - light.min())
    light[: shape[0] // 4] *= 0.2
    want = equalize_adapthist(light, kernel_size=kernel, clip_limit=0.02)
    monkeypatch.setattr(enhance, "_CLAHE_TILES_PER_BAND", tiles)
    got = enhance._equalize_by_bands(light, kernel, 0.02)
    assert got.dtype == np.float32
    assert np.array_equal(got, want)
