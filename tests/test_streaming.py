"""The streaming engine (issue 18, point 2): band by band, the same result, less memory.

``Pipeline.run`` runs the linear stages one band at a time, stitches band after band,
drops the band images after the compose stage unless asked to keep them and fades the
colour in place; ``stream=False`` runs every stage on the whole frame as the engine
did before. Both must give the same picture bit for bit, and the streamed run must
stay within a memory bound (traced allocations, not wall clock).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.runner import traced_peak
from junocam.companding import decompand
from junocam.decode import RawFrame, read_frame
from junocam.framelets import Framelets, split
from junocam.metadata import Filter, from_website_json
from junocam.pipeline import STAGES, Context, Pipeline, PipelineResult, State
from junocam.simulate import JupiterScene, SimulationSpec, simulate_frame


def _frame(n_exposures: int, filters: tuple[Filter, ...] | None = None) -> RawFrame:
    kw: dict[str, Any] = {} if filters is None else {"filters": filters}
    spec = SimulationSpec(n_exposures=n_exposures, oversample=1, seed=3, **kw)
    sim = simulate_frame(JupiterScene(radius_deg=8.0, seed=3), spec)
    return RawFrame(sim.strip, from_website_json(sim.metadata), path=None)


@pytest.fixture(scope="module")
def sim3() -> RawFrame:
    return _frame(3)


def _same(a: PipelineResult, b: PipelineResult, bands: bool = True) -> None:
    assert a.rgb.dtype == b.rgb.dtype == np.float32
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert (a.alpha is None) == (b.alpha is None)
    if a.alpha is not None:
        np.testing.assert_array_equal(a.alpha, b.alpha)
    np.testing.assert_array_equal(a.sky, b.sky)
    assert a.notes == b.notes
    assert list(a.timings) == list(b.timings)
    if bands:
        assert list(a.bands) == list(b.bands)
        for k in a.bands:
            np.testing.assert_array_equal(a.bands[k], b.bands[k])


def test_streamed_run_equals_the_whole_frame_run(sim3: RawFrame):
    raw = Pipeline.named("raw")
    whole = raw.run(sim3, stream=False)
    streamed = raw.run(sim3)
    _same(whole, streamed)
    assert streamed.fit is not None and whole.fit is not None
    assert streamed.fit.spin == whole.fit.spin  # the fit saw the same framelets


@pytest.mark.parametrize(
    "pipe",
    [
        Pipeline.named("enhanced"),
        # the linear stages of late-mission that enhanced does not have
        Pipeline(["black_level", "background", "line_noise", "denoise", "stitch", "compose"]),
    ],
    ids=["enhanced", "late-mission-cleanup"],
)
def test_streamed_cleanup_equals_the_whole_frame_cleanup(sim3: RawFrame, pipe: Pipeline):
    whole = pipe.run(sim3, stream=False)
    streamed = pipe.run(sim3, spin_fit=whole.fit)  # the same framelets give the same fit
    _same(whole, streamed)
    # a stage that needs a calibration says so once for all bands, as before
    if pipe.name == "enhanced":
        assert "dark: no dark frame for BLUE, GREEN, RED (give --calibration DIR); skipped" in (
            streamed.notes
        )


def test_streamed_grey_and_naive_runs_equal_the_whole_frame_run():
    frame = _frame(3, (Filter.METHANE,))
    for pipe in (
        Pipeline.named("mono"),
        Pipeline.named("raw").with_overrides(["stitch.geometry=naive"]),
    ):
        whole = pipe.run(frame, stream=False)
        streamed = pipe.run(frame, keep_bands=False)
        _same(whole, streamed, bands=False)
        assert streamed.bands == {} and set(whole.bands) == {Filter.METHANE}


def test_keep_bands_false_drops_the_bands_only(sim3: RawFrame):
    pipe = Pipeline.named("raw")
    kept = pipe.run(sim3)
    dropped = pipe.run(sim3, keep_bands=False, spin_fit=kept.fit)
    assert dropped.bands == {} and set(kept.bands) == {Filter.BLUE, Filter.GREEN, Filter.RED}
    _same(kept, dropped, bands=False)


def test_streaming_leaves_the_frame_alone(sim3: RawFrame):
    before = sim3.pixels.copy()
    Pipeline.named("enhanced").run(sim3, keep_bands=False)
    np.testing.assert_array_equal(sim3.pixels, before)


def test_raw_recipe_peak_memory_is_bounded():
    """The `raw` recipe's traced peak on a 4-exposure frame, the spin fit given.

    Units: the raw uint8 array R (2.5 MB) and one float32 band image on the output
    grid, B = 2.1 R (a short frame's cylinder grid is large next to its framelets).
    Streamed, the stitch stage holds the float32 framelets (4 R), the finished bands
    and one band's sums (at most 2 B + 2 B), the masks (0.75 B) and the gathers of one
    band's framelets (its inverse map and per-framelet coordinates in float64, about
    14 R on this frame, a fixed size per framelet: about 3 R on a full real frame):
    4 R + 4.75 B + 14 R = 28 R. The compose stage then holds the bands, masks and the
    picture (3 B + 0.75 B + 3 B) plus its row-banded temporaries and the coverage's
    ramp, less than the stitch. Measured 26.7 R; the bound is 29 R. Run on the whole
    frame at once (every linear and stitch temporary frame-sized, the colour faded
    into a copy) the peak was 39.4 R: streaming must keep under 0.75 of it. The spin
    fit, when made, adds its own peak (junocam.matching.prepare).

    Issue 18: the stitch's per-framelet work is float32 and by row bands, and the
    fade into the sky no longer gathers the faded pixels: streamed 21.5 R (the peak
    is now in the compose stage's target weight, next to the bands and the picture),
    whole frame 26.7 R (its fade was its peak). The bound is now 23 R, and the
    streamed run must stay under 0.85 of the whole-frame one.
    """
    frame = _frame(4)
    pipe = Pipeline.named("raw")
    fit = pipe.run(frame).fit
    raw = frame.pixels.nbytes
    streamed = traced_peak(lambda: pipe.run(frame, spin_fit=fit, keep_bands=False))
    whole = traced_peak(lambda: pipe.run(frame, spin_fit=fit, stream=False))
    assert streamed < 23 * raw
    assert streamed < 0.85 * whole


def test_cleanup_stages_hold_one_band_at_a_time(sim3: RawFrame):
    """The linear stages copy one band at a time, not the frame.

    Each stage returns new framelets. On the whole frame that is a float32 copy of
    every band (4 R, R the raw uint8 array) next to its input; band by band it is one
    band's (4 R / 3) next to the finished framelets, 2.7 R less. The stages'
    temporaries were per band already (measured on this frame: 20.9 R whole, 18.2 R
    streamed, the rest being blemishes' per-band filters).
    """
    pipe = Pipeline(["black_level", "blemishes", "hot_pixels", "stitch", "compose"])
    linear = pipe.stages[:3]

    def whole() -> Framelets:
        ctx = Context(sim3, None, [])
        meta = sim3.meta
        state = State(framelets=split(decompand(sim3.pixels, meta.companding), meta.filters))
        for stage in linear:
            state = STAGES[stage.name].run(state, stage.params, ctx)
        assert state.framelets is not None
        return state.framelets

    def streamed() -> Framelets:
        return pipe._linear_by_band(sim3, Context(sim3, None, []), 3, {})

    np.testing.assert_array_equal(whole().data, streamed().data)
    raw = sim3.pixels.nbytes
    assert traced_peak(streamed) < traced_peak(whole) - 2.5 * raw


def test_real_frame_streamed_equals_whole(shared_junocam: Path):
    # the smallest real frame (one band, METHANE) with its default recipe, whose
    # linear stages (line_noise, line_gain) the colour recipes do not have
    path = next((shared_junocam / "raw").glob("JNCE_2022186_43M00081_V01/*-raw.png"))
    frame = read_frame(path)
    pipe = Pipeline.named("mono")
    whole = pipe.run(frame, stream=False)
    streamed = pipe.run(frame, spin_fit=whole.fit, keep_bands=False)
    _same(whole, streamed, bands=False)
