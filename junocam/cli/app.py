"""The ``junocam`` command group: global options, and every command attached to it.

Each command lives in its own module of this package (``frames``: info and split;
``process``: process and compare; ``pipelines``; ``simulate``; ``batch``: batch and
gallery; ``geometry``; ``maps``: map, mosaic, globe and animate; ``fetch``: fetch
and kernels; ``studio``) and uses the shared options and error handling of
:mod:`junocam.cli.options`. This module only imports them: nothing imports this
module but ``junocam.cli`` itself, so there is no cycle.

Exit codes: 0 when every frame succeeded, 1 when any frame failed, 2 on a usage
error (bad option or argument).

Examples
--------
>>> from click.testing import CliRunner
>>> CliRunner().invoke(main, ["--version"]).output.startswith("junocam, version")
True
"""

from __future__ import annotations

import click

from .._version import __version__
from ..decode import DEFAULT_MAX_PIXELS
from . import batch, fetch, frames, geometry, maps, pipelines, process, simulate, studio
from .options import CONTEXT, GlobalOptions

__all__ = ["main"]


@click.group(context_settings=CONTEXT)
@click.option("--debug", is_flag=True, help="Show the full traceback of errors.")
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Refuse input images with more pixels than this (checked before decoding).",
)
@click.version_option(__version__, prog_name="junocam")
@click.pass_context
def main(ctx: click.Context, debug: bool, max_pixels: int) -> None:
    """Turn raw NASA Juno JunoCam frames into colour pictures.

    Raw frames are the mission website's *-raw.png strips (with their
    *-Metadata.json) or PDS3 products (.LBL/.IMG).

    \b
    Examples:
      junocam info JNCE_2022186_43C00078_V01-raw.png
      junocam split JNCE_2022186_43C00078_V01-raw.png -o bands/
      junocam process raw/*/*-raw.png -o out/
      junocam --debug process broken-raw.png -o out/
    """
    ctx.obj = GlobalOptions(debug=debug, max_pixels=max_pixels)


for _command in (
    frames.info,
    frames.split_cmd,
    process.process,
    process.compare,
    pipelines.pipelines_cmd,
    simulate.simulate,
    batch.batch_cmd,
    batch.gallery_cmd,
    geometry.geometry_cmd,
    maps.map_cmd,
    maps.mosaic_cmd,
    maps.globe_cmd,
    maps.animate_cmd,
    fetch.fetch_cmd,
    fetch.kernels_cmd,
    studio.studio_cmd,
):
    main.add_command(_command)
