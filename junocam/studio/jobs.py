"""Background work of the studio: one frame at full resolution, or a whole batch.

Each :class:`Job` runs in a thread and the page polls its :meth:`Job.as_dict`
(status, frames done of total, messages, output file names). A frame is processed
with :func:`junocam.process.process_file`, exactly as ``junocam process`` does; a
batch is :func:`junocam.batch.run_batch` with the current recipe written as a TOML
file into the output folder, exactly as ``junocam batch --pipeline FILE`` does, so
its manifest makes it resumable from the command line too.

Examples
--------
>>> board = JobBoard()
>>> job = board.start("demo", 2, lambda job: job.advance("one") or job.advance("two"))
>>> job.wait(5.0)
True
>>> job.as_dict()["status"], job.as_dict()["done"], job.as_dict()["total"]
('done', 2, 2)
"""

from __future__ import annotations

import io
import itertools
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..batch.progress import PlainProgress
from ..batch.run import run_batch
from ..batch.tasks import BatchConfig
from ..errors import JunoCamError
from ..output import atomic_write, ensure_output_dir
from ..pipeline.engine import Pipeline
from ..process import ProcessOptions, output_label, process_file
from ..spinfit import SpinFit
from .security import safe_file_name
from .session import recipe_toml

__all__ = ["Job", "JobBoard", "process_frame_job", "batch_job", "save_recipe"]


class Job:
    """One piece of background work and its progress (thread-safe)."""

    def __init__(self, job_id: str, kind: str, total: int) -> None:
        self.id = job_id
        self.kind = kind
        self.total = total
        self.done = 0
        self.failed = 0
        self.status = "running"
        self.messages: list[str] = []
        self.outputs: list[str] = []
        self.error: str | None = None
        self.started = time.time()
        self.elapsed_s = 0.0
        self._lock = threading.Lock()
        self._finished = threading.Event()

    def advance(self, message: str | None = None, failed: bool = False) -> None:
        """One more unit done (a frame), with an optional message."""
        with self._lock:
            self.done += 1
            self.failed += int(failed)
            if message:
                self.messages.append(message)

    def note(self, message: str) -> None:
        """A message for the page."""
        with self._lock:
            self.messages.append(message)

    def add_output(self, name: str) -> None:
        """A file written into the output folder (its name)."""
        with self._lock:
            self.outputs.append(name)

    def finish(self, error: str | None = None) -> None:
        """Mark the job done (or failed with ``error``)."""
        with self._lock:
            self.error = error
            self.status = "failed" if error else "done"
            self.elapsed_s = time.time() - self.started
        self._finished.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job finished; False on timeout."""
        return self._finished.wait(timeout)

    def as_dict(self) -> dict[str, Any]:
        """What the page shows."""
        with self._lock:
            elapsed = self.elapsed_s if self.status != "running" else time.time() - self.started
            return {
                "id": self.id,
                "kind": self.kind,
                "status": self.status,
                "done": self.done,
                "failed": self.failed,
                "total": self.total,
                "messages": list(self.messages[-50:]),
                "outputs": list(self.outputs),
                "error": self.error,
                "elapsed_s": round(elapsed, 2),
            }


class JobBoard:
    """The studio's jobs by id; each runs in its own thread."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, kind: str, total: int, work: Callable[[Job], None]) -> Job:
        """Run ``work(job)`` in a thread; an exception fails the job with its message."""
        with self._lock:
            job = Job(f"{kind}-{next(self._ids)}", kind, total)
            self._jobs[job.id] = job

        def run() -> None:
            try:
                work(job)
            except JunoCamError as err:
                job.finish(str(err))
            except Exception as err:  # noqa: BLE001 - reported to the page, not lost
                traceback.print_exc()
                job.finish(f"internal error ({type(err).__name__}: {err})")
            else:
                job.finish()

        threading.Thread(target=run, name=job.id, daemon=True).start()
        return job

    def get(self, job_id: str) -> Job:
        """The job with this id (KeyError if there is none)."""
        return self._jobs[job_id]


def save_recipe(out_dir: Path, pipeline: Pipeline, name: str | None = None) -> Path:
    """Write the recipe as ``<name>.toml`` into ``out_dir`` (atomically) and return the path.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> save_recipe(out, Pipeline(["stitch", "compose"], name="look")).name
    'look.toml'
    """
    file_name = safe_file_name(name or f"{pipeline.name}.toml")
    if not file_name.endswith(".toml"):
        file_name += ".toml"
    target = out_dir / file_name
    text = recipe_toml(pipeline).encode("utf-8")
    ensure_output_dir(out_dir)
    atomic_write(target, lambda fh: fh.write(text))
    return target


def process_frame_job(
    path: Path,
    pipeline: Pipeline,
    out_dir: Path,
    fmt: str,
    protect: Sequence[Path],
    fits: dict[str, SpinFit],
    key: str,
    max_pixels: int,
) -> Callable[[Job], None]:
    """The work of processing one frame at full resolution into ``out_dir``.

    The full-resolution spin fit is kept in ``fits[key]`` and reused the next time.
    """

    def work(job: Job) -> None:
        ensure_output_dir(out_dir)
        job.note(f"processing {path.name} with '{pipeline.name}' at full resolution")
        stitch = next(s for s in pipeline.stages if s.name == "stitch")
        # a full-resolution fit is reused only where the recipe would make one itself
        # (a fit passed to the stitch is used even with fit_spin = false)
        full_fit = stitch.params["fit_spin"] and stitch.params["scale"] > 0.5
        done = process_file(
            path,
            pipeline,
            ProcessOptions(out_dir=out_dir, fmt=fmt, protect=tuple(protect)),
            max_pixels=max_pixels,
            spin_fit=fits.get(key) if full_fit else None,
        )
        if done.fit is not None and full_fit and key not in fits:
            fits[key] = done.fit
        for note in done.notes:
            job.note(note)
        if done.fit is not None:
            job.note(f"spin: {done.fit.message}")
        job.add_output(done.image.name)
        job.add_output(done.record_path.name)
        job.advance(f"wrote {done.image.name}")

    return work


class _JobProgress(PlainProgress):
    """Batch progress into a :class:`Job` (and a throw-away text stream)."""

    def __init__(self, total: int, job: Job) -> None:
        super().__init__(total, io.StringIO())
        self.job = job
        job.total = total

    def advance(self, record: Mapping[str, Any]) -> None:
        super().advance(record)
        name = Path(str(record.get("input", {}).get("entry", "?"))).name
        ok = record.get("status") == "done"
        for out in record.get("outputs", [])[:1] if ok else []:
            self.job.add_output(Path(str(out)).name)
        msg = f"{name}: done" if ok else f"{name}: failed: {record.get('error')}"
        self.job.advance(msg, failed=not ok)

    def note(self, text: str) -> None:
        super().note(text)
        self.job.note(text)


def batch_job(
    frames: Sequence[Path],
    pipeline: Pipeline,
    out_dir: Path,
    fmt: str,
    jobs: int | None,
    max_pixels: int,
) -> Callable[[Job], None]:
    """The work of processing every served frame with ``pipeline`` through the batch engine."""

    def work(job: Job) -> None:
        recipe = save_recipe(out_dir, pipeline, f"{pipeline.name}.studio.toml")
        job.add_output(recipe.name)
        job.note(f"batch of {len(frames)} frame(s) with {recipe.name}")
        label = output_label(pipeline)
        summary = run_batch(
            [str(p) for p in frames],
            BatchConfig(out_dir=str(out_dir), recipe=str(recipe), fmt=fmt, max_pixels=max_pixels),
            jobs=jobs,
            progress=lambda total: _JobProgress(total, job),
        )
        for key in summary.skipped:
            job.note(f"{Path(key).name}: up to date, skipped")
        counts = summary.counts()
        job.note(
            f"batch finished: {counts['done']} done, {counts['skipped']} skipped, "
            f"{counts['failed']} failed in {summary.elapsed_s:.1f} s (outputs *-{label}.*, "
            f"manifest {summary.manifest.name})"
        )
        if job.total == 0:
            job.total = len(summary.skipped)
            job.done = len(summary.skipped)

    return work
