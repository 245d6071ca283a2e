"""Numeric robustness: black, saturated and single-exposure frames, and NaN injected
after a stage. Every built-in recipe must give finite values in [0, 1] or a clear
project error, and no RuntimeWarning (division by zero, invalid value) may leak.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import junocam.calibrate
import junocam.enhance
from junocam.decode import RawFrame
from junocam.errors import JunoCamError
from junocam.metadata import Companding, Filter, FrameMeta, from_website_json
from junocam.pipeline import Pipeline
from junocam.simulate import JupiterScene, SimulationSpec, simulate_frame

RGB = (Filter.BLUE, Filter.GREEN, Filter.RED)
FOUR = (Filter.METHANE, Filter.BLUE, Filter.GREEN, Filter.RED)
RECIPES = ["raw", "true-color", "enhanced", "vivid", "methane"]


def constant_frame(value: int, n_exposures: int = 2, filters=RGB) -> RawFrame:
    lines = 128 * len(filters) * n_exposures
    meta = FrameMeta(
        "JNCE_CONST", filters, lines, Companding.SQROOT, interframe_delay=0.372,
        exposure_duration=0.0192,
    )  # fmt: skip
    return RawFrame(np.full((lines, 1648), value, np.uint8), meta, path=f"const-{value}.png")


def check_result(run) -> None:
    """``run()`` gives finite RGB in [0, 1], or raises a JunoCamError; no RuntimeWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            result = run()
        except JunoCamError as err:
            assert str(err).strip()
            return
    rgb = result.rgb
    assert rgb.dtype == np.float32 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert np.isfinite(rgb).all(), "non-finite output"
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    for band in result.bands.values():
        assert np.isfinite(band).all()


@pytest.fixture(scope="module")
def sim_one_exposure() -> RawFrame:
    sim = simulate_frame(JupiterScene(radius_deg=6.0), SimulationSpec(n_exposures=1, oversample=1))
    return RawFrame(sim.strip, from_website_json(sim.metadata), path="sim-1.png")


@pytest.mark.parametrize("value", [0, 255])
@pytest.mark.parametrize("recipe", RECIPES)
def test_black_and_saturated_frames(recipe, value):
    filters = FOUR if recipe == "methane" else RGB
    frame = constant_frame(value, filters=filters)
    check_result(lambda: Pipeline.named(recipe).run(frame))


@pytest.mark.parametrize("recipe", RECIPES)
def test_single_exposure(recipe, sim_one_exposure):
    check_result(lambda: Pipeline.named(recipe).run(sim_one_exposure))


@pytest.mark.parametrize("geometry", ["naive", "perspective"])
def test_black_frame_other_geometries(geometry):
    frame = constant_frame(0)
    pipe = Pipeline.named("enhanced").with_overrides([f'stitch.geometry="{geometry}"'])
    check_result(lambda: pipe.run(frame))


def _with_nan(fn):
    def wrapped(*args, **kwargs):
        out = np.array(fn(*args, **kwargs), dtype=np.float32, copy=True)
        out.reshape(-1)[:: max(out.size // 50, 1)] = np.nan  # 50 NaNs spread over the data
        return out

    return wrapped


@pytest.mark.parametrize(
    ("module", "name", "recipe"),
    [
        (junocam.calibrate, "repair_hot_pixels", "enhanced"),  # a linear stage
        (junocam.calibrate, "repair_hot_pixels", "true-color"),
        (junocam.enhance, "stretch", "enhanced"),  # a colour stage
        (junocam.enhance, "band_weights", "vivid"),
        (junocam.enhance, "white_balance", "true-color"),
    ],
)
def test_nan_injected_after_a_stage(monkeypatch, sim_one_exposure, module, name, recipe):
    monkeypatch.setattr(module, name, _with_nan(getattr(module, name)))
    pipe = Pipeline.named(recipe).with_overrides(["stitch.fit_spin=false"])
    check_result(lambda: pipe.run(sim_one_exposure))
