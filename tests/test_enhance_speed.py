"""The shortcuts of the colour stages (issue 18) give the straightforward results."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from junocam import enhance


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(2, 20), st.integers(0, 2**32 - 1))
def test_upsample_linear_is_skimage_resize(n0: int, n1: int, k: int, seed: int):
    from skimage.transform import resize

    rng = np.random.default_rng(seed)
    a = rng.random((n0, n1)).astype(np.float32)
    h = int(rng.integers(max(1, (n0 - 1) * k + 1), n0 * k + 1))
    w = int(rng.integers(max(1, (n1 - 1) * k + 1), n1 * k + 1))
    want = resize(a, (n0 * k, n1 * k), order=1, mode="edge", anti_aliasing=False)[:h, :w]
    got = enhance._upsample_linear(a, k, (h, w))
    assert got.dtype == np.float32 and got.shape == (h, w)
    np.testing.assert_allclose(got, want, rtol=0, atol=3e-7)


@pytest.mark.parametrize("shape", [(300, 7, 3), (5, 9), (600, 40, 3)])
def test_apply_per_pixel_is_broadcasting(shape: tuple[int, ...], monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(len(shape))
    img = rng.random(shape).astype(np.float32)
    gain = rng.random(shape[:2]).astype(np.float32)
    mask = rng.random(shape[:2]) < 0.6
    g = gain if img.ndim == 2 else gain[..., None]
    monkeypatch.setattr(enhance, "_CHUNK_ROWS", 64)  # several bands of rows
    assert np.array_equal(enhance.apply_per_pixel(img.copy(), gain), img * g)
    want = img.copy()
    want[~mask] = 0.0

    def zero(a: np.ndarray, keep: np.ndarray, out: np.ndarray) -> None:
        np.copyto(out, np.float32(0.0), where=~keep)

    assert np.array_equal(enhance.apply_per_pixel(img.copy(), mask, zero), want)
    # a strided view is changed in place too (by broadcasting)
    big = np.zeros((*shape[:2], 6) if img.ndim == 3 else (shape[0], 2 * shape[1]), np.float32)
    view = big[..., ::2]
    view[...] = img
    enhance.apply_per_pixel(view, gain)
    assert np.array_equal(view, img * g)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 120),
    st.integers(2, 120),
    st.integers(2, 40),
    st.integers(2, 40),
    st.sampled_from([0.0, 0.008, 0.03, 1.0]),
    st.integers(0, 2**32 - 1),
)
def test_clahe_core_is_skimages(h: int, w: int, kr: int, kc: int, clip: float, seed: int):
    from scipy import ndimage
    from skimage.exposure._adapthist import NR_OF_GRAY, _clahe, clip_histogram, map_histogram

    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((h, w)), 1.5)
    img = np.round((img - img.min()) / max(np.ptp(img), 1e-12) * (NR_OF_GRAY - 1))
    img = img.astype(np.uint16)
    want = _clahe(img, (kr, kc), clip, 256)
    got = enhance._clahe_2d(img, (kr, kc), clip, 256, NR_OF_GRAY, clip_histogram, map_histogram)
    assert got.dtype == want.dtype and np.array_equal(got, want)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_lab_shortcuts_are_skimage_color(h: int, w: int, seed: int):
    """L* bit for bit (CLAHE bins it); the round trips to float32 rounding."""
    from skimage.color import lab2rgb, rgb2lab

    rng = np.random.default_rng(seed)
    rgb = rng.random((h, w, 3)).astype(np.float32)
    rgb[rng.random((h, w)) < 0.2] = 0.0  # sky
    rgb[rng.random((h, w, 3)) < 0.1] *= 0.02  # the linear toe of the sRGB curve
    lin = enhance._srgb_to_linear(rgb)
    lab = rgb2lab(rgb)
    assert np.array_equal(enhance._lightness(lin), lab[..., 0] / np.float32(100.0))
    f = enhance._lab_fs(lin)
    np.testing.assert_allclose(116 * f[..., 1] - 16, lab[..., 0], atol=2e-4)
    np.testing.assert_allclose(500 * (f[..., 0] - f[..., 1]), lab[..., 1], atol=5e-4)
    np.testing.assert_allclose(200 * (f[..., 1] - f[..., 2]), lab[..., 2], atol=5e-4)
    # (the sRGB toe multiplies float32 rounding by 12.92, as in lab2rgb(rgb2lab(rgb)))
    np.testing.assert_allclose(enhance._rgb_of_lab_fs(f), rgb, atol=2e-5)
    # out of gamut, fz below 0 included: what lab2rgb gives
    lab[..., 1:] *= 3.0
    fs = np.stack(
        [(lab[..., 0] + 16) / 116 + lab[..., 1] / 500, (lab[..., 0] + 16) / 116,
         (lab[..., 0] + 16) / 116 - lab[..., 2] / 200], axis=-1,
    ).astype(np.float32)  # fmt: skip
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = lab2rgb(lab)
    np.testing.assert_allclose(enhance._rgb_of_lab_fs(fs), want, atol=2e-5)


@pytest.mark.parametrize("shape", [(90, 70), (1, 1), (6, 1), (1, 7)])
def test_saturation_matches_the_skimage_conversions(shape: tuple[int, int]):
    """The stage through skimage.color (the previous code) and through the shortcuts."""
    from scipy import ndimage
    from skimage.color import lab2rgb, rgb2lab

    rng = np.random.default_rng(3)
    img = ndimage.gaussian_filter(rng.random((*shape, 3)), (2, 2, 0)).astype(np.float32)
    lab = rgb2lab(img)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    scale = 1.35 * (1.0 + 0.2 * (1.0 - np.minimum(chroma / 60.0, 1.0)))
    lab[..., 1:] *= scale[..., None]
    np.testing.assert_allclose(enhance.saturation(img, 1.35, 0.2), lab2rgb(lab), atol=2e-5)


@settings(max_examples=50, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(9, 60)),
    seed=st.integers(0, 2**32 - 1),
    width=st.sampled_from([5, 9]),
)
def test_sample_median_networks_are_the_rank_filter(
    shape: tuple[int, int, int], seed: int, width: int
):
    """The clean-up stages' across-line medians (the triple-sharing median of nine
    included) pick scipy's median_filter's values, ties and edges included."""
    from scipy import ndimage

    from junocam.calibrate import _median_along_samples

    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(0, 2, shape)).astype(np.float32)
    want = ndimage.median_filter(x, size=(1, 1, width), mode="nearest")
    assert np.array_equal(_median_along_samples(x, width), want)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(4, 30), st.integers(4, 40), st.integers(0, 2**32 - 1))
def test_hot_pixel_neighbourhoods_are_scipys(n: int, lines: int, samples: int, seed: int):
    """The ring extremes from rows of three and the window medians gathered at
    mirrored indices: scipy's footprint filters' values."""
    from scipy import ndimage

    from junocam.calibrate import _ring_extremes, _window_median_at

    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(100, 3, (n, lines, samples))).astype(np.float32)
    ring = np.ones((1, 3, 3), dtype=bool)
    ring[0, 1, 1] = False
    hi, lo = _ring_extremes(x)
    assert np.array_equal(hi, ndimage.maximum_filter(x, footprint=ring, mode="mirror"))
    assert np.array_equal(lo, ndimage.minimum_filter(x, footprint=ring, mode="mirror"))
    at = np.nonzero(rng.random(x.shape) < 0.3)
    want = ndimage.median_filter(x, size=(1, 7, 7), mode="mirror")[at]
    assert np.array_equal(_window_median_at(x, 7, at), want)


@pytest.mark.parametrize("channels", [1, 3])
def test_masked_pixels_are_boolean_indexing(channels: int, monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(channels)
    img = rng.random((300, 41, channels)).astype(np.float32)
    valid = rng.random((300, 41)) < 0.7
    monkeypatch.setattr(enhance, "_CHUNK_ROWS", 64)
    assert np.array_equal(enhance._masked_pixels(img, valid), img[valid])
    strided = np.repeat(img, 2, axis=1)[:, ::2]  # not C-contiguous
    assert np.array_equal(enhance._masked_pixels(strided, valid), img[valid])
    # linked and per-channel stretches keep their values
    for linked in (True, False):
        want = img.copy()
        got = enhance.stretch(img if channels == 3 else img[..., 0], 1.0, 99.0, linked, mask=valid)
        got = got if channels == 3 else got[..., None]
        px = img[valid]
        groups = [px.reshape(-1)] if linked else [px[:, c] for c in range(channels)]
        pts = [np.percentile(g, [1.0, 99.0]) for g in groups] * (channels if linked else 1)
        for c, (lo, hi) in enumerate(pts):
            want[..., c] = (want[..., c] - np.float32(lo)) * np.float32(1.0 / (hi - lo))
        assert np.array_equal(got, np.clip(want, 0.0, 1.0))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 90),
    st.integers(1, 20),
    st.booleans(),
    st.floats(0.3, 6.0),
    st.integers(0, 2**32 - 1),
)
def test_blur_along_lines_is_scipys(h: int, w: int, rgb: bool, sigma: float, seed: int):
    """Images shorter than the kernel included (mirrored more than once)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    a = rng.random((h, w, 3) if rgb else (h, w)).astype(np.float32)
    want = ndimage.gaussian_filter1d(a, sigma, axis=0, mode="reflect", truncate=4.0)
    got = enhance._gaussian_along_lines(a, sigma, 4.0)
    assert got.dtype == np.float32 and got.shape == a.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=4e-7)


@pytest.mark.parametrize("case", ["unit", "beyond", "nan", "inf", "float64", "strided", "grey"])
def test_unit_copy_is_finish_of_as_image(case: str):
    rng = np.random.default_rng(5)
    img = rng.random((20, 30, 3)).astype(np.float32)
    if case == "beyond":
        img = img * 3 - 1
    elif case == "nan":
        img[3, 4, 1] = np.nan
    elif case == "inf":
        img[3, 4, 1], img[5, 5, 0] = np.inf, -np.inf
        img *= 2
    elif case == "float64":
        img = img.astype(np.float64) * 1.5
    elif case == "strided":
        img = img[:, ::2]
    elif case == "grey":
        img = img[..., 0]
    got = enhance._unit_copy(img)
    want = enhance._finish(enhance._as_image(img))
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert np.array_equal(got, want)
    assert not np.shares_memory(got, img)
