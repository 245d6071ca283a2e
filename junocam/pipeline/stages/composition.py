"""Compose stages: band images to one RGB float32 picture in [0, 1].

Examples
--------
The ``compose`` stage with its default parameters on two 2 x 2 band images:

>>> from junocam.decode import RawFrame
>>> from junocam.metadata import assumed_meta
>>> defaults = {k: p.default for k, p in COMPOSE.params.items()}
>>> COMPOSE.kind, defaults
('compose', {'mode': 'rgb', 'normalize': 'joint', 'percentile': 99.9})
>>> bands = {Filter.RED: np.full((2, 2), 40.0), Filter.GREEN: np.full((2, 2), 80.0)}
>>> masks = {b: np.ones((2, 2), bool) for b in bands}
>>> ctx = Context(RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384)), None, [])
>>> out = COMPOSE.run(State(bands=bands, masks=masks), defaults, ctx)
>>> out.rgb.shape, out.rgb.dtype, out.mono
((2, 2, 3), dtype('float32'), False)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ... import enhance
from ...companding import max_linear_value
from ...compose import compose_rgb, target_weight
from ...errors import GeometryError
from ...metadata import Filter
from ..parameters import choice, number
from ..registry import Context, StageSpec, State


def _unit(x: np.ndarray) -> np.ndarray:
    top = float(np.max(x)) if x.size else 0.0
    return (x / top).astype(np.float32) if top > 0 else np.zeros_like(x, dtype=np.float32)


def _union_mask(masks: Mapping[Filter, np.ndarray]) -> np.ndarray:
    m = None
    for v in masks.values():
        m = v.copy() if m is None else (m | v)
    assert m is not None
    return m


def _compose(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    assert state.bands is not None and state.masks is not None
    bands = dict(state.bands)
    if p["mode"] == "grey":
        stack = np.mean([v for v in bands.values()], axis=0)
        bands = {Filter.GREEN: stack}
    if p["normalize"] == "full_scale":
        # no statistics: the companding's full scale maps to 1
        top = max_linear_value(ctx.frame.meta.companding)
        rgb = compose_rgb(
            {k: v / top for k, v in bands.items()}, normalize="joint", percentile=100.0
        )
        peak = max(float(np.max(v)) / top for v in bands.values())
        rgb = np.clip(rgb * peak, 0.0, 1.0).astype(np.float32) if peak > 0 else rgb
    else:
        rgb = compose_rgb(bands, normalize=p["normalize"], percentile=p["percentile"])
    mask = _union_mask(state.masks)
    return State(
        bands=state.bands,
        masks=state.masks,
        fit=state.fit,
        rgb=rgb,
        mask=mask,
        target=target_weight(rgb, mask),
        mono=p["mode"] == "grey" or len(set(bands) - {Filter.METHANE}) <= 1,
    )


COMPOSE = StageSpec(
    "compose",
    "compose",
    {
        "mode": choice("rgb", ("rgb", "grey")),
        "normalize": choice(
            "joint",
            ("joint", "per-band", "full_scale"),
            "one white point, one per band, or the sensor's full scale",
        ),
        "percentile": number(99.9, 50.0, 100.0, "white point percentile"),
    },
    _compose,
    "bands to an RGB image in [0, 1]",
)


def _methane_composite(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    assert state.bands is not None and state.masks is not None
    b = state.bands
    mask = _union_mask(state.masks)
    if Filter.METHANE not in b:
        have = ", ".join(f.value for f in b)
        raise GeometryError(
            f"methane_composite needs a METHANE band; this frame has {have}",
            path=ctx.frame.path,
        )
    if Filter.RED in b and Filter.BLUE in b:
        rgb = enhance.methane_false_color(
            b[Filter.METHANE], b[Filter.RED], b[Filter.BLUE], p["low"], p["high"], mask=mask
        )
    else:
        ctx.notes.append("methane_composite: no RED/BLUE bands, methane shown as grey")
        m = enhance.stretch(_unit(b[Filter.METHANE]), p["low"], p["high"], mask=mask)
        rgb = np.repeat(m[..., None], 3, axis=-1)
    return State(
        bands=state.bands,
        masks=state.masks,
        fit=state.fit,
        rgb=rgb,
        mask=mask,
        target=target_weight(rgb, mask),
        mono=not (Filter.RED in b and Filter.BLUE in b),
    )


METHANE_COMPOSITE = StageSpec(
    "methane_composite",
    "compose",
    {
        "low": number(0.5, 0.0, 50.0),
        "high": number(99.5, 50.0, 100.0),
    },
    _methane_composite,
    "false colour: methane, red, blue as R, G, B",
)
