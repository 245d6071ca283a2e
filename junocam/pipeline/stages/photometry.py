"""The photometric stage: divide out the lighting with a photometric law (on maps).

Examples
--------
Two map pixels seen from straight above, lit from overhead and at 60 degrees of
incidence, both of albedo 1; Lambert's law brings them to the same brightness:

>>> from junocam.decode import RawFrame
>>> from junocam.metadata import Filter, assumed_meta
>>> from junocam.planet.photometry import Backplanes
>>> PHOTOMETRY.kind, PHOTOMETRY.params["model"].default
('photometric', 'minnaert')
>>> zero = np.zeros((1, 2), np.float32)
>>> bp = Backplanes(zero, zero, np.array([[0.0, 60.0]], np.float32), zero, zero)
>>> state = State(bands={Filter.GREEN: np.array([[1.0, 0.5]], np.float32)},
...               masks={Filter.GREEN: np.ones((1, 2), bool)}, backplanes=bp)
>>> params = {"model": "lambert", "k": 0.9, "min_mu0": 0.05, "max_gain": 8.0}
>>> ctx = Context(RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384)), None, [])
>>> PHOTOMETRY.run(state, params, ctx).bands[Filter.GREEN].round(3).tolist()
[[1.0, 1.0]]

Without backplanes (a stitched frame, not a map) the stage changes nothing:

>>> PHOTOMETRY.run(State(bands=state.bands, masks=state.masks), params, ctx).bands is state.bands
True
>>> ctx.notes
['photometry: skipped (needs backplanes: use `junocam map`)']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from ...planet.photometry import photometric_factor
from ..parameters import choice, number
from ..registry import Context, StageSpec, State


def _photometry(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    if state.backplanes is None:
        ctx.notes.append("photometry: skipped (needs backplanes: use `junocam map`)")
        return state
    assert state.bands is not None and state.masks is not None
    bp = state.backplanes
    factor = photometric_factor(
        np.nan_to_num(bp.mu0, nan=0.0),
        np.nan_to_num(bp.mu, nan=0.0),
        p["model"],
        k=p["k"],
        min_mu0=p["min_mu0"],
        max_gain=p["max_gain"],
    )
    lit = factor > 0
    bands = {
        b: np.where(lit, v / np.where(lit, factor, 1.0), 0.0).astype(np.float32)
        for b, v in state.bands.items()
    }
    masks = {b: m & lit for b, m in state.masks.items()}
    return replace(state, bands=bands, masks=masks)


PHOTOMETRY = StageSpec(
    "photometry",
    "photometric",
    {
        "model": choice(
            "minnaert",
            ("lambert", "lommel_seeliger", "minnaert"),
            "photometric function divided out",
        ),
        "k": number(0.9, 0.3, 1.5, "Minnaert exponent"),
        "min_mu0": number(
            0.05, 0.005, 0.5, "cosine of incidence below which a pixel counts as unlit"
        ),
        "max_gain": number(8.0, 1.0, 100.0, "largest brightening of a pixel"),
    },
    _photometry,
    "divide out the illumination/viewing law (maps only: needs backplanes)",
)
