"""``junocam geometry``: SPICE geometry of frames (sub-spacecraft point, ranges, Sun).

Needs the optional ``spiceypy`` (``pip install 'junocam[spice]'``) and kernels.

Examples
--------
>>> from click.testing import CliRunner
>>> "--kernels" in CliRunner().invoke(geometry_cmd, ["--help"]).output
True
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
import numpy as np

from ..errors import JunoCamError
from ..metadata import Filter
from .options import (
    CONTEXT,
    GlobalOptions,
    check_single,
    filters_option,
    for_each,
    kernels_option,
    load_frame,
    metadata_option,
    target_option,
)


@click.command("geometry", context_settings=CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=str))
@kernels_option()
@metadata_option
@filters_option
@target_option
@click.option(
    "--time-offset",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds added to every exposure time (start-time correction).",
)
@click.option(
    "--navigate",
    is_flag=True,
    help="Without a CK, fit the attitude to the target's limb (as map does: spin "
    'self-calibration, then navigation) so that "bodies" says which are in view.',
)
@click.pass_context
def geometry_cmd(
    ctx: click.Context,
    frames: Sequence[str],
    kernel_paths: Sequence[str],
    metadata: str | None,
    filters: Sequence[Filter] | None,
    target: str | None,
    time_offset: float,
    navigate: bool,
) -> None:
    """Print the sub-spacecraft point of every exposure of FRAMES as JSON.

    The target is the frame's TARGET_NAME or --target (Jupiter, Io, Europa,
    Ganymede, Callisto); "target" gives its NAIF id, frame, radii and convention.
    Latitude is planetographic, longitude west-positive (System III for Jupiter, the
    IAU prime meridian for a moon), altitude above the reference ellipsoid; each
    exposure is evaluated at mid-exposure with light-time and aberration
    correction. When the frame's metadata gives the sub-spacecraft point,
    "metadata_match" names the best-matching exposure and the differences.
    "bodies" lists the other moons the kernels have and, with a CK or --navigate,
    whether the frame sees them ("attitude" says where the attitude came from;
    several frames of one close moon flyby are navigated together, tied to one spin
    axis: "tied_frames" says how many).

    \b
    Examples:
      junocam geometry frame-raw.png --kernels kernels/
      junocam geometry a.png b.png --kernels juno.tm
      junocam geometry io-raw.png --kernels kernels/ --target IO
      junocam geometry frame-raw.png --kernels kernels/ --navigate
      junocam geometry io-1.png io-2.png --kernels kernels/ --navigate  # tied: one spin axis
    """
    from ..planet.spice import KernelSet, geometry_report

    check_single(metadata, frames)
    opts: GlobalOptions = ctx.obj
    kernels = None
    tied: dict[str, Any] = {}
    if navigate and len(frames) > 1:
        # the frames without a CK navigated first, so that those of one close moon
        # flyby are navigated together (one spin axis); a frame that fails here fails
        # again, and is reported, in its turn
        try:
            kernels = KernelSet.from_path(list(kernel_paths))
        except JunoCamError:
            kernels = None  # reported with each frame, as for one frame
        if kernels is not None:
            tied = _tied(frames, kernels, metadata, opts.max_pixels, time_offset, target)

    def one(path: str) -> None:
        nonlocal kernels
        if kernels is None:
            kernels = KernelSet.from_path(list(kernel_paths))
        frame = load_frame(path, metadata, filters, opts)
        rep = geometry_report(frame.meta, kernels, time_offset, target)
        if navigate and rep["attitude"] is None:  # a CK's attitude needs no navigation
            geo = tied.get(path)
            attitude = (
                _pointing_attitude(geo.navigation, frame.meta.n_exposures)
                if geo is not None
                else _navigated_attitude(frame, kernels, time_offset, target)
            )
            rep = geometry_report(frame.meta, kernels, time_offset, target, attitude)
            if geo is not None:
                rep["tied_frames"] = geo.navigation.tied_frames
        click.echo(json.dumps(rep, indent=2))

    for_each(ctx, frames, one)


def _tied(
    frames: Sequence[str],
    kernels: Any,
    metadata: str | None,
    max_pixels: int,
    time_offset: float,
    target: str | None,
) -> dict[str, Any]:
    """Geometries of the frames without a CK, a close moon flyby's tied together."""
    from ..decode import read_frame
    from ..maps.frame import frame_geometries
    from ..planet.spice import geometry_report

    free = []
    for path in frames:
        try:
            meta = read_frame(path, metadata, max_pixels=max_pixels).meta
            if geometry_report(meta, kernels, time_offset, target)["attitude"] is None:
                free.append(path)
        except JunoCamError:
            continue
    return frame_geometries(
        free,
        kernels,
        mode="limb",
        time_offset=time_offset,
        target=target,
        metadata=metadata,
        max_pixels=max_pixels,
    )


def _navigated_attitude(
    frame: Any, kernels: Any, time_offset: float, target: str | None
) -> np.ndarray | None:
    """Camera-to-J2000 per exposure fitted to the limb (the kernels have no CK)."""
    from ..maps.frame import frame_geometry

    geo = frame_geometry(frame, kernels, mode="limb", time_offset=time_offset, target=target)
    return _pointing_attitude(geo.navigation, frame.meta.n_exposures)


def _pointing_attitude(nav: Any, n_exposures: int) -> np.ndarray | None:
    """Camera-to-J2000 per exposure of a navigation without a CK (None with one)."""
    if nav is None or nav.pointing is None:
        return None
    return nav.pointing.camera_to_j2000(np.arange(n_exposures))
