"""Colour stages: thin adapters over :mod:`junocam.enhance` on the RGB picture in [0, 1]
(one (H, W) channel for a grey composite).

Examples
--------
The ``gamma`` stage (``out = in ** (1 / gamma)``) on a one-pixel picture; pixels
outside the state's mask are set to black:

>>> from junocam.decode import RawFrame
>>> from junocam.metadata import assumed_meta
>>> GAMMA.kind, GAMMA.params["gamma"].default
('color', 1.0)
>>> ctx = Context(RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384)), None, [])
>>> state = State(rgb=np.full((1, 2, 3), 0.25, np.float32), mask=np.array([[True, False]]))
>>> out = GAMMA.run(state, {"gamma": 2.0}, ctx)
>>> out.rgb[..., 0].round(3).tolist()
[[0.5, 0.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from ... import enhance
from ..parameters import GAIN_NAMES, Param, choice, number, whole
from ..registry import Context, StageSpec, State


def _color(
    fn: Callable[..., np.ndarray],
    masked: bool = False,
    local: bool = False,
    chromatic: bool = False,
) -> Callable[[State, Mapping[str, Any], Context], State]:
    """Adapter for a colour stage; ``local`` stages are blended in on the target only,
    ``chromatic`` ones (balance, colour matrix, saturation) skip grey composites.

    With ``ctx.in_place`` and a stage function that takes ``out`` (and ``weight``,
    for local stages) the result is written into the state's picture itself, blended
    on the target by the function a band of rows at a time: the same values without
    a second full-size picture."""

    def run(state: State, p: Mapping[str, Any], ctx: Context) -> State:
        assert state.rgb is not None
        if chromatic and state.mono:
            name = getattr(fn, "__name__", "colour stage").lstrip("_")
            ctx.notes.append(f"{name}: the composite is grey (one band); skipped")
            return state
        kwargs = dict(p)
        if masked:
            kwargs["mask"] = state.mask
        if ctx.in_place and fn in _IN_PLACE and _writable(state.rgb):
            kwargs["out"] = state.rgb
            if local:
                kwargs["weight"] = state.target
            rgb = fn(state.rgb, **kwargs)
            if state.mask is not None:
                enhance.apply_per_pixel(rgb, state.mask, _zero_where_false)
            return replace(state, rgb=rgb)
        rgb = np.asarray(fn(state.rgb, **kwargs), dtype=np.float32)
        if np.may_share_memory(rgb, state.rgb):
            rgb = rgb.copy()  # blended and masked in place below
        if local and state.target is not None:
            # w rgb + (1 - w) old, as old + w (rgb - old): no full-size temporaries
            rgb -= state.rgb
            enhance.apply_per_pixel(rgb, state.target, np.multiply)
            rgb += state.rgb
        if state.mask is not None:
            enhance.apply_per_pixel(rgb, state.mask, _zero_where_false)
        return replace(state, rgb=rgb)

    return run


def _writable(rgb: np.ndarray) -> bool:
    """A picture the stage functions can write their result into (``out=``)."""
    return rgb.dtype == np.float32 and rgb.flags.c_contiguous and rgb.flags.writeable


def _zero_where_false(rows: np.ndarray, keep: np.ndarray, out: np.ndarray) -> None:
    np.copyto(out, np.float32(0.0), where=~keep)


def _flatten(
    img: np.ndarray, sigma: float, strength: float, max_gain: float, **into: Any
) -> np.ndarray:
    return enhance.flatten_illumination(img, sigma, strength, None, 0.02, max_gain, **into)


def _clahe(
    img: np.ndarray, clip_limit: float, kernel_size: int, amount: float, **into: Any
) -> np.ndarray:
    # a grey composite (one channel) is equalised as its RGB picture would be (L*)
    return enhance.clahe(img, clip_limit, kernel_size or None, amount, grey_as_rgb=True, **into)


#: stage functions that take ``out=`` (the local ones ``weight=`` too): run in place
_IN_PLACE = (
    enhance.white_balance,
    enhance.band_weights,
    enhance.stretch,
    enhance.gamma,
    _flatten,
    _clahe,
    enhance.unsharp,
    enhance.saturation,
    enhance.defringe,
)


def _by_epoch(
    run: Callable[[State, Mapping[str, Any], Context], State], key: str
) -> Callable[[State, Mapping[str, Any], Context], State]:
    """Resolve ``key="epoch"`` to the frame's perijove's weights, then run the stage."""

    def resolved(state: State, p: Mapping[str, Any], ctx: Context) -> State:
        if p[key] != "epoch":
            return run(state, p, ctx)
        meta = ctx.frame.meta
        pj = enhance.perijove_of(meta.perijove, meta.product_id)
        w = enhance.epoch_band_weights(pj)
        if not state.mono:
            where = f"PJ{pj}" if pj is not None else "no perijove known: Gill's defaults"
            ctx.notes.append(f"band weights by epoch ({where}): R {w[0]} G {w[1]} B {w[2]}")
        return run(state, {**p, key: w}, ctx)

    return resolved


WHITE_BALANCE = StageSpec(
    "white_balance",
    "color",
    {
        "method": choice("fixed", ("fixed", "grey_world", "white_patch")),
        "gains": Param(
            "gains", "epoch", choices=GAIN_NAMES, doc="name, epoch (by perijove) or [r, g, b]"
        ),
        "percentile": number(99.0, 50.0, 100.0),
    },
    _by_epoch(_color(enhance.white_balance, masked=True, chromatic=True), "gains"),
    "per-band gains (fixed, by epoch, or measured: grey_world, white_patch)",
)


BAND_WEIGHTS = StageSpec(
    "band_weights",
    "color",
    {
        "weights": Param(
            "gains", "epoch", choices=GAIN_NAMES, doc="name, epoch (by perijove) or [r, g, b]"
        ),
    },
    _by_epoch(_color(enhance.band_weights, chromatic=True), "weights"),
    "community band weights (by default those of the frame's epoch)",
)


STRETCH = StageSpec(
    "stretch",
    "color",
    {
        "low": number(0.5, 0.0, 50.0, "black point percentile"),
        "high": number(99.5, 50.0, 100.0, "white point percentile"),
        "linked": Param("bool", True, doc="one stretch for all channels"),
        "method": choice("percentile", ("percentile", "sigma")),
        "sigma": number(3.0, 0.1, 20.0),
    },
    _color(enhance.stretch, masked=True),
    "linear black/white points",
)


GAMMA = StageSpec(
    "gamma",
    "color",
    {"gamma": number(1.0, 0.1, 10.0, ">1 brightens mid-tones")},
    _color(enhance.gamma),
    "gamma curve",
)


FILMIC = StageSpec(
    "filmic",
    "color",
    {
        "white": number(4.0, 1.0, 100.0),
        "strength": number(1.0, 0.0, 1.0),
        "curve": choice("hable", ("hable", "aces")),
    },
    _color(enhance.filmic),
    "filmic tone curve",
)


FLATTEN = StageSpec(
    "flatten",
    "color",
    {
        "sigma": number(40.0, 1.0, 500.0, "blur radius, px"),
        "strength": number(1.0, 0.0, 1.0),
        "max_gain": number(8.0, 1.0, 100.0),
    },
    _color(_flatten, local=True),
    "divide by blurred luminance (even out terminator and limb)",
)


CLAHE = StageSpec(
    "clahe",
    "color",
    {
        "clip_limit": number(0.01, 1e-4, 1.0),
        "kernel_size": whole(0, 0, 2048, "0 = auto"),
        "amount": number(1.0, 0.0, 1.0),
    },
    _color(_clahe, local=True),
    "local contrast (CLAHE on lightness)",
)


UNSHARP = StageSpec(
    "unsharp",
    "color",
    {
        "radius": number(2.0, 0.1, 50.0, "px"),
        "amount": number(0.5, 0.0, 10.0),
    },
    _color(enhance.unsharp, local=True),
    "unsharp mask",
)


SATURATION = StageSpec(
    "saturation",
    "color",
    {
        "factor": number(1.0, 0.0, 5.0),
        "vibrance": number(0.0, 0.0, 2.0),
    },
    _color(enhance.saturation, chromatic=True),
    "chroma in LCh",
)


DEFRINGE = StageSpec(
    "defringe",
    "color",
    {
        "ratio": number(
            0.08, 0.0, 0.5, "weakest to strongest channel below which a colour is implausible"
        ),
        "bright": number(0.1, 0.0, 1.0, "strongest channel at least this ([0, 1])"),
        "radius": number(3.0, 0.5, 20.0, "neighbourhood whose colour such a pixel takes, px"),
    },
    _color(enhance.defringe, masked=True, chromatic=True),
    "pixels of one or two bands only (limb rims, spills) take their neighbourhood's colour",
)


TRUE_COLOR = StageSpec(
    "true_color",
    "color",
    {
        "matrix": choice("approx", ("approx", "identity")),
    },
    _color(enhance.true_color_matrix, chromatic=True),
    "approximate JunoCam-to-sRGB matrix",
)
