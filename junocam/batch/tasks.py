"""One frame's work in a batch: its settings, the task, running it in a worker.

A :class:`FrameTask` is small and picklable (paths and a :class:`BatchConfig`);
:func:`run_task` runs the same code as ``junocam process`` on it and returns a
small JSON-ready record, never an image. :func:`is_up_to_date` says whether a
frame's last record makes running it again unnecessary.

Examples
--------
>>> BatchConfig(out_dir="out").recipe
'default'
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..decode import DEFAULT_MAX_PIXELS, load_metadata
from ..errors import JunoCamError
from .discover import suffix_of
from .manifest import finite_json, relative_to

#: Test hook: a worker exits abruptly on an image whose path contains this value.
CRASH_ENV = "JUNOCAM_TEST_CRASH_ON"


@dataclass(frozen=True)
class BatchConfig:
    """What every frame of a batch is processed with.

    Parameters
    ----------
    out_dir : str
        Output directory (created if missing).
    recipe : str
        Built-in recipe name or recipe file (see :meth:`junocam.pipeline.Pipeline.named`);
        ``"default"``: ``mono`` for single-band frames, else ``enhanced``.
    overrides : tuple of str
        ``stage.param=value`` overrides.
    fmt : {"png8", "png16", "tiff16"}
        Output format.
    calibration : str or None
        Folder of darks, flats and bad-pixel masks.
    max_pixels : int
        Refuse larger input images before decoding.

    Examples
    --------
    >>> cfg = BatchConfig(out_dir="out", recipe="raw", overrides=("stitch.fit_spin=false",))
    >>> cfg.pipeline().name, len(cfg.digest())
    ('raw', 16)
    """

    out_dir: str
    recipe: str = "default"
    overrides: tuple[str, ...] = ()
    fmt: str = "png8"
    calibration: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS

    def pipeline(self) -> Any:
        """The validated :class:`~junocam.pipeline.Pipeline` (raises RecipeError), or for
        ``recipe="default"`` the per-frame :class:`~junocam.pipeline.DefaultPipeline`."""
        from ..pipeline.engine import DefaultPipeline, Pipeline

        if self.recipe == "default":
            auto = DefaultPipeline(self.overrides)
            auto.validate()
            return auto
        return Pipeline.named(self.recipe).with_overrides(self.overrides)

    def digest(self) -> str:
        """The recipe digest (stages and parameters)."""
        return str(self.pipeline().digest())

    def portable(self) -> BatchConfig:
        """A copy with absolute paths, valid in any worker's working directory."""
        recipe = self.recipe
        if Path(recipe).suffix.lower() == ".toml" or os.sep in recipe:
            recipe = os.path.abspath(recipe)
        cal = os.path.abspath(self.calibration) if self.calibration else None
        return dataclasses.replace(
            self, out_dir=os.path.abspath(self.out_dir), recipe=recipe, calibration=cal
        )


@dataclass(frozen=True)
class FrameTask:
    """One frame's work, small and picklable (sent to a worker)."""

    entry: str
    metadata: str | None
    config: BatchConfig
    capture_log: bool = True


@lru_cache(maxsize=4)
def _calibration(path: str) -> Any:
    """Calibration loaded once per worker process."""
    from ..calibrate import load_calibration

    return load_calibration(path)


@lru_cache(maxsize=8)
def _pipeline(config: BatchConfig) -> Any:
    return config.pipeline()


def frame_info(entry: str, metadata: str | None) -> dict[str, Any] | None:
    """Key metadata (for the manifest and the gallery), None when unreadable."""
    source = metadata or (None if suffix_of(Path(entry)) == ".png" else entry)
    if source is None:
        return None
    try:
        meta = load_metadata(source)
    except JunoCamError:
        return None
    return {
        "product_id": meta.product_id,
        "perijove": meta.perijove,
        "target": meta.target,
        "title": meta.title,
        "start_time": None if meta.start_time is None else meta.start_time.isoformat(),
        "filters": [f.value for f in meta.filters],
        "n_exposures": meta.n_exposures,
    }


def _maybe_crash(entry: str) -> None:
    """Test hook: exit abruptly, as a killed worker would (see :data:`CRASH_ENV`)."""
    needle = os.environ.get(CRASH_ENV)
    if needle and needle in entry:
        os._exit(70)


def run_task(task: FrameTask) -> dict[str, Any]:
    """Process one frame exactly as ``junocam process`` does; never raises.

    Parameters
    ----------
    task : FrameTask

    Returns
    -------
    dict
        ``status`` ("done" or "failed"), ``error`` (message or None), ``outputs``
        (paths relative to the output directory), ``timings_s`` (per stage),
        ``elapsed_s``, ``fit`` (fitted spin numbers or None), ``notes``, ``frame``
        (key metadata), ``worker`` (host, pid and the ``OPENBLAS_NUM_THREADS`` it
        started with). Small: no image arrays.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> r = run_task(FrameTask(d + "/missing-raw.png", None, BatchConfig(out_dir=d)))
    >>> r["status"], r["error"]
    ('failed', '...missing-raw.png: file does not exist')
    """
    from ..process import ProcessOptions, process_file

    t0 = time.perf_counter()
    cfg = task.config
    out_dir = Path(cfg.out_dir)
    rec: dict[str, Any] = {
        "status": "failed",
        "error": None,
        "outputs": [],
        "timings_s": {},
        "fit": None,
        "notes": [],
        "worker": {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            # the BLAS thread count the worker started with (see runners.worker_threads)
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
    }
    log = io.StringIO()
    try:
        _maybe_crash(task.entry)
        pipeline = _pipeline(cfg)
        cal = _calibration(cfg.calibration) if cfg.calibration else None
        protect = tuple(Path(p) for p in (task.entry, task.metadata) if p)
        popts = ProcessOptions(out_dir=out_dir, fmt=cfg.fmt, protect=protect)
        quiet = contextlib.redirect_stderr(log) if task.capture_log else contextlib.nullcontext()
        with quiet:
            done = process_file(
                task.entry,
                pipeline,
                popts,
                metadata=task.metadata,
                max_pixels=cfg.max_pixels,
                calibration=cal,
            )
        rec.update(
            status="done",
            outputs=[relative_to(done.image, out_dir), relative_to(done.record_path, out_dir)],
            timings_s=done.record.get("timings_s", {}),
            fit=done.record.get("spin_fit"),
            notes=list(done.notes),
        )
    except Exception as err:  # noqa: BLE001 - a bad frame must not stop the batch
        if isinstance(err, JunoCamError):
            rec["error"] = str(err) if err.path is not None else f"{task.entry}: {err.message}"
        else:
            rec["error"] = f"{task.entry}: internal error ({type(err).__name__}: {err})"
    rec["frame"] = frame_info(task.entry, task.metadata)
    rec["elapsed_s"] = round(time.perf_counter() - t0, 4)
    return finite_json(rec)


def is_up_to_date(
    record: Mapping[str, Any] | None,
    input_hash: str | None,
    digest: str,
    config: BatchConfig,
) -> bool:
    """Whether a frame's latest record lets a re-run skip it.

    True when the record is ``done`` with the same input hash, recipe digest,
    format and calibration, and every output it lists exists.

    Examples
    --------
    >>> cfg = BatchConfig(out_dir="/nonexistent")
    >>> rec = {"status": "done", "input_hash": "h", "recipe_digest": "d",
    ...        "format": "png8", "calibration": None, "outputs": []}
    >>> is_up_to_date(rec, "h", "d", cfg), is_up_to_date(rec, "other", "d", cfg)
    (True, False)
    """
    if record is None or input_hash is None or record.get("status") != "done":
        return False
    same = (
        record.get("input_hash") == input_hash
        and record.get("recipe_digest") == digest
        and record.get("format") == config.fmt
        and record.get("calibration") == config.portable().calibration
    )
    out_dir = Path(config.out_dir)
    return same and all((out_dir / o).is_file() for o in record.get("outputs", []))
