"""``junocam studio``: tune a look in the browser with a live preview.

The web stack (Starlette, uvicorn) is the optional extra ``junocam[studio]``; it is
imported only when the command runs, so the rest of the command line works
without it, and without it the command says how to install it.

Examples
--------
>>> from click.testing import CliRunner
>>> "--no-browser" in CliRunner().invoke(studio_cmd, ["--help"]).output
True
"""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from ..errors import JunoCamError
from .options import CONTEXT, GlobalOptions, report

INSTALL_HINT = (
    "the studio needs the optional web stack: pip install 'junocam[studio]' (Starlette and uvicorn)"
)


@click.command("studio", context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, type=click.Path(exists=True, path_type=str))
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("studio-out"),
    show_default=True,
    help="The only folder the studio writes into (created if missing).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but 127.0.0.1 exposes your frames to the network.",
)
@click.option("--no-browser", is_flag=True, help="Do not open the page in a browser.")
@click.option(
    "--preview-scale",
    type=click.FloatRange(0.05, 1.0),
    default=0.4,
    show_default=True,
    help="Default preview scale (output pixels per full-resolution pixel).",
)
@click.option(
    "--jobs", type=click.IntRange(min=1), help="Batch worker processes [default: every core]."
)
@click.pass_context
def studio_cmd(
    ctx: click.Context,
    inputs: tuple[str, ...],
    out_dir: Path,
    port: int,
    host: str,
    no_browser: bool,
    preview_scale: float,
    jobs: int | None,
) -> None:
    """Tune a recipe in the browser with a live preview, then process at full resolution.

    Serves only the given FRAMES and FOLDERS (searched recursively for raw frames)
    and writes only into --out. The page shows the frames, a recipe picker, one
    control per stage parameter, a live before/after preview, the image after each
    stage, TOML export, full-resolution processing and batches with progress.

    \b
    Examples:
      junocam studio raw/ -o out/
      junocam studio JNCE_2022229_44C00029_V01-raw.png --port 9000 --no-browser
    """
    opts: GlobalOptions = ctx.obj or GlobalOptions()
    try:
        from ..studio.app import StudioConfig, serve
    except ImportError as err:
        if getattr(err, "name", None) in ("starlette", "uvicorn") or "starlette" in str(err):
            click.echo(f"error: {INSTALL_HINT}", err=True)
            ctx.exit(2)
        raise
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        click.echo(f"error: {INSTALL_HINT}", err=True)
        ctx.exit(2)
    config = StudioConfig(
        inputs=tuple(inputs),
        out_dir=out_dir,
        host=host,
        port=port,
        preview_scale=preview_scale,
        max_pixels=opts.max_pixels,
        jobs=jobs,
    )

    def ready(url: str) -> None:
        click.echo(
            f"junocam studio: {url} (serving {len(inputs)} input(s), writing to {out_dir}; "
            "Ctrl-C stops)",
            err=True,
        )
        if not no_browser:
            webbrowser.open(url)

    try:
        serve(config, on_ready=ready)
    except JunoCamError as err:
        report(str(out_dir), err, opts.debug)
        ctx.exit(1)
