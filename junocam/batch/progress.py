"""Progress displays for a batch: a rich bar on a terminal, plain lines elsewhere.

Examples
--------
>>> type(make_progress(3, live=False)).__name__
'PlainProgress'
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any


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
