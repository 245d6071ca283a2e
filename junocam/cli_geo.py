"""Planet-geometry commands of the ``junocam`` CLI: ``geometry`` (and ``map``).

Kept apart from :mod:`junocam.cli` so the SPICE-dependent commands stay together;
they are registered on the same ``junocam`` group and share its error handling.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from .cli import (
    _CONTEXT,
    GlobalOptions,
    _check_single,
    _filters_option,
    _for_each,
    _load,
    _metadata_option,
    main,
)
from .metadata import Filter

__all__ = ["geometry_cmd"]


def _kernels_option(required: bool = True) -> Any:
    return click.option(
        "--kernels",
        "kernel_paths",
        multiple=True,
        required=required,
        type=click.Path(exists=True, path_type=str),
        metavar="PATH",
        help="SPICE meta-kernel, kernel file or folder of kernels (repeatable). "
        "Needs an LSK, a PCK and an SPK covering the frame; a CK adds the attitude.",
    )


@main.command("geometry", context_settings=_CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=click.Path(path_type=str))
@_kernels_option()
@_metadata_option
@_filters_option
@click.option(
    "--time-offset",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds added to every exposure time (start-time correction).",
)
@click.pass_context
def geometry_cmd(
    ctx: click.Context,
    frames: Sequence[str],
    kernel_paths: Sequence[str],
    metadata: str | None,
    filters: Sequence[Filter] | None,
    time_offset: float,
) -> None:
    """Print the sub-spacecraft point of every exposure of FRAMES as JSON.

    Latitude is planetographic, longitude System III west, altitude above the
    reference ellipsoid; each exposure is evaluated at mid-exposure with light-time
    and aberration correction. When the frame's metadata gives the sub-spacecraft
    point, "metadata_match" names the best-matching exposure and the differences.

    \b
    Examples:
      junocam geometry frame-raw.png --kernels kernels/
      junocam geometry a.png b.png --kernels juno.tm
    """
    from .spice import KernelSet, geometry_report

    _check_single(metadata, frames)
    opts: GlobalOptions = ctx.obj
    kernels = None

    def one(path: str) -> None:
        nonlocal kernels
        if kernels is None:
            kernels = KernelSet.from_path(list(kernel_paths))
        frame = _load(path, metadata, filters, opts)
        click.echo(json.dumps(geometry_report(frame.meta, kernels, time_offset), indent=2))

    _for_each(ctx, frames, one)
