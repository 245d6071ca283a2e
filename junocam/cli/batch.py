"""``junocam batch`` and ``junocam gallery``: many frames, resumable, and their web page.

Examples
--------
>>> from click.testing import CliRunner
>>> "--jobs" in CliRunner().invoke(batch_cmd, ["--help"]).output
True
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import JunoCamError, OutputError
from .options import (
    CONTEXT,
    GlobalOptions,
    calibration_option,
    format_option,
    load_default_or_named,
    out_option,
    recipe_options,
    report,
)


@click.command("batch", context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, type=str)
@out_option
@recipe_options
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Parallel workers (default: every core; with --address, the cluster's threads).",
)
@click.option("--force", is_flag=True, help="Redo frames that are already done.")
@click.option(
    "--scheduler",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="A local process pool, or dask.distributed (pip install 'junocam[dask]').",
)
@click.option(
    "--address",
    metavar="tcp://HOST:PORT",
    help="Dask scheduler to use with --scheduler dask (default: start a local cluster).",
)
@click.option("--gallery", "make_gallery", is_flag=True, help="Also write OUT/index.html.")
@format_option
@calibration_option
@click.pass_context
def batch_cmd(
    ctx: click.Context,
    inputs: tuple[str, ...],
    out_dir: Path,
    pipeline_name: str,
    overrides: tuple[str, ...],
    jobs: int | None,
    force: bool,
    scheduler: str,
    address: str | None,
    make_gallery: bool,
    fmt: str,
    calibration: str | None,
) -> None:
    """Process many frames in parallel, resumably, with a manifest.

    INPUTS are raw images, folders (searched recursively for *.png, *.LBL, *.IMG)
    or quoted glob patterns. Each image is paired with its metadata and processed
    exactly as `junocam process` would, one frame per worker at a time. Every
    result (input hashes, recipe digest, status, error, fitted spin, timings,
    outputs) is appended to OUT/manifest.jsonl.

    Re-running the same command skips frames that are done with the same inputs
    and recipe; --force redoes them. A failing frame, or one whose worker dies,
    is recorded as failed and the others go on; the exit code is then 1.

    \b
    Examples:
      junocam batch raw/ -o out/ --pipeline enhanced
      junocam batch 'raw/**/*-raw.png' -o out/ --jobs 4 --gallery
      junocam batch raw/ -o out/ --scheduler dask --address tcp://10.0.0.5:8786
    """
    from .. import batch

    opts: GlobalOptions = ctx.obj
    if address and scheduler != "dask":
        raise click.UsageError("--address needs --scheduler dask")
    load_default_or_named(pipeline_name, overrides)  # usage error (exit 2) on a bad recipe
    config = batch.BatchConfig(
        out_dir=str(out_dir),
        recipe=pipeline_name or "default",
        overrides=tuple(overrides),
        fmt=fmt,
        calibration=calibration,
        max_pixels=opts.max_pixels,
    )
    frames = batch.discover(inputs, exclude=out_dir)
    if not frames:
        report(" ".join(inputs), OutputError("no raw images found"), opts.debug)
        ctx.exit(1)
    try:
        summary = batch.run_batch(
            frames,
            config,
            jobs=jobs,
            force=force,
            scheduler=scheduler,
            address=address,
            progress=batch.make_progress,
        )
        if make_gallery:
            from ..batch.gallery import write_gallery

            click.echo(f"gallery: {write_gallery(out_dir)}")
    except JunoCamError as err:
        report(str(out_dir), err, opts.debug)
        ctx.exit(1)
    click.echo("\n".join(batch.summary_lines(summary)))
    if summary.interrupted:
        click.echo("interrupted: re-run the same command to finish the batch", err=True)
        ctx.exit(130)
    if summary.failed:
        ctx.exit(1)


@click.command("gallery", context_settings=CONTEXT)
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--title", help="Page title (default: the folder name).")
@click.option(
    "--thumb-size",
    type=click.IntRange(32, 2000),
    default=320,
    show_default=True,
    help="Thumbnail size, px (largest side).",
)
@click.pass_context
def gallery_cmd(ctx: click.Context, out_dir: Path, title: str | None, thumb_size: int) -> None:
    """Write OUT_DIR/index.html: thumbnails, metadata and links for a batch's images.

    The page uses relative links only, so it opens from the file system.

    \b
    Examples:
      junocam gallery out/
      junocam gallery out/ --title "Perijove 43" --thumb-size 480
    """
    from ..batch.gallery import write_gallery

    opts: GlobalOptions = ctx.obj
    try:
        page = write_gallery(out_dir, title=title, size=thumb_size)
    except JunoCamError as err:
        report(str(out_dir), err, opts.debug)
        ctx.exit(1)
    click.echo(f"wrote {page}")
