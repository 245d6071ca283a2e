"""Batch processing: find frames, run them in parallel, record a manifest, resume.

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

import contextlib
import dataclasses
import glob
import hashlib
import io
import json
import math
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from . import __version__
from .decode import DEFAULT_MAX_PIXELS, find_metadata, load_metadata
from .errors import JunoCamError
from .output import ensure_output_dir

__all__ = [
    "MANIFEST_NAME",
    "BatchError",
    "BatchConfig",
    "FrameInputs",
    "FrameTask",
    "BatchSummary",
    "discover",
    "pair_inputs",
    "file_sha256",
    "run_task",
    "read_manifest",
    "latest_records",
    "append_record",
    "is_up_to_date",
    "run_batch",
    "PlainProgress",
    "RichProgress",
    "make_progress",
    "summary_lines",
]

#: Name of the manifest file in the output directory.
MANIFEST_NAME = "manifest.jsonl"
#: Version of the manifest record layout.
MANIFEST_SCHEMA = 1
#: A pool worker is replaced after this many frames (bounds slow memory growth).
MAX_TASKS_PER_CHILD = 16
#: Test hook: a worker exits abruptly on an image whose path contains this value.
CRASH_ENV = "JUNOCAM_TEST_CRASH_ON"

_IMAGE_SUFFIXES = {".png", ".lbl", ".img"}
_LOCK_NAME = ".junocam-batch.lock"
_WORKER_DIED = (
    "worker died while processing this frame (killed, out of memory or crashed); "
    "the other frames went on"
)


class BatchError(JunoCamError):
    """The batch as a whole cannot run (output folder locked, scheduler unavailable)."""


# ---------------------------------------------------------------------------
# Finding and pairing inputs


@dataclass(frozen=True)
class FrameInputs:
    """One frame's input files.

    Attributes
    ----------
    entry : pathlib.Path
        The file given to :func:`junocam.decode.read_frame` (a PNG, ``.LBL`` or ``.IMG``).
    metadata : pathlib.Path or None
        The website JSON paired with a PNG (None for PDS3 products, or when none
        was found; decoding then reports the missing metadata).
    files : tuple of (str, pathlib.Path)
        Every file the result depends on, with its role (``image``, ``metadata``,
        ``label``), in a fixed order; these are hashed.
    error : str or None
        Why pairing failed (e.g. several metadata files match), if it did.

    Examples
    --------
    >>> FrameInputs(Path("a.png")).key
    '...a.png'
    """

    entry: Path
    metadata: Path | None = None
    files: tuple[tuple[str, Path], ...] = ()
    error: str | None = None

    @property
    def key(self) -> str:
        """The absolute path of :attr:`entry`: the frame's identity in the manifest."""
        return os.path.abspath(self.entry)


def _is_image_name(p: Path) -> bool:
    return p.suffix.lower() in _IMAGE_SUFFIXES and not p.name.startswith(".")


def _inside(p: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        Path(os.path.abspath(p)).relative_to(os.path.abspath(folder))
    except ValueError:
        return False
    return True


def _has_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def discover(
    inputs: Iterable[str | os.PathLike[str]], exclude: str | os.PathLike[str] | None = None
) -> list[Path]:
    """Expand inputs into raw image files.

    Parameters
    ----------
    inputs : iterable of str or os.PathLike
        Files (taken as they are, except ``.json`` metadata), folders (searched
        recursively for ``*.png``, ``*.LBL`` and ``*.IMG``, hidden names skipped)
        and glob patterns (``**`` allowed; only image names kept).
    exclude : str or os.PathLike, optional
        A folder whose files are never inputs (the batch's output directory).

    Returns
    -------
    list of pathlib.Path
        Sorted, without duplicates. An ``.IMG`` with an ``.LBL`` of the same stem
        beside it is left out (the label names it). A path that does not exist, or
        a pattern that matches nothing, is kept as it is, so that reading it
        reports the problem.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for name in ["a-raw.png", "a-raw.json", "sub/B.LBL", "sub/B.IMG", "sub/C.IMG"]:
    ...     (d / name).parent.mkdir(exist_ok=True)
    ...     _ = (d / name).write_bytes(b"")
    >>> [p.relative_to(d).as_posix() for p in discover([str(d)])]
    ['a-raw.png', 'sub/B.LBL', 'sub/C.IMG']
    >>> [p.name for p in discover([str(d / "*.png"), str(d / "missing.png")])]
    ['a-raw.png', 'missing.png']
    """
    excl = Path(exclude) if exclude is not None else None
    found: dict[str, Path] = {}

    def add(p: Path) -> None:
        if not _inside(p, excl):
            found.setdefault(os.path.abspath(p), p)

    for item in inputs:
        text = os.fspath(item)
        p = Path(text)
        if p.is_dir():
            for sub in sorted(p.rglob("*")):
                rel = sub.relative_to(p).parts
                if sub.is_file() and _is_image_name(sub) and not any(s[0] == "." for s in rel):
                    add(sub)
        elif p.exists():
            if p.suffix.lower() != ".json":
                add(p)
        elif _has_glob(text):
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            images = [m for m in matches if m.is_file() and _is_image_name(m)]
            for m in images or [p]:
                add(m)
        else:
            add(p)
    paths = sorted(found.values(), key=lambda q: os.path.abspath(q))
    labels = {os.path.abspath(q.with_suffix("")).lower() for q in paths if _suffix(q) == ".lbl"}
    return [
        q
        for q in paths
        if not (_suffix(q) == ".img" and os.path.abspath(q.with_suffix("")).lower() in labels)
    ]


def _suffix(p: Path) -> str:
    return p.suffix.lower()


def _sibling(p: Path, suffix: str) -> Path | None:
    """The file beside ``p`` with the same stem and ``suffix`` (any case), or None."""
    for cand in (p.with_suffix(suffix.upper()), p.with_suffix(suffix.lower())):
        if cand.is_file():
            return cand
    if p.parent.is_dir():
        want = (p.stem + suffix).lower()
        for cand in p.parent.iterdir():
            if cand.name.lower() == want and cand.is_file():
                return cand
    return None


def pair_inputs(path: str | os.PathLike[str]) -> FrameInputs:
    """Pair a raw image with the metadata that decoding will use.

    A PNG is paired with :func:`junocam.decode.find_metadata`'s file; an ``.LBL``
    with the ``.IMG`` of the same stem; an ``.IMG`` with its ``.LBL`` when it has
    no attached label.

    Parameters
    ----------
    path : str or os.PathLike
        An image from :func:`discover`.

    Returns
    -------
    FrameInputs
        With ``error`` set (never raised) when the pairing is ambiguous.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "X-raw.png").write_bytes(b"")
    >>> _ = (d / "X-raw.json").write_text("{}")
    >>> fi = pair_inputs(d / "X-raw.png")
    >>> fi.metadata.name, [role for role, _ in fi.files]
    ('X-raw.json', ['image', 'metadata'])
    """
    p = Path(path)
    suffix = _suffix(p)
    try:
        if suffix == ".lbl":
            img = _sibling(p, ".img")
            files = [("label", p)] + ([("image", img)] if img is not None else [])
            return FrameInputs(p, None, tuple(files))
        if suffix == ".img":
            lbl = _sibling(p, ".lbl")
            files = [("image", p)] + ([("label", lbl)] if lbl is not None else [])
            return FrameInputs(p, None, tuple(files))
        meta = find_metadata(p) if p.is_file() else None
    except JunoCamError as err:
        return FrameInputs(p, None, (("image", p),), error=str(err))
    files = [("image", p)] + ([("metadata", meta)] if meta is not None else [])
    return FrameInputs(p, meta, tuple(files))


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's content, hex.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _hash_inputs(fi: FrameInputs) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """Per-file records, the combined input hash, and an error if a file is unreadable."""
    records: list[dict[str, Any]] = []
    combined = hashlib.sha256()
    error = None
    for role, p in fi.files:
        try:
            digest: str | None = file_sha256(p)
        except OSError as err:
            digest = None
            error = error or f"{p}: cannot read: {err.strerror or err}"
        records.append({"role": role, "path": os.path.abspath(p), "sha256": digest})
        combined.update(f"{role}:{digest}\n".encode())
    return records, (None if error else combined.hexdigest()), error


# ---------------------------------------------------------------------------
# Configuration and the per-frame task


@dataclass(frozen=True)
class BatchConfig:
    """What every frame of a batch is processed with.

    Parameters
    ----------
    out_dir : str
        Output directory (created if missing).
    recipe : str
        Built-in recipe name or recipe file (see :meth:`junocam.pipeline.Pipeline.named`).
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
    recipe: str = "enhanced"
    overrides: tuple[str, ...] = ()
    fmt: str = "png8"
    calibration: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS

    def pipeline(self) -> Any:
        """The validated :class:`~junocam.pipeline.Pipeline` (raises RecipeError)."""
        from .pipeline import Pipeline

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
    from .calibrate import load_calibration

    return load_calibration(path)


@lru_cache(maxsize=8)
def _pipeline(config: BatchConfig) -> Any:
    return config.pipeline()


def _finite(v: Any) -> Any:
    """JSON-safe numbers: NaN and infinities become None (recursively)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Mapping):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


def _frame_info(entry: str, metadata: str | None) -> dict[str, Any] | None:
    """Key metadata (for the manifest and the gallery), None when unreadable."""
    source = metadata or (None if _suffix(Path(entry)) == ".png" else entry)
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
        (key metadata), ``worker`` (host and pid). Small: no image arrays.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> r = run_task(FrameTask(d + "/missing-raw.png", None, BatchConfig(out_dir=d)))
    >>> r["status"], r["error"]
    ('failed', '...missing-raw.png: file does not exist')
    """
    from .process import ProcessOptions, process_file

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
        "worker": {"host": socket.gethostname(), "pid": os.getpid()},
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
            outputs=[_relative(done.image, out_dir), _relative(done.record_path, out_dir)],
            timings_s=done.record.get("timings_s", {}),
            fit=done.record.get("spin_fit"),
            notes=list(done.notes),
        )
    except Exception as err:  # noqa: BLE001 - a bad frame must not stop the batch
        if isinstance(err, JunoCamError):
            rec["error"] = str(err) if err.path is not None else f"{task.entry}: {err.message}"
        else:
            rec["error"] = f"{task.entry}: internal error ({type(err).__name__}: {err})"
    rec["frame"] = _frame_info(task.entry, task.metadata)
    rec["elapsed_s"] = round(time.perf_counter() - t0, 4)
    return _finite(rec)


def _relative(p: Path, folder: Path) -> str:
    try:
        return Path(os.path.abspath(p)).relative_to(os.path.abspath(folder)).as_posix()
    except ValueError:
        return os.path.abspath(p)


# ---------------------------------------------------------------------------
# The manifest


def read_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of a manifest, in order; missing file gives an empty list.

    Lines that are not complete JSON objects (a last line cut short by a kill)
    are ignored.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / MANIFEST_NAME
    >>> _ = p.write_text('{"key": "a", "status": "done"}\\n{"key": "b", "sta')
    >>> [r["key"] for r in read_manifest(p)]
    ['a']
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    except OSError as err:
        raise BatchError(f"cannot read the manifest: {err.strerror or err}", path=path) from None
    out = []
    for line in data.splitlines():
        try:
            rec = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def latest_records(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last record of every frame (by ``key``).

    Examples
    --------
    >>> latest_records([{"key": "a", "n": 1}, {"key": "a", "n": 2}])["a"]["n"]
    2
    """
    return {str(r["key"]): dict(r) for r in records if "key" in r}


def append_record(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append one record as a JSON line: one ``write`` call, then ``fsync``.

    If the file ends in a cut-short line (a kill or a full disk in the middle of a
    write), that line is removed first, so the manifest stays valid JSON lines.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / MANIFEST_NAME
    >>> _ = p.write_text('{"key": "a"')
    >>> append_record(p, {"key": "b"})
    >>> [r["key"] for r in read_manifest(p)]
    ['b']
    """
    line = (json.dumps(_finite(dict(record)), sort_keys=True, default=str) + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size:
                line = _drop_cut_line(fd, path, size) + line
            view = memoryview(line)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:  # a full disk, a read-only folder: a cut line at worst
        raise BatchError(f"cannot write the manifest: {err.strerror or err}", path=path) from None


def _drop_cut_line(fd: int, path: str | os.PathLike[str], size: int) -> bytes:
    """Remove a last line cut short by a kill or a full disk, so every line stays a JSON
    object; returns a newline to write first when the cut line is too long to find."""
    block = min(size, 1 << 20)
    with open(path, "rb") as fh:
        fh.seek(size - block)
        tail = fh.read(block)
    if tail.endswith(b"\n"):
        return b""
    cut = tail.rfind(b"\n")
    if cut < 0 and block < size:
        return b"\n"
    os.ftruncate(fd, size - block + cut + 1)
    return b""


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


# ---------------------------------------------------------------------------
# Output directory: lock and leftovers


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output directory (one batch writes there at a time)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    try:
        fh = open(out_dir / _LOCK_NAME, "a+b")  # noqa: SIM115 - held for the whole block
    except OSError as err:
        raise BatchError(
            f"output directory is not writable: {err.strerror or err}", path=out_dir
        ) from None
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BatchError(
                "another junocam batch is writing to this output directory", path=out_dir
            ) from None
        yield
    finally:
        fh.close()


def _remove_stale_temps(out_dir: Path) -> int:
    """Delete temp files left by writers that were killed (``.<name>.<random>.tmp``)."""
    n = 0
    for folder in (out_dir, out_dir / "thumbs"):
        if not folder.is_dir():
            continue
        for p in folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
    return n


# ---------------------------------------------------------------------------
# Executors: a local process pool, or dask.distributed


def _init_worker() -> None:
    """Pool workers ignore Ctrl-C: the main process stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _failed_fields(error: str) -> dict[str, Any]:
    """Result fields of a frame that failed before or outside :func:`run_task`."""
    return {
        "status": "failed",
        "error": error,
        "outputs": [],
        "timings_s": {},
        "fit": None,
        "notes": [],
        "frame": None,
        "elapsed_s": 0.0,
    }


def _died(task: FrameTask) -> dict[str, Any]:
    rec = _failed_fields(f"{task.entry}: {_WORKER_DIED}")
    rec["frame"] = _frame_info(task.entry, task.metadata)
    return rec


def _internal(task: FrameTask, err: BaseException) -> dict[str, Any]:
    rec = _died(task)
    rec["error"] = f"{task.entry}: internal error ({type(err).__name__}: {err})"
    return rec


def _new_pool(jobs: int) -> ProcessPoolExecutor:
    import multiprocessing

    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        max_tasks_per_child=MAX_TASKS_PER_CHILD,
    )


def _stop_pool(pool: ProcessPoolExecutor, kill: bool) -> None:
    if kill:
        # The executor has no public way to stop running workers (before 3.14).
        for proc in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                proc.kill()
    pool.shutdown(wait=not kill, cancel_futures=True)


def _local_results(
    tasks: Sequence[FrameTask], jobs: int
) -> Iterator[tuple[FrameTask, dict[str, Any]]]:
    """Run tasks on a process pool, at most ``jobs`` in flight; yield as they finish.

    When a worker dies, the frames in flight are re-run one at a time in a fresh
    pool; a frame that kills its worker when alone is reported as failed.
    """
    queue: deque[FrameTask] = deque(tasks)
    suspects: deque[FrameTask] = deque()
    inflight: dict[Future[dict[str, Any]], FrameTask] = {}
    pool: ProcessPoolExecutor | None = None
    clean = False
    try:
        while queue or suspects or inflight:
            if pool is None:
                pool = _new_pool(jobs)
            # after a worker died, its frames run alone until the culprit is found
            source, limit = (suspects, 1) if suspects else (queue, jobs)
            try:
                while len(inflight) < limit and source:
                    fut = pool.submit(run_task, source[0])
                    inflight[fut] = source.popleft()
            except BrokenProcessPool:
                pass  # a worker died: found below through the frames in flight
            if not inflight:  # broken with no frame in flight: nobody to blame
                _stop_pool(pool, kill=True)
                pool = None
                continue
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken: list[FrameTask] = []
            for fut in done:
                task = inflight.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    broken.append(task)
                    continue
                except Exception as err:  # noqa: BLE001 - e.g. an unpicklable result
                    result = _internal(task, err)
                yield task, result
            if not broken:
                continue
            # The pool is broken: the other frames in flight are lost with it.
            wait(inflight, timeout=10)
            for fut, task in inflight.items():
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    yield task, fut.result()
                else:
                    broken.append(task)
            inflight.clear()
            _stop_pool(pool, kill=True)
            pool = None
            if len(broken) == 1:  # alone in flight when its worker died: the culprit
                yield broken[0], _died(broken[0])
            else:
                suspects.extend(broken)
        clean = True
    finally:
        if pool is not None:
            _stop_pool(pool, kill=not clean)


def _dask_results(
    tasks: Sequence[FrameTask], jobs: int | None, address: str | None
) -> Iterator[tuple[FrameTask, dict[str, Any]]]:
    """Run tasks on dask.distributed (a scheduler address, or a new LocalCluster)."""
    try:
        from distributed import Client, KilledWorker, LocalCluster, as_completed
    except ImportError:
        raise BatchError(
            "--scheduler dask needs dask.distributed, which is not installed; "
            "install it with: pip install 'junocam[dask]'"
        ) from None
    cluster = None
    try:
        if address:
            client = Client(address, timeout="20s")
        else:
            cluster = LocalCluster(
                n_workers=jobs or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = Client(cluster)
    except (OSError, TimeoutError) as err:
        if cluster is not None:
            cluster.close()
        where = address or "a local cluster"
        raise BatchError(f"cannot connect to the dask scheduler at {where}: {err}") from None
    try:
        slots = jobs if (jobs and not address) else sum(client.nthreads().values()) or 1
        queue: deque[FrameTask] = deque(tasks)
        futures: dict[Any, FrameTask] = {}
        pending = as_completed()

        def submit() -> None:
            task = queue.popleft()
            fut = client.submit(run_task, task, pure=False, retries=0)
            futures[fut] = task
            pending.add(fut)

        for _ in range(min(slots, len(queue))):
            submit()
        for fut in pending:
            task = futures.pop(fut)
            try:
                result = fut.result()
            except KilledWorker:
                result = _died(task)
            except Exception as err:  # noqa: BLE001 - report it and go on
                result = _internal(task, err)
            fut.release()
            yield task, result
            if queue:
                submit()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------------
# Progress


class PlainProgress:
    """One log line per frame (for logs and pipes)."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.total = total
        self.count = 0
        self.stream = stream or sys.stderr

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, record: Mapping[str, Any]) -> None:
        """Report one finished frame."""
        self.count += 1
        name = Path(str(record.get("input", {}).get("entry", "?"))).name
        if record["status"] == "done":
            outs = ", ".join(record.get("outputs", [])[:1])
            line = f"[{self.count}/{self.total}] {name}: done in {record.get('elapsed_s', 0):.1f} s"
            self.stream.write(f"{line} -> {outs}\n")
        else:
            self.stream.write(f"[{self.count}/{self.total}] {name}: failed\n")
            self.stream.write(f"error: {record['error']}\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """Print a message line."""
        self.stream.write(text + "\n")
        self.stream.flush()


class RichProgress:
    """A live progress bar (count, rate, elapsed, ETA) on a terminal, with ``rich``."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task = self.progress.add_task("batch", total=total, rate="", failed="")
        self.start = time.perf_counter()
        self.failed = 0
        self.count = 0

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def advance(self, record: Mapping[str, Any]) -> None:
        """Report one finished frame."""
        self.count += 1
        if record["status"] != "done":
            self.failed += 1
            self.console.print(f"error: {record['error']}", markup=False, highlight=False)
        minutes = (time.perf_counter() - self.start) / 60.0
        rate = f"{self.count / minutes:.1f} frames/min" if minutes > 0 else ""
        failed = f"{self.failed} failed" if self.failed else ""
        self.progress.update(self.task, advance=1, rate=rate, failed=failed)

    def note(self, text: str) -> None:
        """Print a message line above the bar."""
        self.console.print(text, markup=False, highlight=False)


def make_progress(total: int, live: bool | None = None) -> PlainProgress | RichProgress:
    """A live bar when stderr is a terminal (and rich is installed), else plain lines.

    Examples
    --------
    >>> type(make_progress(3, live=False)).__name__
    'PlainProgress'
    """
    if live is None:
        live = sys.stderr.isatty()
    if live:
        try:
            return RichProgress(total)
        except ImportError:
            pass
    return PlainProgress(total)


# ---------------------------------------------------------------------------
# Running a batch


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
    with _locked(out_dir):
        _remove_stale_temps(out_dir)
        latest = latest_records(read_manifest(manifest))
        todo: list[tuple[FrameTask, dict[str, Any]]] = []
        failed_now: list[dict[str, Any]] = []
        for frame in frames:
            fi = pair_inputs(frame)
            files, input_hash, read_error = _hash_inputs(fi)
            base = _base_record(fi, files, input_hash, cfg, pipeline.name, digest)
            error = fi.error or (read_error if Path(fi.entry).exists() else None)
            if error is not None:
                failed_now.append({**base, **_failed_fields(error)})
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
                results = _dask_results(tasks, jobs, address)
            else:
                results = _local_results(tasks, jobs or os.cpu_count() or 1)
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
