"""Run a batch: discover, skip what is up to date, run the rest, record, summarise.

This module is orchestration and bookkeeping only; the per-frame work is the very
code ``junocam process`` runs (:func:`junocam.process.process_file`), so a frame
processed in a batch gives the same image and ``.json`` record as one processed
alone.

How a batch runs
----------------
1. :func:`discover` expands the inputs (files, folders searched recursively, glob
   patterns) into raw images, and :func:`pair_inputs` pairs each image with the
   metadata that decoding will use. Every input file is hashed (SHA-256).
2. A frame whose latest manifest record is ``done`` with the same input hash,
   recipe digest, format and calibration, and whose outputs all exist, is skipped
   (:func:`is_up_to_date`); ``force=True`` redoes it.
3. The others run as :class:`FrameTask` objects through :func:`run_task` on a
   process pool (``scheduler="local"``), or on a dask.distributed cluster
   (``scheduler="dask"``). At most one frame is in flight per worker, and a task
   returns a small dict, never an image.
4. Each result is appended to ``OUT_DIR/manifest.jsonl`` (one JSON object per
   line, written with one ``write`` and an ``fsync``) as soon as it arrives.

Failures are isolated: a frame that raises is recorded as ``failed`` with its
message. A worker process that dies (killed, out of memory, crashed) breaks the
pool; the frames that were in flight are then re-run one at a time in a fresh
pool, so the frame that kills its worker again is the one recorded as
``failed`` ("worker died"), and the others complete.

Images and records are written atomically (temp file + rename), so a run stopped
at any moment leaves no partial output; stale temp files are removed at the next
start, which then completes the batch.

Examples
--------
>>> import tempfile
>>> from junocam.batch import discover
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> _ = (d / "a-raw.png").write_bytes(b"not really a png")
>>> [p.name for p in discover([str(d)])]
['a-raw.png']
>>> summary = run_batch(discover([str(d)]), BatchConfig(out_dir=str(d / "out")), jobs=1)
>>> summary.counts()
{'done': 0, 'skipped': 0, 'failed': 1}
>>> read_manifest(d / "out" / MANIFEST_NAME)[0]["error"]
'...a-raw.png: not a PNG file (bad signature)'
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import BatchError
from ..output import ensure_output_dir
from .discover import FrameInputs, hash_inputs, pair_inputs
from .manifest import (
    MANIFEST_NAME,
    MANIFEST_SCHEMA,
    append_record,
    latest_records,
    locked,
    read_manifest,
    remove_stale_temps,
)
from .progress import PlainProgress, RichProgress
from .runners import dask_results, failed_fields, local_results
from .tasks import BatchConfig, FrameTask, is_up_to_date

__all__ = [
    "BatchSummary",
    "run_batch",
    "summary_lines",
]


@dataclass
class BatchSummary:
    """What a batch did.

    Attributes
    ----------
    records : list of dict
        The manifest records written by this run (done and failed frames).
    skipped : list of str
        Frames skipped as up to date.
    elapsed_s : float
        Wall time.
    manifest : pathlib.Path
    interrupted : bool
        True when stopped by Ctrl-C.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    manifest: Path = Path(MANIFEST_NAME)
    interrupted: bool = False
    recipe: str = ""
    recipe_digest: str = ""

    def counts(self) -> dict[str, int]:
        """Frames done, skipped and failed.

        Examples
        --------
        >>> BatchSummary(records=[{"status": "done"}], skipped=["a"]).counts()
        {'done': 1, 'skipped': 1, 'failed': 0}
        """
        done = sum(1 for r in self.records if r.get("status") == "done")
        return {"done": done, "skipped": len(self.skipped), "failed": len(self.records) - done}

    @property
    def failed(self) -> int:
        """Number of failed frames."""
        return self.counts()["failed"]


def _base_record(
    fi: FrameInputs,
    files: list[dict[str, Any]],
    input_hash: str | None,
    config: BatchConfig,
    recipe_name: str,
    digest: str,
) -> dict[str, Any]:
    return {
        "schema": MANIFEST_SCHEMA,
        "key": fi.key,
        "input": {
            "entry": fi.key,
            "metadata": None if fi.metadata is None else os.path.abspath(fi.metadata),
            "files": files,
        },
        "input_hash": input_hash,
        "recipe": recipe_name,
        "recipe_source": config.recipe,
        "overrides": list(config.overrides),
        "recipe_digest": digest,
        "format": config.fmt,
        "calibration": config.portable().calibration,
        "junocam_version": __version__,
    }


def run_batch(
    frames: Sequence[str | os.PathLike[str]],
    config: BatchConfig,
    *,
    jobs: int | None = None,
    force: bool = False,
    scheduler: str = "local",
    address: str | None = None,
    progress: Callable[[int], PlainProgress | RichProgress] | None = None,
) -> BatchSummary:
    """Process frames in parallel, append each result to the manifest, skip finished ones.

    Parameters
    ----------
    frames : sequence of path
        Raw images (see :func:`discover`).
    config : BatchConfig
        Recipe, format, output directory.
    jobs : int, optional
        Worker processes (default: every core). With dask and an ``address``,
        the default is the cluster's thread count.
    force : bool
        Redo frames that are up to date.
    scheduler : {"local", "dask"}
        A local process pool, or dask.distributed.
    address : str, optional
        Dask scheduler address (``tcp://host:port``); without it a LocalCluster
        with ``jobs`` single-threaded worker processes is started.
    progress : callable, optional
        ``progress(total)`` returns the reporter (default: quiet plain lines to
        a null stream).

    Returns
    -------
    BatchSummary

    Raises
    ------
    RecipeError
        The recipe or an override is invalid.
    OutputError, BatchError
        The output directory cannot be used (not writable, locked by another
        batch) or the scheduler is unavailable.
    """
    if scheduler not in ("local", "dask"):
        raise BatchError(f"unknown scheduler {scheduler!r} (local or dask)")
    t0 = time.perf_counter()
    cfg = config.portable()
    pipeline = cfg.pipeline()
    digest = str(pipeline.digest())
    out_dir = Path(cfg.out_dir)
    ensure_output_dir(out_dir)
    manifest = out_dir / MANIFEST_NAME
    summary = BatchSummary(manifest=manifest, recipe=pipeline.name, recipe_digest=digest)
    with locked(out_dir):
        remove_stale_temps(out_dir)
        latest = latest_records(read_manifest(manifest))
        todo: list[tuple[FrameTask, dict[str, Any]]] = []
        failed_now: list[dict[str, Any]] = []
        for frame in frames:
            fi = pair_inputs(frame)
            files, input_hash, read_error = hash_inputs(fi)
            base = _base_record(fi, files, input_hash, cfg, pipeline.name, digest)
            error = fi.error or (read_error if Path(fi.entry).exists() else None)
            if error is not None:
                failed_now.append({**base, **failed_fields(error)})
            elif not force and is_up_to_date(latest.get(fi.key), input_hash, digest, cfg):
                summary.skipped.append(fi.key)
            else:
                meta = None if fi.metadata is None else os.path.abspath(fi.metadata)
                todo.append((FrameTask(fi.key, meta, cfg, scheduler == "local"), base))
        bases = {task.entry: base for task, base in todo}
        reporter = (progress or (lambda n: PlainProgress(n, io.StringIO())))(
            len(todo) + len(failed_now)
        )
        with reporter:
            if summary.skipped:
                reporter.note(f"skipping {len(summary.skipped)} frame(s) already done")
            for rec in failed_now:
                _record(manifest, rec, summary, reporter)
            tasks = [task for task, _ in todo]
            if scheduler == "dask":
                results = dask_results(tasks, jobs, address)
            else:
                results = local_results(tasks, jobs or os.cpu_count() or 1)
            try:
                for task, result in results:
                    _record(manifest, {**bases[task.entry], **result}, summary, reporter)
            except KeyboardInterrupt:
                summary.interrupted = True
            finally:
                close = getattr(results, "close", None)
                if close is not None:
                    close()
    summary.elapsed_s = time.perf_counter() - t0
    return summary


def _record(
    manifest: Path,
    record: dict[str, Any],
    summary: BatchSummary,
    reporter: PlainProgress | RichProgress,
) -> None:
    record["time"] = datetime.now(UTC).isoformat(timespec="seconds")
    append_record(manifest, record)
    summary.records.append(record)
    reporter.advance(record)


def summary_lines(summary: BatchSummary) -> list[str]:
    """The end-of-batch summary as a small text table.

    Examples
    --------
    >>> s = BatchSummary(records=[{"status": "done"}, {"status": "failed"}], elapsed_s=90.0)
    >>> print("\\n".join(summary_lines(s)[:4]))
    status      frames
    done             1
    skipped          0
    failed           1
    """
    c = summary.counts()
    processed = c["done"] + c["failed"]
    minutes = summary.elapsed_s / 60.0
    rate = f"  ({processed / minutes:.1f} frames/min)" if processed and minutes > 0 else ""
    lines = [f"{'status':<10}{'frames':>8}"]
    lines += [f"{k:<10}{v:>8}" for k, v in c.items()]
    lines.append(f"{'time':<10}{_duration(summary.elapsed_s):>8}{rate}")
    lines.append(f"recipe: {summary.recipe} ({summary.recipe_digest})")
    lines.append(f"manifest: {summary.manifest}")
    return lines


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"
