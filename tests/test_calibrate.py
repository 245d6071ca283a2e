"""Properties of the clean-up stages in junocam.calibrate, and the calibration loader."""

from __future__ import annotations

import numpy as np
import pytest

from junocam import calibrate as cal
from junocam.errors import FormatError
from junocam.framelets import DARK_SAMPLES, PHOTOACTIVE
from junocam.metadata import Filter

KMGILL = "calibration/kmgill_junocam_processing"

# ``shared_junocam`` (the real data folder; skip without it, fail on CI) is in conftest.py.


def _scene(rng: np.random.Generator, n: int = 2, lines: int = 128, samples: int = 400):
    """Realistic linear framelets: a limb-darkened banded disc + sky, Poisson noise."""
    y, x = np.mgrid[0:lines, 0:samples]
    sig = np.zeros((n, lines, samples))
    for k in range(n):
        cx, cy, r = 150 + 60 * k, 20 + 40 * k, 180 + 30 * k
        d = np.hypot(x - cx, y - cy)
        disc = np.sqrt(np.clip(1 - (d / r) ** 2, 0, None))
        bands = 1 + 0.2 * np.sin(y / 7 + k) + 0.1 * np.sin(x / 13)
        sig[k] = 800 * disc * bands
    noisy = rng.poisson(sig + 5) + rng.normal(0, 1.5, sig.shape)
    return noisy.astype(np.float32), sig.astype(np.float32)


STAGES = {
    "repair_hot_pixels": lambda s: cal.repair_hot_pixels(s),
    "subtract_dark": lambda s: cal.subtract_dark(s, np.full(s.shape[-2:], 3.0)),
    "apply_flat": lambda s: cal.apply_flat(s, cal.radial_flat_model(*s.shape[-2:], "blue")),
    "inpaint_mask": lambda s: cal.inpaint_mask(s, np.eye(*s.shape[-2:], dtype=bool)),
    "black_level": lambda s: cal.black_level_from_dark_columns(s, window=5),
    "normalise_exposure": lambda s: cal.normalise_exposure(s, tdi=3),
    "denoise_tv": lambda s: cal.denoise(s, 0.05),
    "denoise_gaussian": lambda s: cal.denoise(s, 1.0, method="gaussian"),
}


@pytest.mark.parametrize("name", sorted(STAGES))
@pytest.mark.parametrize("shape", [(3, 16, 64), (16, 64)])
def test_stage_properties(name, shape):
    rng = np.random.default_rng(1)
    stack = rng.uniform(0, 2000, shape).astype(np.float32)
    before = stack.copy()
    out = STAGES[name](stack)
    assert out.dtype == np.float32
    assert out.shape == stack.shape
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(stack, before)  # input untouched
    assert not np.shares_memory(out, stack)


def test_integer_input_is_accepted():
    out = cal.subtract_dark(np.full((2, 4, 30), 10, np.uint16), np.ones((4, 30)))
    assert out.dtype == np.float32 and float(out[0, 0, 0]) == 9.0


# ------------------------------------------------------------------ identities


def test_identity_parameters():
    rng = np.random.default_rng(2)
    s = rng.uniform(0, 1000, (2, 16, 48)).astype(np.float32)
    np.testing.assert_array_equal(cal.subtract_dark(s, np.zeros((16, 48))), s)
    np.testing.assert_array_equal(cal.subtract_dark(s, np.full((16, 48), 9.0), scale=0), s)
    np.testing.assert_allclose(cal.apply_flat(s, np.ones((16, 48))), s, rtol=1e-6)
    np.testing.assert_array_equal(cal.inpaint_mask(s, np.zeros((16, 48), bool)), s)
    np.testing.assert_array_equal(cal.denoise(s, 0.0), s)
    np.testing.assert_array_equal(cal.normalise_exposure(s, exposure_s=0.0032), s)
    np.testing.assert_array_equal(cal.radial_flat_model(16, 48, "red", strength=0), 1.0)
    zero_dark = s.copy()
    zero_dark[..., :DARK_SAMPLES] = 0
    np.testing.assert_array_equal(cal.black_level_from_dark_columns(zero_dark), zero_dark)


# ------------------------------------------------------------------ hot pixels


def _isolated_positions(rng, n_exp, lines, samples, step=9):
    """Well separated positions (one per grid cell), so injected pixels are isolated."""
    ys, xs = np.mgrid[2 : lines - 2 : step, 2 : samples - 2 : step]
    ys = ys.ravel() + rng.integers(0, 3, ys.size)
    xs = xs.ravel() + rng.integers(0, 3, xs.size)
    es = rng.integers(0, n_exp, ys.size)
    return es, ys, xs


def test_hot_pixel_repair_on_clean_data_changes_almost_nothing():
    noisy, _ = _scene(np.random.default_rng(3), n=3)
    out, mask = cal.repair_hot_pixels(noisy, return_mask=True)
    assert mask.mean() < 1e-3
    np.testing.assert_array_equal(out[~mask], noisy[~mask])


def test_hot_pixel_repair_removes_injected_hot_and_dead_pixels():
    rng = np.random.default_rng(4)
    noisy, sig = _scene(rng, n=3)
    es, ys, xs = _isolated_positions(rng, *noisy.shape)
    pick = rng.choice(es.size, 300, replace=False)
    es, ys, xs = es[pick], ys[pick], xs[pick]
    hot_idx = (es[:200], ys[:200], xs[:200])
    bright = sig[es[200:], ys[200:], xs[200:]] > 400
    dead_idx = (es[200:][bright], ys[200:][bright], xs[200:][bright])
    bad = noisy.copy()
    bad[hot_idx] += rng.uniform(600, 3000, 200).astype(np.float32)
    bad[dead_idx] = 0.0
    out, mask = cal.repair_hot_pixels(bad, return_mask=True)
    assert mask[hot_idx].all()
    assert mask[dead_idx].all()
    injected = np.zeros(bad.shape, bool)
    injected[hot_idx] = injected[dead_idx] = True
    # clean pixels: < 0.1 % changed
    assert (mask & ~injected).sum() < 1e-3 * (~injected).sum()
    # repaired values are close to the truth (within a few noise sigmas)
    for idx in (hot_idx, dead_idx):
        err = np.abs(out[idx] - sig[idx])
        assert np.median(err) < 4 * np.sqrt(sig[idx].mean() + 5)


def test_hot_pixel_repair_works_per_framelet_and_on_2d():
    x = np.full((2, 20, 20), 100.0, np.float32)
    x[1, 10, 10] = 5000.0
    out, mask = cal.repair_hot_pixels(x, return_mask=True)
    assert mask.sum() == 1 and mask[1, 10, 10]
    out2, mask2 = cal.repair_hot_pixels(x[1], return_mask=True)
    assert mask2.shape == (20, 20) and mask2[10, 10] and out2[10, 10] == 100.0


def test_hot_pixel_repair_keeps_sharp_limb():
    y, x = np.mgrid[0:128, 0:300]
    disc = np.where(np.hypot(x - 150, y + 100) < 190, 1500.0, 0.0).astype(np.float32)
    _, mask = cal.repair_hot_pixels(disc[None], return_mask=True)
    assert mask.sum() == 0


# ------------------------------------------------------------------ dark and flat


def test_dark_round_trip():
    rng = np.random.default_rng(5)
    s = rng.uniform(0, 2000, (3, 8, 40)).astype(np.float32)
    dark = rng.uniform(0, 20, (8, 40)).astype(np.float32)
    np.testing.assert_allclose(cal.subtract_dark(s + dark, dark), s, atol=1e-3)
    np.testing.assert_allclose(cal.subtract_dark(s + 2 * dark, dark, scale=2), s, atol=1e-3)
    assert cal.subtract_dark(np.zeros((8, 40)), dark, clip=True).min() == 0.0


def test_flat_round_trip_and_normalisation():
    rng = np.random.default_rng(6)
    s = rng.uniform(10, 2000, (2, 128, 1648)).astype(np.float32)
    flat = rng.uniform(30000, 50000, (128, 1648))
    norm = cal.normalise_flat(flat)
    assert abs(float(norm[:, PHOTOACTIVE].mean()) - 1.0) < 1e-5
    assert (norm[:, :DARK_SAMPLES] == 1).all() and (norm[:, PHOTOACTIVE.stop :] == 1).all()
    np.testing.assert_allclose(cal.apply_flat(s * norm, flat), s, rtol=1e-5)


def test_flat_guards_against_zeros_and_nans():
    flat = np.ones((4, 10))
    flat[1, 2] = 0.0
    flat[2, 3] = np.nan
    out = cal.apply_flat(np.full((4, 10), 7.0, np.float32), flat)
    assert np.isfinite(out).all()
    assert out[1, 2] == 7.0 and out[2, 3] == 7.0


def test_radial_flat_model_shape_and_centre():
    for band in Filter:
        f = cal.radial_flat_model(band=band)
        assert f.shape == (128, 1648) and f.dtype == np.float32
        assert abs(float(f[:, PHOTOACTIVE].mean()) - 1) < 1e-5
        row = f[64, PHOTOACTIVE]
        peak = np.argmax(row) + PHOTOACTIVE.start
        assert abs(peak - cal.OPTICAL_CENTRE_SAMPLE) <= 1
    # green's optical centre is at line 3.5, red's above its framelet (-151.5)
    g, r = cal.radial_flat_model(band="green"), cal.radial_flat_model(band="red")
    assert g[3, 814] > g[127, 814]
    assert r[0, 814] > r[127, 814]
    summed = cal.radial_flat_model(64, 824, "blue")
    assert summed.shape == (64, 824) and np.isfinite(summed).all()


# ------------------------------------------------------------------ in-painting


def test_inpaint_recovers_smooth_field():
    y, x = np.mgrid[0:64, 0:80]
    truth = (100 + 2 * x + 0.5 * y).astype(np.float32)
    rng = np.random.default_rng(7)
    mask = rng.random(truth.shape) < 0.02
    mask[20:26, 30:36] = True  # a blemish wider than the first kernel
    damaged = np.where(mask, 0.0, truth).astype(np.float32)
    out = cal.inpaint_mask(np.stack([damaged, damaged]), mask)
    np.testing.assert_array_equal(out[:, ~mask], np.stack([truth, truth])[:, ~mask])
    err = np.abs(out[0] - truth)
    hole = np.zeros_like(mask)
    hole[20:26, 30:36] = True
    inner = mask & ~hole
    inner[:2] = inner[-2:] = False
    inner[:, :2] = inner[:, -2:] = False
    assert np.median(err[inner]) < 1.0  # isolated pixels on a ramp of 2 per pixel
    assert err[hole].max() < 5.0  # the 6x6 blemish, values ~ 200


def test_inpaint_accepts_stack_shaped_mask():
    s = np.full((2, 8, 8), 5.0, np.float32)
    s[1, 4, 4] = 100
    m = np.zeros_like(s, bool)
    m[1, 4, 4] = True
    out = cal.inpaint_mask(s, m)
    assert out[1, 4, 4] == pytest.approx(5.0)


# ------------------------------------------------------------ black level, exposure


def test_black_level_removes_per_line_offsets():
    rng = np.random.default_rng(8)
    offsets = rng.uniform(0, 30, (2, 16)).astype(np.float32)
    scene = rng.uniform(100, 200, (2, 16, 1648)).astype(np.float32)
    scene[..., :DARK_SAMPLES] = 0
    out = cal.black_level_from_dark_columns(scene + offsets[..., None])
    np.testing.assert_allclose(out, scene, atol=1e-3)


def test_black_level_window_pools_lines():
    x = np.zeros((1, 9, 100), np.float32)
    x[0, 4, :DARK_SAMPLES] = 50.0  # one noisy line: a pooled level ignores it
    assert float(cal.black_level_from_dark_columns(x, window=5)[0, 4, 60]) == 0.0
    assert float(cal.black_level_from_dark_columns(x, window=1)[0, 4, 60]) == -50.0


def test_exposure_normalisation_makes_frames_comparable():
    scene = np.linspace(1, 10, 20, dtype=np.float32)
    tdi3, tdi6 = scene * 3, scene * 6
    np.testing.assert_allclose(
        cal.normalise_exposure(tdi3, exposure_s=0.0096),
        cal.normalise_exposure(tdi6, tdi=6),
        rtol=1e-6,
    )
    np.testing.assert_allclose(cal.normalise_exposure(tdi6, 0.0192, 6), scene, rtol=1e-6)


def test_denoise_reduces_noise_per_framelet():
    rng = np.random.default_rng(9)
    s = np.zeros((2, 64, 64), np.float32)
    s[1] = 100 + rng.normal(0, 5, (64, 64))
    for out in (cal.denoise(s, 0.1), cal.denoise(s, 1.5, method="gaussian")):
        assert out[1].std() < s[1].std() / 2
        assert np.abs(out[0]).max() < 1e-3  # no bleeding across exposures


@pytest.mark.parametrize(
    "call",
    [
        lambda s: cal.repair_hot_pixels(s, threshold=1),
        lambda s: cal.repair_hot_pixels(s, size=4),
        lambda s: cal.repair_hot_pixels(s, shot_noise=-1),
        lambda s: cal.subtract_dark(s, np.zeros((3, 3))),
        lambda s: cal.subtract_dark(s, np.zeros((8, 30)), scale=-1),
        lambda s: cal.apply_flat(s, np.ones((8, 31))),
        lambda s: cal.normalise_flat(np.zeros((8, 30))),
        lambda s: cal.inpaint_mask(s, np.zeros((5, 5), bool)),
        lambda s: cal.inpaint_mask(s, np.zeros((8, 30), bool), radius=0),
        lambda s: cal.black_level_from_dark_columns(s[..., :20]),
        lambda s: cal.black_level_from_dark_columns(s, window=4),
        lambda s: cal.normalise_exposure(s),
        lambda s: cal.normalise_exposure(s, exposure_s=0.0192, tdi=3),
        lambda s: cal.normalise_exposure(s, exposure_s=-1),
        lambda s: cal.denoise(s, 0.1, method="median"),
        lambda s: cal.denoise(s, 5.0),
        lambda s: cal.radial_flat_model(band="purple"),
        lambda s: cal.radial_flat_model(strength=9),
        lambda s: cal.repair_hot_pixels(s[0, 0]),
    ],
)
def test_out_of_range_parameters_raise_value_error(call):
    with pytest.raises(ValueError):
        call(np.ones((2, 8, 30), np.float32))


# ------------------------------------------------------------------ calibration I/O


def test_load_calibration_generic_names(tmp_path):
    import imageio.v3 as iio
    import tifffile

    iio.imwrite(tmp_path / "flat_red.png", np.full((8, 30), 40000, np.uint16))
    tifffile.imwrite(tmp_path / "my_dark_pj50_blue.tif", np.full((8, 30), 9, np.uint16))
    np.save(tmp_path / "mask_green.npy", np.eye(8, 30, dtype=np.uint8) * 255)
    (tmp_path / "README.txt").write_text("ignored")
    c = cal.load_calibration(tmp_path)
    assert set(c.flat) == {Filter.RED} and set(c.dark) == {Filter.BLUE}
    assert set(c.mask) == {Filter.GREEN}
    assert c.mask[Filter.GREEN].dtype == bool and c.mask[Filter.GREEN].sum() == 8
    assert c.dark[Filter.BLUE].dtype == np.float32
    assert c.files["flat_red"].endswith("flat_red.png")
    assert c.source == str(tmp_path)
    with pytest.raises(ValueError):
        c.flat[Filter.RED][0, 0] = 1.0  # read-only


def test_load_calibration_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FormatError, match="nope"):
        cal.load_calibration(missing)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FormatError, match="no calibration images recognised"):
        cal.load_calibration(tmp_path)
    (tmp_path / "flat_red.png").write_bytes(b"not a png at all")
    with pytest.raises(FormatError) as info:
        cal.load_calibration(tmp_path)
    assert str(info.value).startswith(str(tmp_path / "flat_red.png") + ":")


def test_load_calibration_rejects_duplicates_and_mixed_shapes(tmp_path):
    np.save(tmp_path / "flat_red.npy", np.ones((8, 30)))
    np.save(tmp_path / "other_flat_red.npy", np.ones((8, 30)))
    with pytest.raises(FormatError, match="two flat images"):
        cal.load_calibration(tmp_path)
    (tmp_path / "other_flat_red.npy").unlink()
    np.save(tmp_path / "dark_red.npy", np.ones((8, 31)))
    with pytest.raises(FormatError, match=r"shape \(8, 30\) differs from .*dark_red.npy"):
        cal.load_calibration(tmp_path)


# ------------------------------------------------------------------ real data


@pytest.mark.realdata
def test_load_calibration_real_kmgill_files(shared_junocam):
    c = cal.load_calibration(shared_junocam / KMGILL)
    rgb = {Filter.BLUE, Filter.GREEN, Filter.RED}
    assert set(c.flat) == set(c.dark) == set(c.mask) == rgb
    assert c.files["flat_blue"].endswith("junocam_rgb_flatfield_v3_0.png")
    assert c.files["flat_green"].endswith("junocam_rgb_flatfield_v3_1.png")
    assert c.files["flat_red"].endswith("junocam_rgb_flatfield_v3_2.png")
    for band in rgb:
        assert c.flat[band].shape == c.dark[band].shape == c.mask[band].shape == (128, 1648)
        assert 0 < c.mask[band].mean() < 0.01  # a few hundred bad pixels
        assert 5 < float(np.median(c.dark[band])) < 15  # a few DN
        norm = cal.normalise_flat(c.flat[band])
        assert 0.7 < norm[:, PHOTOACTIVE].min() and norm.max() < 1.3


@pytest.mark.realdata
def test_radial_model_matches_community_flats(shared_junocam):
    c = cal.load_calibration(shared_junocam / KMGILL)
    for band in (Filter.BLUE, Filter.GREEN, Filter.RED):
        ratio = cal.normalise_flat(c.flat[band]) / cal.radial_flat_model(band=band)
        rms = float(np.sqrt(np.mean((ratio[:, PHOTOACTIVE] - 1) ** 2)))
        assert rms < 0.04, (band, rms)


@pytest.fixture(scope="module")
def real_green_stack(shared_junocam):
    import imageio.v3 as iio

    from junocam.companding import decompand

    pid = "JNCE_2022186_43C00080_V01"
    raw = iio.imread(shared_junocam / "raw" / pid / f"{pid}-raw.png")
    # 12 exposures x (blue, green, red); the first four exposures keep the test fast
    return decompand(raw, "SQROOT").reshape(12, 3, 128, 1648)[:4, 1]


@pytest.mark.realdata
def test_cleanup_chain_on_real_frame(shared_junocam, real_green_stack):
    x = real_green_stack
    c = cal.load_calibration(shared_junocam / KMGILL)
    y = cal.black_level_from_dark_columns(x)
    assert abs(float(np.median(y[..., :DARK_SAMPLES]))) < 0.5
    y = cal.subtract_dark(y, c.dark[Filter.GREEN])
    y = cal.apply_flat(y, c.flat[Filter.GREEN])
    y = cal.inpaint_mask(y, c.mask[Filter.GREEN])
    y, hot = cal.repair_hot_pixels(y, return_mask=True)
    y = cal.normalise_exposure(y, exposure_s=0.0096, tdi=3)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    assert hot.mean() < 1e-3  # hot-pixel repair changes < 0.1 % of a real frame
    # the scene survives: clean-up is a gentle, near-linear change of the lit pixels
    lit = x[..., PHOTOACTIVE] > 100
    r = np.corrcoef(x[..., PHOTOACTIVE][lit], y[..., PHOTOACTIVE][lit])[0, 1]
    assert r > 0.99


def test_fixed_pattern_leaves_quantised_clean_pixels_alone() -> None:
    # integer-valued (quantised) data give the pattern a zero MAD; only real defects
    # may be corrected, not every pixel with a non-zero median residual
    rng = np.random.default_rng(11)
    stack = np.round(rng.normal(200, 3, (8, 128, 300))).astype(np.float32)
    stack[:, 10:40, 77] += 80  # a TDI hot streak
    out, pattern = cal.remove_fixed_pattern(stack, return_pattern=True)
    others = pattern.copy()
    others[10:40, 77] = 0
    # besides the streak, at most 0.1% of pixels get a correction, each below 2 sigma
    assert np.count_nonzero(others) <= 0.001 * others.size
    assert float(np.abs(others).max()) < 2 * 3.0
    assert abs(float(out[:, 10:40, 77].mean()) - 200) < 3


def test_blemish_correction_restores_a_dust_shadow_and_keeps_clean_pixels() -> None:
    rng = np.random.default_rng(12)
    base = rng.normal(800, 8, (8, 128, 400)).astype(np.float32)
    shadow = base.copy()
    shadow[:, 60:64, 200:204] *= 0.7
    shadow[:, 20, 50] *= 0.1  # a nearly dead pixel
    out, gain = cal.correct_blemishes(shadow, return_gain=True)
    assert abs(float(out[:, 60:64, 200:204].mean()) - 800) < 12
    assert abs(float(out[:, 20, 50].mean()) - 800) < 40
    assert np.count_nonzero(gain != 1) / gain.size < 0.001 + 17 / gain.size
