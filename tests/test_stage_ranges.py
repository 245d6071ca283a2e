"""Every parameter value a recipe accepts must be accepted by the stage function too.

The registry's ranges and the functions' own checks are written in two places; this
runs each linear and colour stage at the ends of every numeric range (and with every
choice) on small arrays, so a recipe that validates never fails at run time.
"""

from __future__ import annotations

import numpy as np
import pytest

from junocam.decode import RawFrame
from junocam.errors import RecipeError
from junocam.framelets import split
from junocam.metadata import Companding, Filter, FrameMeta
from junocam.pipeline import STAGES, Context, Stage, State

BANDS = (Filter.GREEN,)


def _frame() -> RawFrame:
    rng = np.random.default_rng(3)
    strip = rng.integers(20, 200, (3 * 128, 1648)).astype(np.uint8)
    meta = FrameMeta(
        "JNCT_X",
        BANDS,
        strip.shape[0],
        Companding.SQROOT,
        interframe_delay=0.372,
        exposure_duration=0.0096,
        tdi_stages=3,
    )
    return RawFrame(strip, meta)


def _values(spec_name: str):
    spec = STAGES[spec_name]
    for pname, prm in spec.params.items():
        if prm.kind in ("float", "int"):
            for v in (prm.low, prm.high):
                if v is None:
                    continue
                if prm.kind == "int":
                    v = int(v)
                    if prm.odd and v % 2 == 0:
                        v -= 1
                yield pname, v
        elif prm.choices:
            for c in prm.choices:
                yield pname, c


CASES = [
    (name, p, v)
    for name, spec in STAGES.items()
    if spec.kind in ("linear", "color")
    for p, v in _values(name)
]


@pytest.mark.parametrize(("stage", "param", "value"), CASES)
def test_registry_range_ends_run(stage: str, param: str, value: object) -> None:
    frame = _frame()
    ctx = Context(frame=frame, calibration=None, notes=[])
    st = Stage.make(stage, {param: value})
    spec = STAGES[stage]
    if (stage, value) == ("flat", "calibration"):
        # without calibration flats this must be a clear recipe error, not a crash
        fr = split(frame.linear(), frame.meta.filters)
        with pytest.raises(RecipeError, match="no flat for GREEN"):
            spec.run(State(framelets=fr), st.params, ctx)
        return
    if spec.kind == "linear":
        fr = split(frame.linear(), frame.meta.filters)
        out = spec.run(State(framelets=fr), st.params, ctx)
        assert out.framelets is not None
        assert np.all(np.isfinite(out.framelets.data))
    else:
        rng = np.random.default_rng(5)
        rgb = rng.uniform(0, 1, (64, 80, 3)).astype(np.float32)
        mask = np.ones((64, 80), bool)
        state = State(rgb=rgb, mask=mask, target=np.ones((64, 80), np.float32))
        out = spec.run(state, st.params, ctx)
        assert out.rgb is not None and out.rgb.dtype == np.float32
        assert np.all(np.isfinite(out.rgb)) and out.rgb.min() >= 0 and out.rgb.max() <= 1
