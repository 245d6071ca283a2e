"""The geometry stage: every band onto one grid (spin cylinder, perspective, naive or a map).

Examples
--------
>>> STITCH.kind, STITCH.params["geometry"].default, STITCH.params["geometry"].choices
('geometry', 'cylinder', ('cylinder', 'perspective', 'naive'))

With a projector in the context (``junocam map``), the stage hands the framelets to
it instead of stitching; here a stand-in projector that keeps the first framelet:

>>> from types import SimpleNamespace
>>> from junocam.decode import RawFrame
>>> from junocam.metadata import Filter, assumed_meta
>>> frame = RawFrame(np.zeros((128, 1648), np.uint8), assumed_meta(128, ["GREEN"]))
>>> def projector(fr):
...     band = np.asarray(fr.band(Filter.GREEN)[0])
...     return SimpleNamespace(bands={Filter.GREEN: band}, masks={Filter.GREEN: band > 0},
...                            backplanes=None)
>>> ctx = Context(frame, None, [], projector=projector)
>>> params = {k: p.default for k, p in STITCH.params.items()}
>>> out = STITCH.run(State(framelets=frame.framelets), params, ctx)
>>> out.bands[Filter.GREEN].shape, ctx.notes
((128, 1648), ['stitch: replaced by the map projection'])
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...compose import naive_band_images, naive_band_offsets, shift_bands
from ...framelets import Framelets
from ...geometry import GeometryOptions, stitch_frame
from ...rank import all_finite
from ...spinfit import JunoCamWarning
from ..parameters import Param, choice, number, whole
from ..registry import Context, StageSpec, State


def _stitch(state: State, p: Mapping[str, Any], ctx: Context) -> State:
    fr = state.framelets
    assert fr is not None
    # no frame-size mask (the size of the raw frame, alive through the spin fit)
    # unless there is something to mask
    if not all_finite(fr.data):
        # a linear stage made NaN or infinity: do not spread it over the grid
        bad = ~np.isfinite(fr.data)
        ctx.notes.append(f"stitch: {int(bad.sum())} non-finite samples set to 0")
        fr = Framelets(np.where(bad, 0.0, fr.data).astype(np.float32), fr.filters)
        del bad
    meta = ctx.frame.meta
    if ctx.projector is not None:
        projected = ctx.projector(fr)
        ctx.notes.append("stitch: replaced by the map projection")
        return State(bands=projected.bands, masks=projected.masks, backplanes=projected.backplanes)
    if p["geometry"] == "naive":
        if ctx.resampler is not None:
            ctx.notes.append("stitch: naive stacking does not use the SPICE geometry")
        bands = naive_band_images(fr, photoactive=True)
        offsets = naive_band_offsets(
            bands, interframe_delay=meta.interframe_delay, framelet_lines=fr.framelet_lines
        )
        aligned = shift_bands(bands, offsets)
        masks = {b: np.isfinite(v) for b, v in aligned.items()}
        aligned = {b: np.nan_to_num(v, nan=0.0).astype(np.float32) for b, v in aligned.items()}
        return State(bands=aligned, masks=masks)
    opts = GeometryOptions(
        grid=p["geometry"],
        fit_spin=p["fit_spin"],
        fov_deg=p["fov_deg"] or None,
        size=p["size"] or None,
        scale=p["scale"],
        order=p["order"],
        feather=p["feather"],
        trim_lines=p["trim_lines"],
        center=None
        if p["center_row"] < 0 or p["center_col"] < 0
        else (p["center_row"], p["center_col"]),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", JunoCamWarning)
        out = stitch_frame(
            fr, meta.interframe_delay, opts, spin_fit=ctx.spin_fit, resample=ctx.resampler
        )
    for w in caught:
        ctx.notes.append(f"stitch: {w.message}")
    if ctx.resampler is not None:
        ctx.notes.append("stitch: rendered from the SPICE geometry (each exposure's position)")
    return State(bands=out.result.bands, masks=out.result.masks, fit=out.fit)


STITCH = StageSpec(
    "stitch",
    "geometry",
    {
        "geometry": choice(
            "cylinder",
            ("cylinder", "perspective", "naive"),
            "spin cylinder, virtual camera on the target, or naive stacking",
        ),
        "fit_spin": Param("bool", True, doc="self-calibrate the spin from overlaps"),
        "fov_deg": number(0.0, 0.0, 169.0, "perspective field of view; 0 = fit the target"),
        "size": whole(0, 0, 20000, "perspective output size, px; 0 = native"),
        "scale": number(1.0, 0.05, 8.0, "output px per detector px (0.5 = half size)"),
        "order": whole(1, 1, 3, "interpolation: 1 bilinear, 3 cubic"),
        "feather": number(8.0, 0.0, 64.0, "blend ramp at framelet edges, lines"),
        "trim_lines": whole(0, 0, 16, "lines dropped at framelet edges"),
        "center_row": number(-1.0, -1.0, 1e6, "cylinder row to look at; -1 = target"),
        "center_col": number(-1.0, -1.0, 1e6, "cylinder column to look at; -1 = target"),
    },
    _stitch,
    "put every band on one grid",
)
