"""The batch manifest: an append-only JSON-lines file, the output folder's lock, clean-up.

``OUT_DIR/manifest.jsonl`` holds one record per line, appended with one ``write``
and an ``fsync``, so a run killed at any moment leaves at most one cut last line,
which the next run drops. The latest record of each frame says whether it is done.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> m = Path(tempfile.mkdtemp()) / MANIFEST_NAME
>>> append_record(m, {"key": "a", "status": "done"})
>>> [r["status"] for r in read_manifest(m)]
['done']
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import BatchError

#: Name of the manifest file in the output directory.
MANIFEST_NAME = "manifest.jsonl"


#: Version of the manifest record layout.
MANIFEST_SCHEMA = 1


_LOCK_NAME = ".junocam-batch.lock"


def relative_to(p: Path, folder: Path) -> str:
    try:
        return Path(os.path.abspath(p)).relative_to(os.path.abspath(folder)).as_posix()
    except ValueError:
        return os.path.abspath(p)


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
    line = (json.dumps(finite_json(dict(record)), sort_keys=True, default=str) + "\n").encode()
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


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
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


def remove_stale_temps(out_dir: Path) -> int:
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


def finite_json(v: Any) -> Any:
    """JSON-safe numbers: NaN and infinities become None (recursively)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Mapping):
        return {str(k): finite_json(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [finite_json(x) for x in v]
    return v
