"""Properties of the colour and contrast stages in junocam.enhance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from junocam import enhance as en


def _disc(size: int = 48, seed: int = 0) -> np.ndarray:
    """A small RGB planet: limb-darkened banded disc on black sky, plus noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    d = np.hypot(x - size / 2, y - size / 2) / (0.4 * size)
    disc = np.sqrt(np.clip(1 - d**2, 0, None))
    bands = 0.8 + 0.2 * np.sin(y / 3.0)
    colour = np.array([0.55, 0.45, 0.3])
    img = disc[..., None] * bands[..., None] * colour + rng.normal(0, 0.01, (size, size, 3))
    return np.clip(img, 0, 1).astype(np.float32)


STAGES = {
    "white_balance_fixed": lambda a: en.white_balance(a, "fixed", gains="gill"),
    "white_balance_grey": lambda a: en.white_balance(a, "grey_world"),
    "white_balance_patch": lambda a: en.white_balance(a, "white_patch", percentile=99),
    "band_weights": lambda a: en.band_weights(a, "eichstaedt", normalise=False),
    "stretch_pct": lambda a: en.stretch(a, 1, 99),
    "stretch_sigma": lambda a: en.stretch(a, method="sigma", sigma=2, linked=False),
    "gamma": lambda a: en.gamma(a, 2.2),
    "filmic_hable": lambda a: en.filmic(a),
    "filmic_aces": lambda a: en.filmic(a, white=8, curve="aces"),
    "flatten": lambda a: en.flatten_illumination(a, sigma=6),
    "clahe": lambda a: en.clahe(a, 0.02, kernel_size=16),
    "unsharp": lambda a: en.unsharp(a, 1.5, 2.0),
    "saturation": lambda a: en.saturation(a, 1.8, vibrance=1.0),
    "matrix": lambda a: en.true_color_matrix(a),
}


@pytest.mark.parametrize("name", sorted(STAGES))
@pytest.mark.parametrize("grey", [False, True])
def test_stage_properties(name, grey):
    img = _disc()
    if grey:
        img = img.mean(axis=-1)
    before = img.copy()
    out = STAGES[name](img)
    assert out.dtype == np.float32
    assert out.shape == img.shape
    assert np.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(img, before)  # input untouched
    assert not np.shares_memory(out, img)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_handles_non_finite_and_out_of_range_input(name):
    img = _disc(16)
    img[0, 0] = np.nan
    img[1, 1] = np.inf
    img[2, 2] = -3.0
    img[3, 3] = 7.0
    out = STAGES[name](img)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_identity_parameters_give_identity():
    img = _disc()
    img[0, 0] = 0.0  # make the image span [0, 1] for the stretch identity
    img[-1, -1] = 1.0
    same = [
        en.white_balance(img, "fixed", gains=(1, 1, 1)),
        en.band_weights(img, "none"),
        en.stretch(img, low=0, high=100),
        en.gamma(img, 1.0),
        en.filmic(img, strength=0.0),
        en.flatten_illumination(img, strength=0.0),
        en.clahe(img, amount=0.0),
        en.unsharp(img, amount=0.0),
        en.saturation(img, factor=1.0, vibrance=0.0),
        en.true_color_matrix(img, "identity"),
        en.true_color_matrix(img, (1, 0, 0, 0, 1, 0, 0, 0, 1)),
    ]
    for out in same:
        np.testing.assert_allclose(out, img, atol=1e-6)


def test_colour_only_stages_leave_grey_unchanged():
    grey = _disc().mean(axis=-1)
    for out in (
        en.white_balance(grey, "grey_world"),
        en.saturation(grey, 2.0),
        en.true_color_matrix(grey),
    ):
        np.testing.assert_array_equal(out, grey)


# ------------------------------------------------------------------ stretch


@settings(max_examples=40, deadline=None)
@given(
    img=arrays(np.float32, (6, 7, 3), elements=st.floats(0, 1, width=32)),
    low=st.floats(0, 40),
    width=st.floats(1, 60),
    linked=st.booleans(),
    method=st.sampled_from(["percentile", "sigma"]),
    sigma=st.floats(0.5, 5),
)
def test_stretch_is_monotone(img, low, width, linked, method, sigma):
    out = en.stretch(img, low=low, high=low + width, linked=linked, method=method, sigma=sigma)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    for c in range(3):
        order = np.argsort(img[..., c], axis=None, kind="stable")
        assert np.all(np.diff(out[..., c].ravel()[order]) >= 0)


def test_stretch_linked_keeps_colour_ratios_and_mask_ignores_sky():
    img = _disc()
    valid = img.mean(axis=-1) > 0.05
    out = en.stretch(img, 0, 100, linked=True, mask=valid)
    assert np.isclose(out[valid].max(), 1.0)
    # a pixel's channel differences scale by one common factor when linked
    p, q = (24, 24), (20, 26)
    ratio = (out[p] - out[q]) / (img[p] - img[q])
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-3)
    unlinked = en.stretch(img, 0, 100, linked=False, mask=valid)
    assert np.allclose(unlinked[valid].max(axis=0), 1.0)


def test_stretch_of_constant_image_is_unchanged():
    flat = np.full((4, 4, 3), 0.3, np.float32)
    np.testing.assert_array_equal(en.stretch(flat), flat)


# ------------------------------------------------------------------ white balance


@pytest.mark.parametrize("method", ["grey_world", "white_patch"])
def test_white_balance_makes_grey_patch_neutral(method):
    rng = np.random.default_rng(3)
    shade = rng.uniform(0.2, 0.5, (20, 20, 1))
    cast = np.array([0.9, 1.0, 0.55])  # a reddish illuminant on a grey card
    img = (shade * cast).astype(np.float32)
    out = en.white_balance(img, method)
    np.testing.assert_allclose(out[..., 0], out[..., 1], rtol=1e-4)
    np.testing.assert_allclose(out[..., 2], out[..., 1], rtol=1e-4)


def test_white_balance_with_mask_ignores_sky_and_fixed_gains():
    img = np.zeros((10, 10, 3), np.float32)
    img[:5] = [0.2, 0.4, 0.1]  # the planet
    img[5:] = [0.0, 0.02, 0.3]  # bluish sky glow we must ignore
    mask = np.zeros((10, 10), bool)
    mask[:5] = True
    out = en.white_balance(img, "grey_world", mask=mask)
    assert np.ptp(out[0, 0]) < 1e-5
    np.testing.assert_allclose(
        en.white_balance(img, gains=(1.0, 1.0, 2.0))[0, 0], [0.2, 0.4, 0.2], rtol=1e-6
    )


def test_white_balance_normalise_avoids_clipping():
    img = np.full((2, 2, 3), 0.8, np.float32)
    kept = en.band_weights(img, "gill", normalise=True)
    assert np.isclose(kept.max(), 1.0)
    np.testing.assert_allclose(kept[0, 0] / kept[0, 0, 1], [0.902, 1.0, 1.888], rtol=1e-5)
    clipped = en.band_weights(img, "gill", normalise=False)
    np.testing.assert_allclose(clipped[0, 0], [0.7216, 0.8, 1.0], rtol=1e-4)


# ------------------------------------------------------------------ tone curves


@pytest.mark.parametrize("curve", ["hable", "aces"])
@pytest.mark.parametrize("white", [0.5, 4.0, 20.0])
def test_filmic_is_normalised_and_monotone(curve, white):
    x = np.linspace(0, 1, 257, dtype=np.float32)[None]
    y = en.filmic(x, white=white, curve=curve)[0]
    assert y[0] == 0.0 and np.isclose(y[-1], 1.0)
    assert np.all(np.diff(y) >= 0)


def test_gamma_brightens_midtones_for_gamma_above_one():
    x = np.linspace(0, 1, 11, dtype=np.float32)[None]
    assert np.all(en.gamma(x, 2.2)[0, 1:-1] > x[0, 1:-1])
    assert np.all(en.gamma(x, 0.5)[0, 1:-1] < x[0, 1:-1])


# ------------------------------------------------------------------ local contrast


def test_flatten_illumination_evens_out_terminator_without_sky_bleed():
    img = _disc(96)
    _, x = np.mgrid[0:96, 0:96]
    terminator = np.clip((x - 10) / 60, 0.1, 1.0)[..., None]  # dark left, bright right
    img = (img * terminator).astype(np.float32)
    lum = en.luminance(img)
    valid = lum > 0.02
    out = en.flatten_illumination(img, sigma=10, mask=valid)
    out_lum = en.luminance(out)
    inner = valid & (np.hypot(x - 48, np.mgrid[0:96, 0:96][0] - 48) < 30)
    left, right = inner & (x < 40), inner & (x > 56)
    before = lum[right].mean() / lum[left].mean()
    after = out_lum[right].mean() / out_lum[left].mean()
    assert before > 2.0 and after < 1.4
    # the sky stays dark
    np.testing.assert_allclose(out[~valid], img[~valid], atol=0.02)


def test_clahe_raises_local_contrast_and_keeps_hue():
    img = _disc(64)
    out = en.clahe(img, 0.03, kernel_size=16)
    lit = en.luminance(img) > 0.1

    def local_contrast(a):
        lum = en.luminance(a)
        return (lum - ndimage.gaussian_filter(lum, 3))[lit].std()

    assert local_contrast(out) > 1.2 * local_contrast(img)
    # hue (ratio of channel differences) is roughly kept on the disc
    hue_in = np.arctan2(img[..., 1] - img[..., 2], img[..., 0] - img[..., 1])
    hue_out = np.arctan2(out[..., 1] - out[..., 2], out[..., 0] - out[..., 1])
    assert np.median(np.abs(hue_out - hue_in)[lit]) < 0.15


def test_unsharp_increases_edge_contrast():
    edge = np.zeros((16, 16, 3), np.float32)
    edge[:, 8:] = 0.5
    out = en.unsharp(edge, 1.0, 1.0)
    assert out[0, 8, 0] > 0.5 and out[0, 7, 0] == 0.0


# ------------------------------------------------------------------ colour


def test_saturation_scales_chroma_and_keeps_grey():
    from skimage.color import rgb2lab

    img = _disc(32)
    sat = en.saturation(img, 1.5)
    lab_in, lab_out = rgb2lab(img), rgb2lab(sat)
    lit = lab_in[..., 0] > 20
    c_in = np.hypot(lab_in[..., 1], lab_in[..., 2])[lit]
    c_out = np.hypot(lab_out[..., 1], lab_out[..., 2])[lit]
    assert np.median(c_out / np.maximum(c_in, 1e-6)) == pytest.approx(1.5, rel=0.05)
    np.testing.assert_allclose(lab_out[..., 0][lit], lab_in[..., 0][lit], atol=0.5)
    grey = np.full((3, 3, 3), 0.4, np.float32)
    np.testing.assert_allclose(en.saturation(grey, 3.0, vibrance=2.0), grey, atol=1e-3)


def test_vibrance_boosts_muted_colours_more():
    from skimage.color import rgb2lab

    muted = np.array([[[0.50, 0.47, 0.44]]], np.float32)
    vivid = np.array([[[0.80, 0.30, 0.10]]], np.float32)

    def chroma_gain(px):
        a, b = rgb2lab(px), rgb2lab(en.saturation(px, 1.0, vibrance=1.0))
        return np.hypot(*b[0, 0, 1:]) / np.hypot(*a[0, 0, 1:])

    assert chroma_gain(muted) > chroma_gain(vivid) >= 0.99


def test_true_color_matrix_keeps_grey_and_rows_sum_to_one():
    for m in en.TRUE_COLOR_MATRICES.values():
        np.testing.assert_allclose(np.sum(m, axis=1), 1.0, atol=1e-9)
    grey = np.full((2, 2, 3), 0.37, np.float32)
    np.testing.assert_allclose(en.true_color_matrix(grey), grey, atol=1e-6)
    swap = en.true_color_matrix(np.array([[[0.1, 0.2, 0.3]]]), [[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    np.testing.assert_allclose(swap[0, 0], [0.3, 0.2, 0.1], atol=1e-7)


def test_methane_false_color_composite():
    rng = np.random.default_rng(5)
    m = rng.uniform(0, 50, (12, 14)).astype(np.float32)  # weak methane signal
    r = rng.uniform(0, 2000, (12, 14)).astype(np.float32)
    b = rng.uniform(0, 900, (12, 14)).astype(np.float32)
    out = en.methane_false_color(m, r, b)
    assert out.shape == (12, 14, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    for c in range(3):  # each band stretched on its own to nearly the full range
        assert out[..., c].max() > 0.98 and out[..., c].min() < 0.02
    # the channel order is methane, red, blue
    assert np.corrcoef(out[..., 0].ravel(), m.ravel())[0, 1] > 0.99
    assert np.corrcoef(out[..., 1].ravel(), r.ravel())[0, 1] > 0.99
    raw = en.methane_false_color(m / 50, r / 2000, b / 900, normalise=False)
    np.testing.assert_allclose(raw[..., 2], b / 900, atol=1e-6)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "call",
    [
        lambda a: en.white_balance(a, "auto"),
        lambda a: en.white_balance(a, gains=(1, 1)),
        lambda a: en.white_balance(a, gains=(1, 0, 1)),
        lambda a: en.white_balance(a, gains="kodak"),
        lambda a: en.white_balance(a, "white_patch", percentile=10),
        lambda a: en.white_balance(a, "grey_world", mask=np.ones((3, 3), bool)),
        lambda a: en.stretch(a, low=60, high=40),
        lambda a: en.stretch(a, high=101),
        lambda a: en.stretch(a, method="log"),
        lambda a: en.stretch(a, method="sigma", sigma=0),
        lambda a: en.gamma(a, 0),
        lambda a: en.filmic(a, white=0),
        lambda a: en.filmic(a, strength=2),
        lambda a: en.filmic(a, curve="reinhard"),
        lambda a: en.flatten_illumination(a, sigma=0.1),
        lambda a: en.flatten_illumination(a, strength=-1),
        lambda a: en.clahe(a, clip_limit=0),
        lambda a: en.clahe(a, kernel_size=3),
        lambda a: en.unsharp(a, radius=0),
        lambda a: en.unsharp(a, amount=-1),
        lambda a: en.saturation(a, factor=-0.1),
        lambda a: en.saturation(a, vibrance=float("nan")),
        lambda a: en.true_color_matrix(a, "srgb"),
        lambda a: en.true_color_matrix(a, (1, 2, 3)),
        lambda a: en.methane_false_color(a[..., 0], a[..., 0], a[:4, :4, 0]),
        lambda a: en.methane_false_color(a, a, a),
        lambda a: en.stretch(np.zeros((4, 4, 4))),
    ],
)
def test_bad_parameters_raise_value_error(call):
    with pytest.raises(ValueError):
        call(_disc(8))


def test_unsharp_fills_every_pixel_of_every_channel_like_skimage_on_one_channel() -> None:
    # scikit-image's unsharp_mask with channel_axis=-1 leaves most of its output
    # uninitialised (scikit-image issue 7264); ours must equal its per-channel result
    from skimage.filters import unsharp_mask

    rng = np.random.default_rng(3)
    img = ndimage.gaussian_filter(rng.random((60, 70, 3)), (2, 2, 0)).astype(np.float32)
    got = en.unsharp(img, 2.0, 0.6)
    for c in range(3):
        want = np.clip(unsharp_mask(img[..., c], 2.0, 0.6, preserve_range=True), 0, 1)
        np.testing.assert_allclose(got[..., c], want, atol=2e-6)
    assert abs(float(got.mean()) - float(img.mean())) < 1e-3  # sharpening keeps the level
