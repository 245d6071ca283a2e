"""Batch processing: many frames, resumable, in parallel, with a gallery.

Modules, in the order a batch uses them:

discover
    Find the raw frames under folders and globs and pair each with its metadata.
tasks
    What one frame's work is (:class:`FrameTask`) and running it in a worker.
manifest
    The append-only ``manifest.jsonl`` that makes a batch resumable, and the lock.
runners
    Process pool and Dask runners that survive a dying worker.
progress
    Plain and rich progress displays.
run
    :func:`run_batch`: discovery, skipping what is up to date, running, recording.
gallery
    The static HTML page of a finished batch.

Examples
--------
>>> from junocam.batch import latest_records
>>> latest_records([{"key": "a", "status": "failed"},
...                 {"key": "a", "status": "done"}])["a"]["status"]
'done'
"""

from __future__ import annotations

from ..errors import BatchError
from .discover import FrameInputs, discover, file_sha256, pair_inputs
from .gallery import write_gallery
from .manifest import MANIFEST_NAME, append_record, latest_records, read_manifest
from .progress import PlainProgress, RichProgress, make_progress
from .run import BatchSummary, run_batch, summary_lines
from .tasks import BatchConfig, FrameTask, is_up_to_date, run_task

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
    "write_gallery",
]
