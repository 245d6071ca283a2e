"""Linear clean-up stages: they work on the decompanded framelets (float32 DN, per band).

Examples
--------
The ``hot_pixels`` stage, with its default parameters, on a tiny state: one flat
green framelet with one hot pixel.

>>> from junocam.decode import RawFrame
>>> from junocam.metadata import assumed_meta
>>> HOT_PIXELS.kind, {k: p.default for k, p in HOT_PIXELS.params.items()}
('linear', {'threshold': 8.0, 'size': 3})
>>> data = np.full((1, 1, 128, 1648), 100.0, np.float32)
>>> data[0, 0, 60, 800] = 4000.0
>>> frame = RawFrame(np.zeros((128, 1648), np.uint8), assumed_meta(128, ["GREEN"]))
>>> ctx = Context(frame, calibration=None, notes=[])
>>> state = State(framelets=Framelets(data, (Filter.GREEN,)))
>>> out = HOT_PIXELS.run(state, {"threshold": 8.0, "size": 3}, ctx)
>>> float(out.framelets.data[0, 0, 60, 800]), float(data[0, 0, 60, 800])
(100.0, 4000.0)

Stages that compare exposures need three of them; with fewer they leave a note:

>>> FIXED_PATTERN.run(state, {"threshold": 5.0, "width": 5}, ctx) is state, ctx.notes
(True, ['fixed_pattern: fewer than 3 exposures; skipped'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np

from ... import calibrate
from ...errors import RecipeError
from ...framelets import Framelets
from ...metadata import Filter
from ..parameters import Param, choice, number, whole
from ..registry import Context, StageSpec, State


def _per_band(state: State, fn: Callable[[np.ndarray, Filter], np.ndarray | None]) -> State:
    """Apply ``fn(stack, band)`` to each band's (n_exp, lines, samples) stack.

    ``fn`` returns a new stack (the calibrate functions do not change their input),
    or None to keep the band as it is. One band (what the engine's band-by-band run
    gives every stage) takes ``fn``'s stack as the new framelets, without a copy of
    the input first: the input and the result are alive, not a third frame.
    """
    fr = state.framelets
    assert fr is not None
    src = np.asarray(fr.data, dtype=np.float32)
    if len(fr.filters) == 1:
        out = fn(src[:, 0], fr.filters[0])
        data = src if out is None else np.ascontiguousarray(out, dtype=np.float32)[:, None]
        return State(framelets=Framelets(data, fr.filters))
    data = np.empty(src.shape, np.float32)
    for k, band in enumerate(fr.filters):
        out = fn(src[:, k], band)
        data[:, k] = src[:, k] if out is None else out
        del out
    return State(framelets=Framelets(data, fr.filters))


def _with_calibration(
    state: State,
    ctx: Context,
    stage: str,
    kind: str,
    what: str,
    apply: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> State:
    """Apply ``apply(stack, image)`` per band with the calibration image of ``kind``;
    bands without one are left as they are, with one note saying so."""
    images = getattr(ctx.calibration, kind, {}) if ctx.calibration is not None else {}
    missing: list[str] = []

    def one(stack: np.ndarray, band: Filter) -> np.ndarray | None:
        if band not in images:
            missing.append(band.value)
            return None
        return apply(stack, images[band])

    out = _per_band(state, one)
    if missing:
        hint = "give --calibration DIR" if ctx.calibration is None else "none in the calibration"
        head, tail = f"{stage}: no {what} for ", f" ({hint}); skipped"
        # the engine runs a stage band by band with one notes list: one note for all
        for j, note in enumerate(ctx.notes):
            if note.startswith(head) and note.endswith(tail):
                missing = note[len(head) : -len(tail)].split(", ") + missing
                del ctx.notes[j]
                break
        ctx.notes.append(f"{head}{', '.join(dict.fromkeys(missing))}{tail}")
    return out


def _across_exposures(
    state: State, ctx: Context, stage: str, fn: Callable[[np.ndarray], np.ndarray]
) -> State:
    """Per-band stage that compares exposures (needs at least three; else a note)."""
    if state.framelets is not None and state.framelets.n_exposures < 3:
        ctx.notes.append(f"{stage}: fewer than 3 exposures; skipped")
        return state
    return _per_band(state, lambda s, b: fn(s))


def _black_level(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    return _per_band(state, lambda s, b: calibrate.black_level_from_dark_columns(s, p["window"]))


BLACK_LEVEL = StageSpec(
    "black_level",
    "linear",
    {"window": Param("int", 1, 1, 127, doc="lines pooled (odd)", odd=True)},
    _black_level,
    "subtract each line's dark-column level",
)


def _dark(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    return _with_calibration(
        state,
        ctx,
        "dark",
        "dark",
        "dark frame",
        lambda s, img: calibrate.subtract_dark(s, img, p["scale"]),
    )


DARK = StageSpec(
    "dark",
    "linear",
    {"scale": number(1.0, 0.0, 10.0, "dark multiplier")},
    _dark,
    "subtract the calibration dark (skipped without --calibration)",
)


def _flat(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    cal = ctx.calibration

    def one(stack: np.ndarray, band: Filter) -> np.ndarray:
        use_cal = p["source"] in ("auto", "calibration") and cal is not None and band in cal.flat
        if p["source"] == "calibration" and not use_cal:
            raise RecipeError(
                f"flat: source = 'calibration' but no flat for {band.value} was given "
                "(use --calibration DIR or source = 'auto')"
            )
        if use_cal:
            flat = cal.flat[band]  # type: ignore[union-attr]
        else:
            flat = calibrate.radial_flat_model(
                stack.shape[-2], stack.shape[-1], band, strength=p["strength"]
            )
        return calibrate.apply_flat(stack, flat)

    return _per_band(state, one)


FLAT = StageSpec(
    "flat",
    "linear",
    {
        "source": choice(
            "auto",
            ("auto", "calibration", "radial"),
            "calibration flats when given, else the radial model",
        ),
        "strength": number(2.3, 0.0, 8.0, "cos^k exponent of the radial model"),
    },
    _flat,
    "divide by the flat field (vignetting)",
)


def _inpaint(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    return _with_calibration(
        state,
        ctx,
        "inpaint",
        "mask",
        "bad-pixel mask",
        lambda s, img: calibrate.inpaint_mask(s, img, p["radius"]),
    )


INPAINT = StageSpec(
    "inpaint",
    "linear",
    {"radius": number(1.5, 0.5, 16.0, "kernel radius, px")},
    _inpaint,
    "fill calibration bad pixels from neighbours",
)


def _hot_pixels(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    return _per_band(
        state,
        lambda s, b: cast(np.ndarray, calibrate.repair_hot_pixels(s, p["threshold"], p["size"])),
    )


HOT_PIXELS = StageSpec(
    "hot_pixels",
    "linear",
    {
        "threshold": number(8.0, 3.0, 100.0, "robust sigmas above the local median"),
        "size": Param("int", 3, 3, 15, doc="median window, px (odd)", odd=True),
    },
    _hot_pixels,
    "repair hot and dead pixels",
)


def _fixed_pattern(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    return _across_exposures(
        state,
        ctx,
        "fixed_pattern",
        lambda s: cast(np.ndarray, calibrate.remove_fixed_pattern(s, p["threshold"], p["width"])),
    )


FIXED_PATTERN = StageSpec(
    "fixed_pattern",
    "linear",
    {
        "threshold": number(5.0, 1.0, 100.0, "robust sigmas of the pattern"),
        "width": Param("int", 5, 3, 31, doc="across-line median width, samples (odd)", odd=True),
    },
    _fixed_pattern,
    "remove hot pixels and TDI hot streaks fixed on the CCD",
)


def _blemishes(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    return _across_exposures(
        state,
        ctx,
        "blemishes",
        lambda s: cast(
            np.ndarray, calibrate.correct_blemishes(s, p["threshold"], p["min_depth"], p["width"])
        ),
    )


BLEMISHES = StageSpec(
    "blemishes",
    "linear",
    {
        "threshold": number(5.0, 1.0, 100.0, "robust sigmas of the gain map"),
        "min_depth": number(0.03, 0.005, 0.9, "smallest relative defect corrected"),
        "width": Param("int", 9, 3, 63, doc="across-line median, samples", odd=True),
    },
    _blemishes,
    "divide out dust shadows and cold pixels measured from the frame itself",
)


def _background(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    return _per_band(
        state,
        lambda s, b: calibrate.subtract_background(s, p["block"], p["rank"], p["quantile"]),
    )


BACKGROUND = StageSpec(
    "background",
    "linear",
    {
        "block": whole(4, 2, 16, "block side, px"),
        "rank": whole(2, 0, 15, "which darkest value of a block (2: the third darkest)"),
        "quantile": number(10.0, 0.5, 50.0, "darkest share of the blocks counted, %"),
    },
    _background,
    "subtract each framelet's background (dark current, glow) measured in the frame",
)


def _line_noise(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    return _per_band(state, lambda s, b: calibrate.remove_line_noise(s, p["window"]))


LINE_NOISE = StageSpec(
    "line_noise",
    "linear",
    {"window": whole(9, 3, 64, "lines over which the scene counts as smooth")},
    _line_noise,
    "remove each line's own offset (fine horizontal stripes)",
)


def _line_gain(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    return _across_exposures(
        state,
        ctx,
        "line_gain",
        lambda s: calibrate.correct_line_gain(s, p["min_level"], p["smooth"], p["max_change"]),
    )


LINE_GAIN = StageSpec(
    "line_gain",
    "linear",
    {
        "min_level": number(0.2, 0.0, 0.9, "only pixels above this share of the 99th percentile"),
        "smooth": number(0.0, 0.0, 16.0, "smoothing of the profile along lines, lines"),
        "max_change": number(0.3, 0.01, 0.9, "largest correction, as a fraction"),
    },
    _line_gain,
    "divide out each band's gain profile along the framelet lines (banding at joins)",
)


def _exposure(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    meta = ctx.frame.meta
    if meta.exposure_duration is None and meta.tdi_stages is None:
        ctx.notes.append("exposure: frame has no EXPOSURE_DURATION or TDI; not normalised")
        return state
    ref = p["reference_ms"] / 1000.0
    return _per_band(
        state,
        lambda s, b: calibrate.normalise_exposure(
            s, meta.exposure_duration, meta.tdi_stages, reference_s=ref
        ),
    )


EXPOSURE = StageSpec(
    "exposure",
    "linear",
    {"reference_ms": number(3.2, 0.1, 1000.0, "ms")},
    _exposure,
    "scale to a common exposure",
)


def _denoise(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    return _per_band(state, lambda s, b: calibrate.denoise(s, p["strength"], p["method"]))


DENOISE = StageSpec(
    "denoise",
    "linear",
    {
        "strength": number(0.0, 0.0, 1.0, "0 = off"),
        "method": choice("tv", ("tv", "gaussian")),
    },
    _denoise,
    "reduce noise per framelet",
)
