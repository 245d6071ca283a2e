"""Where a batch's tasks run: a local process pool, or a dask.distributed cluster.

Both yield ``(task, record)`` pairs as results arrive. A worker that dies breaks a
process pool; the frames that were in flight are then re-run one at a time in a
fresh pool, so only the frame that kills its worker again is recorded as failed.

Examples
--------
>>> failed_fields("boom")["status"]
'failed'
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import BatchError
from .tasks import FrameTask, frame_info, run_task

#: A pool worker is replaced after this many frames (bounds slow memory growth).
MAX_TASKS_PER_CHILD = 16

#: The native thread pools (OpenBLAS, MKL, OpenMP) a pool worker's numpy and scipy
#: size themselves from, read once when the worker imports them.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


_WORKER_DIED = (
    "worker died while processing this frame (killed, out of memory or crashed); "
    "the other frames went on"
)


def _init_worker() -> None:
    """Pool workers ignore Ctrl-C: the main process stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def failed_fields(error: str) -> dict[str, Any]:
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
    rec = failed_fields(f"{task.entry}: {_WORKER_DIED}")
    rec["frame"] = frame_info(task.entry, task.metadata)
    return rec


def _internal(task: FrameTask, err: BaseException) -> dict[str, Any]:
    rec = _died(task)
    rec["error"] = f"{task.entry}: internal error ({type(err).__name__}: {err})"
    return rec


def worker_threads(jobs: int, cores: int | None = None) -> int:
    """Native threads each of ``jobs`` pool workers may use: the cores shared out.

    Each worker's BLAS would otherwise start one thread per core, so two workers on
    two cores ran four busy threads: on the 2-core benchmark machine a 2-worker
    batch's frames took 4.96 s each instead of 4.46 s with one thread per worker.

    Examples
    --------
    >>> worker_threads(2, cores=8), worker_threads(8, cores=2), worker_threads(1, cores=4)
    (4, 1, 4)
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


@contextlib.contextmanager
def _thread_budget(jobs: int) -> Iterator[None]:
    """Set the thread variables the user left unset while the pool's workers start.

    The spawned workers inherit the environment when they start (also the ones
    that replace workers later), so the variables stay set while the pool lives
    and are restored afterwards; a variable the user set is left as it is.
    """
    value = str(worker_threads(jobs))
    added = [v for v in THREAD_VARIABLES if v not in os.environ]
    for var in added:
        os.environ[var] = value
    try:
        yield
    finally:
        for var in added:
            os.environ.pop(var, None)


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


def local_results(
    tasks: Sequence[FrameTask], jobs: int
) -> Iterator[tuple[FrameTask, dict[str, Any]]]:
    """Run tasks on a process pool, at most ``jobs`` in flight; yield as they finish.

    When a worker dies, the frames in flight are re-run one at a time in a fresh
    pool; a frame that kills its worker when alone is reported as failed. Each
    worker's BLAS and OpenMP start with :func:`worker_threads` threads unless
    ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set.
    """
    with _thread_budget(jobs):
        yield from _pool_results(tasks, jobs)


def _pool_results(
    tasks: Sequence[FrameTask], jobs: int
) -> Iterator[tuple[FrameTask, dict[str, Any]]]:
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


def dask_results(
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
