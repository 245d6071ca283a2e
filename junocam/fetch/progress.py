"""A rich transfer bar per download on a terminal; silence elsewhere.

Examples
--------
>>> p = DownloadProgress(live=False)
>>> with p:
...     t = p.start("naif0012.tls", 5257, 0); p.advance(t, 5257); p.stop(t)
"""

from __future__ import annotations

import sys
import threading
from typing import Any


class DownloadProgress:
    """A :class:`~junocam.fetch.http.ProgressHook` drawing one bar per transfer.

    Parameters
    ----------
    live : bool, optional
        Draw bars (default: when stderr is a terminal).
    """

    def __init__(self, live: bool | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.live = sys.stderr.isatty() if live is None else live
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
            disable=not self.live,
        )
        self._lock = threading.Lock()

    def __enter__(self) -> DownloadProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def start(self, label: str, total: int | None, done: int) -> Any:
        """A new bar; ``done`` bytes are already there (a resumed download)."""
        with self._lock:
            return self._bar.add_task(label, total=total, completed=done)

    def advance(self, task: Any, n: int) -> None:
        """``n`` more bytes arrived."""
        self._bar.advance(task, n)

    def stop(self, task: Any) -> None:
        """The transfer ended (finished or not): remove its bar."""
        with self._lock:
            self._bar.remove_task(task)
