"""``junocam fetch`` and ``junocam kernels``: raw frames and SPICE kernels from the servers.

Both need ``httpx`` (``pip install 'junocam[fetch]'``). Every download is cached,
resumable and checked (see :mod:`junocam.fetch.http`); a failure prints one line and
the same command, run again, resumes.

Examples
--------
>>> from click.testing import CliRunner
>>> "--perijove" in CliRunner().invoke(fetch_cmd, ["--help"]).output
True
>>> "--server" in CliRunner().invoke(kernels_cmd, ["--help"]).output
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import click

from ..errors import FetchError, JunoCamError
from .options import CONTEXT, GlobalOptions, out_option, report


def _network_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(
        [
            click.option(
                "--server",
                metavar="URL",
                help="Use this server or mirror instead of the default one (see the command's "
                "help for what the URL must point at).",
            ),
            click.option(
                "--offline",
                is_flag=True,
                help="Use the download cache only; fail, naming the file, when something "
                "is missing.",
            ),
            click.option(
                "--cache-dir",
                type=click.Path(file_okay=False, path_type=Path),
                help="Download cache [default: $JUNOCAM_CACHE_DIR, else the platform's user "
                "cache folder].",
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(0.1, 3600.0),
                default=30.0,
                show_default=True,
                help="Seconds to wait for a connection or for more data.",
            ),
            click.option(
                "--retries",
                type=click.IntRange(0, 20),
                default=4,
                show_default=True,
                help="Further attempts after a server error, a dropped connection or a "
                "timeout (with exponential backoff; a partial file is resumed).",
            ),
        ]
    ):
        f = opt(f)
    return f


def _downloader(offline: bool, cache_dir: Path | None, timeout: float, retries: int) -> Any:
    from ..fetch import Cache, Downloader, DownloadProgress
    from ..fetch.http import require_httpx

    if not offline:
        try:
            require_httpx()
        except FetchError as err:
            click.echo(f"error: {err}", err=True)
            raise click.exceptions.Exit(1) from None

    progress = DownloadProgress()
    dl = Downloader(
        Cache(cache_dir), offline=offline, timeout=timeout, retries=retries, progress=progress
    )
    return dl, progress


def _parse_day(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%Y-%j"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD or YYYY-DDD)")


@click.command("fetch", context_settings=CONTEXT)
@click.argument("ids", nargs=-1, type=str)
@out_option
@click.option(
    "--perijove",
    "perijoves",
    multiple=True,
    type=click.IntRange(0, 999),
    metavar="N",
    help="Every frame of perijove N (repeatable).",
)
@click.option("--from", "date_from", callback=_parse_day, metavar="DATE", help="First day (UTC).")
@click.option("--to", "date_to", callback=_parse_day, metavar="DATE", help="Last day (UTC).")
@click.option(
    "--source",
    type=click.Choice(["website", "pds"]),
    default="website",
    show_default=True,
    help="The mission website (raw PNG + metadata JSON) or the PDS archive (.LBL + .IMG).",
)
@_network_options
@click.pass_context
def fetch_cmd(
    ctx: click.Context,
    ids: tuple[str, ...],
    out_dir: Path,
    perijoves: tuple[int, ...],
    date_from: date | None,
    date_to: date | None,
    source: str,
    server: str | None,
    offline: bool,
    cache_dir: Path | None,
    timeout: float,
    retries: int,
) -> None:
    """Download raw frames into OUT/<product_id>/, ready for process and batch.

    IDS are product ids (JNCE_2022186_43C00080_V01) or, from the website, its
    numeric image ids (13539). --perijove and --from/--to select every frame of a
    pass or of a range of days (with IDS or alone).

    From the website each frame is its raw PNG and metadata JSON (from the image's
    ImageSet and DataSet zips); from the PDS archive, its .LBL and .IMG. Beside them,
    <product_id>.fetch.json records the ids, URLs, sizes and checksums. Frames that
    are complete are skipped; a failed or interrupted run resumes when run again.

    --server is the website's root (default https://www.missionjuno.swri.edu), or
    for --source pds the folder holding the JNOJNC_NNNN volumes (default
    https://planetarydata.jpl.nasa.gov/img/data/juno).

    \b
    Examples:
      junocam fetch --perijove 43 -o raw/
      junocam fetch JNCE_2022186_43C00080_V01 13541 -o raw/
      junocam fetch --source pds --from 2022-07-05 --to 2022-07-06 -o raw/
      junocam batch raw/ -o out/
    """
    from ..fetch import pds, website
    from ..fetch.frames import FetchedFrame, complete_record, parse_product_id

    opts: GlobalOptions = ctx.obj
    if date_from and date_to and date_to < date_from:
        raise click.UsageError("--to is before --from")
    product_ids: list[str] = []
    image_ids: list[int] = []
    for text in ids:
        if text.strip().isdigit():
            image_ids.append(int(text))
        elif parse_product_id(text) is not None:
            product_ids.append(text.strip())
        else:
            raise click.BadParameter(
                f"{text!r} is neither a product id (JNCE_2022186_43C00080_V01) nor a "
                "website image id (a number)",
                param_hint="IDS",
            )
    if image_ids and source == "pds":
        raise click.UsageError("website image ids (numbers) need --source website")
    if not (ids or perijoves or date_from or date_to):
        raise click.UsageError("say what to fetch: IDS, --perijove or --from/--to")
    url = server or (website.DEFAULT_SERVER if source == "website" else pds.DEFAULT_SERVER)
    url = url.rstrip("/")
    out_dir.mkdir(parents=True, exist_ok=True)

    failed = 0

    def on_error(what: str, err: Exception) -> None:
        nonlocal failed
        failed += 1
        report(what, err, opts.debug)

    done: list[FetchedFrame] = []
    # frames named by product id that are complete need no server at all
    todo_ids = []
    for pid in product_ids:
        have = complete_record(out_dir, pid)
        if have is not None:
            done.append(have)
        else:
            todo_ids.append(pid)
    dl, progress = _downloader(offline, cache_dir, timeout, retries)
    jobs: list[tuple[str, Callable[[], FetchedFrame]]] = []
    with dl, progress:
        try:
            if source == "website":
                pages = website.find_images(
                    dl,
                    url,
                    product_ids=tuple(todo_ids),
                    image_ids=tuple(image_ids),
                    perijoves=perijoves,
                    date_from=date_from,
                    date_to=date_to,
                    on_error=on_error,
                )
                for page in pages:
                    jobs.append(
                        (page.product_id, partial(website.fetch_image, dl, url, page, out_dir))
                    )
            else:
                rows = pds.find_products(
                    dl,
                    url,
                    product_ids=tuple(todo_ids),
                    perijoves=perijoves,
                    date_from=date_from,
                    date_to=date_to,
                    on_error=on_error,
                )
                for row in rows:
                    jobs.append((row.product_id, partial(pds.fetch_product, dl, url, row, out_dir)))
        except JunoCamError as err:
            on_error(url, err)
        if not jobs and not done and not failed:
            on_error(url, FetchError("nothing matches the selection"))
        # two frames at a time: with the per-host limit, at most two connections
        pool = ThreadPoolExecutor(max_workers=2)
        futures = [(what, pool.submit(job)) for what, job in jobs]
        try:
            for what, fut in futures:
                try:
                    done.append(fut.result())
                except Exception as err:  # noqa: BLE001 - one frame must not stop the others
                    on_error(what, err)
        except KeyboardInterrupt:
            dl.cancel()  # transfers stop at their next block; partial files are kept
            pool.shutdown(wait=True, cancel_futures=True)
            click.echo("interrupted: re-run the same command to resume", err=True)
            ctx.exit(130)
        pool.shutdown()
    fetched = sum(not f.skipped for f in done)
    for f in sorted(done, key=lambda f: f.product_id):
        state = "already there" if f.skipped else "fetched"
        click.echo(f"{f.product_id}: {state}: {f.entry}")
    summary = f"{fetched} fetched, {len(done) - fetched} already there, {failed} failed"
    hint = " (the same command again retries what failed and skips what is done)"
    click.echo(summary + (hint if failed else ""))
    if failed:
        ctx.exit(1)


@click.command("kernels", context_settings=CONTEXT)
@click.argument("frames", nargs=-1, required=True, type=str)
@out_option
@click.option(
    "--name",
    metavar="NAME.tm",
    help="File name of the meta-kernel [default: juno_<first day>_<last day>.tm].",
)
@_network_options
@click.pass_context
def kernels_cmd(
    ctx: click.Context,
    frames: Sequence[str],
    out_dir: Path,
    name: str | None,
    server: str | None,
    offline: bool,
    cache_dir: Path | None,
    timeout: float,
    retries: int,
) -> None:
    """Download the SPICE kernels that cover FRAMES and write a meta-kernel OUT/*.tm.

    Chosen from NAIF's tree by the frames' times: the newest LSK and PCK, the Juno
    frames, JunoCam instrument and clock kernels, a reconstructed SPK covering each
    frame (else a predicted one) and a CK covering it when there is one. Only those
    are downloaded; they are laid out in OUT as on NAIF's server. Pass the
    meta-kernel to --kernels of geometry, map and mosaic.

    FRAMES are raw images with their metadata, folders or quoted glob patterns.
    --server is the root of NAIF's tree or of a mirror, the folder holding
    JUNO/kernels/ and generic_kernels/ (default https://naif.jpl.nasa.gov/pub/naif).

    \b
    Examples:
      junocam kernels raw/*/*-raw.png -o kernels/
      junocam geometry raw/JNCE_2022186_43C00080_V01/*-raw.png --kernels kernels/*.tm
    """
    from ..batch.discover import discover
    from ..fetch import naif

    opts: GlobalOptions = ctx.obj
    url = (server or naif.DEFAULT_SERVER).rstrip("/")
    windows = []
    failed = 0
    for path in discover(frames):
        try:
            windows.append(naif.frame_window(path))
        except Exception as err:  # noqa: BLE001 - report every bad frame, use the others
            report(str(path), err, opts.debug)
            failed += 1
    if not windows:
        if not failed:
            report(" ".join(frames), FetchError("no raw images found"), opts.debug)
        ctx.exit(1)
    dl, progress = _downloader(offline, cache_dir, timeout, retries)
    try:
        with dl, progress:
            mk, choice = naif.fetch_kernels(dl, url, windows, out_dir, name=name)
    except Exception as err:  # noqa: BLE001 - one line, a traceback only with --debug
        report(url, err, opts.debug)
        ctx.exit(1)
    for note in choice.notes:
        click.echo(f"note: {note}", err=True)
    for rel in sorted(choice.files):
        click.echo(f"  {rel}")
    click.echo(f"wrote {mk} ({len(choice.files)} kernels for {len(windows)} frames)")
    if failed:
        ctx.exit(1)
