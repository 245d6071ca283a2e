"""Compose stages: band images to one RGB float32 picture in [0, 1].

Examples
--------
The ``compose`` stage with its default parameters on two 2 x 2 band images:

>>> from junocam.decode import RawFrame
>>> from junocam.metadata import assumed_meta
>>> defaults = {k: p.default for k, p in COMPOSE.params.items()}
>>> COMPOSE.kind, defaults
('compose', {'mode': 'rgb', 'normalize': 'joint', 'percentile': 99.9, 'coverage': 'all', \
'feather': 4.0, 'straighten': 256, 'hide_bleed': True})
>>> bands = {Filter.RED: np.full((2, 2), 40.0), Filter.GREEN: np.full((2, 2), 80.0)}
>>> masks = {b: np.ones((2, 2), bool) for b in bands}
>>> ctx = Context(RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384)), None, [])
>>> out = COMPOSE.run(State(bands=bands, masks=masks), defaults, ctx)
>>> out.rgb.shape, out.rgb.dtype, out.mono
((2, 2, 3), dtype('float32'), False)

One band makes a grey composite, kept as one channel:

>>> grey = COMPOSE.run(State(bands={Filter.RED: bands[Filter.RED]}, masks=masks), defaults, ctx)
>>> grey.rgb.shape, grey.mono
((2, 2), True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np

from ... import enhance
from ...companding import max_linear_value
from ...compose import (
    band_coverage,
    compose_rgb,
    fill_where,
    saturation_bleed,
    target_weight,
)
from ...errors import GeometryError
from ...metadata import Filter
from ..parameters import Param, choice, number, whole
from ..registry import Context, StageSpec, State


def _unit(x: np.ndarray) -> np.ndarray:
    top = float(np.max(x)) if x.size else 0.0
    return (x / top).astype(np.float32) if top > 0 else np.zeros_like(x, dtype=np.float32)


def _coverage(
    masks: Mapping[Filter, np.ndarray], p: Mapping[str, Any], used: tuple[Filter, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The composite's mask and opacity from the bands it uses (see band_coverage)."""
    return band_coverage(
        [masks[b] for b in used], p["feather"], mode=p["coverage"], straighten=p["straighten"]
    )


def _without_bleed(
    bands: Mapping[Filter, np.ndarray],
    masks: Mapping[Filter, np.ndarray],
    p: Mapping[str, Any],
    used: tuple[Filter, ...],
) -> dict[Filter, np.ndarray]:
    """Band masks with one band's saturation spill taken out (see saturation_bleed)."""
    if not p["hide_bleed"] or len(used) < 2:
        return dict(masks)
    both = np.logical_and.reduce([masks[b] for b in used])
    bleed = saturation_bleed([bands[b] for b in used], both)
    return {b: (m & ~bleed) if b in used else m for b, m in masks.items()}


def _composed(
    state: State, rgb: np.ndarray, mask: np.ndarray, alpha: np.ndarray, mono: bool
) -> State:
    """The state after a compose stage: black outside the coverage, the target weighed.

    A grey composite (``mono``: its three channels are one band) is kept as one
    (H, W) channel through the colour stages; the result is made RGB at the end.
    """
    if mono and rgb.ndim == 3:
        rgb = np.ascontiguousarray(rgb[..., 0])
    fill_where(rgb, ~mask, 0.0)
    return State(
        bands=state.bands,
        masks=state.masks,
        fit=state.fit,
        rgb=rgb,
        mask=mask,
        alpha=alpha,
        target=target_weight(rgb, mask),
        mono=mono,
    )


#: the coverage parameters both compose stages take
_COVERAGE_PARAMS = {
    "coverage": choice(
        "all",
        ("all", "any"),
        "colour only where every band has data (all), or keep partial coverage (any)",
    ),
    "feather": number(4.0, 0.0, 64.0, "ramp of the coverage edge, px"),
    "straighten": whole(
        256, 0, 4096, "rows over which the side edges' staircase is cut off (0: keep it)"
    ),
    "hide_bleed": Param(
        "bool", True, doc="treat one band's saturation spill past the limb as no data"
    ),
}


def _compose(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    assert state.bands is not None and state.masks is not None
    bands = dict(state.bands)
    if p["mode"] == "grey":
        bands = {Filter.GREEN: np.mean([v for v in bands.values()], axis=0)}
    if p["normalize"] == "full_scale":
        # no statistics: the companding's full scale maps to 1
        top = max_linear_value(ctx.frame.meta.companding)
        rgb = compose_rgb(
            {k: v / top for k, v in bands.items()},
            normalize="joint",
            percentile=100.0,
            one_channel=True,
        )
        peak = max(float(np.max(v)) / top for v in bands.values())
        rgb = np.clip(rgb * peak, 0.0, 1.0).astype(np.float32) if peak > 0 else rgb
    else:
        rgb = compose_rgb(
            bands, normalize=p["normalize"], percentile=p["percentile"], one_channel=True
        )
    used = tuple(state.bands)
    grey = p["mode"] == "grey" or len(set(bands) - {Filter.METHANE}) <= 1
    masks = _without_bleed(state.bands, state.masks, p, used)
    if ctx.release_bands:  # the engine's own dict: the bands are not needed any more
        bands.clear()
        cast(dict, state.bands).clear()
    mask, alpha = _coverage(masks, p, used)
    del masks
    return _composed(state, rgb, mask, alpha, mono=grey)


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
        **_COVERAGE_PARAMS,
    },
    _compose,
    "bands to an RGB image in [0, 1]",
)


def _methane_composite(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    assert state.bands is not None and state.masks is not None
    b = state.bands
    if Filter.METHANE not in b:
        have = ", ".join(f.value for f in b)
        raise GeometryError(
            f"methane_composite needs a METHANE band; this frame has {have}",
            path=ctx.frame.path,
        )
    used = tuple(f for f in (Filter.METHANE, Filter.RED, Filter.BLUE) if f in b)
    if len(used) != 3:
        used = (Filter.METHANE,)
    mask, alpha = _coverage(_without_bleed(b, state.masks, p, used), p, used)
    if Filter.RED in b and Filter.BLUE in b:
        rgb = enhance.methane_false_color(
            b[Filter.METHANE], b[Filter.RED], b[Filter.BLUE], p["low"], p["high"], mask=mask
        )
    else:
        ctx.notes.append("methane_composite: no RED/BLUE bands, methane shown as grey")
        rgb = enhance.stretch(_unit(b[Filter.METHANE]), p["low"], p["high"], mask=mask)
    return _composed(state, rgb, mask, alpha, mono=not (Filter.RED in b and Filter.BLUE in b))


METHANE_COMPOSITE = StageSpec(
    "methane_composite",
    "compose",
    {
        "low": number(0.5, 0.0, 50.0),
        "high": number(99.5, 50.0, 100.0),
        **_COVERAGE_PARAMS,
    },
    _methane_composite,
    "false colour: methane, red, blue as R, G, B",
)
