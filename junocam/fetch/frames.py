"""What both frame sources share: product ids, output folders, records, archive members.

A fetched frame lands in ``OUT/<product_id>/``: the image and its metadata (a
website PNG and JSON, or a PDS3 ``.LBL`` and ``.IMG``), exactly as ``junocam
process`` and ``junocam batch`` read them, plus ``<product_id>.fetch.json``, the
record of what the server said (ids, URLs, sizes, checksums). The record is
written last, so its presence means the frame is complete; a re-run skips such
frames without touching the network.

Examples
--------
>>> parse_product_id("JNCE_2022186_43C00080_V01").perijove
43
>>> parse_product_id("13537") is None
True
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from ..errors import FetchError
from ..output import atomic_write

__all__ = [
    "ProductId",
    "parse_product_id",
    "PRODUCT_ID_RE",
    "FetchedFrame",
    "record_path",
    "complete_record",
    "write_record",
    "copy_into",
]

#: JunoCam product ids: JNCE (EDR), JNCR (RDR), JNCS (simulated) ...
PRODUCT_ID_RE = re.compile(r"JNC[A-Z]_(\d{4})(\d{3})_(\d{2})([A-Z])(\d{5})_V(\d{2})")


@dataclass(frozen=True)
class ProductId:
    """The parts of a JunoCam product id such as ``JNCE_2022186_43C00080_V01``.

    Examples
    --------
    >>> p = parse_product_id("JNCE_2022186_43C00080_V01")
    >>> p.day, p.perijove, p.kind
    (datetime.date(2022, 7, 5), 43, 'C')
    """

    text: str
    day: date
    perijove: int
    kind: str


def parse_product_id(text: str) -> ProductId | None:
    """Parse a product id (the whole string must be one), or None.

    Examples
    --------
    >>> parse_product_id("JNCE_2022229_44M00040_V01").day.isoformat()
    '2022-08-17'
    """
    m = PRODUCT_ID_RE.fullmatch(text.strip())
    if not m:
        return None
    try:
        day = date(int(m.group(1)), 1, 1) + timedelta(days=int(m.group(2)) - 1)
    except (ValueError, OverflowError):
        return None
    return ProductId(m.group(0), day, int(m.group(3)), m.group(4))


@dataclass
class FetchedFrame:
    """One frame on disk after a fetch.

    Attributes
    ----------
    product_id : str
    folder : pathlib.Path
        ``OUT/<product_id>``.
    entry : pathlib.Path
        The file to give ``junocam process`` (the PNG or the ``.LBL``).
    skipped : bool
        True when the frame was already complete and nothing was fetched.
    record : dict
        The ``.fetch.json`` content.
    """

    product_id: str
    folder: Path
    entry: Path
    skipped: bool = False
    record: dict[str, Any] = field(default_factory=dict)


def record_path(out_dir: str | os.PathLike[str], product_id: str) -> Path:
    """``OUT/<product_id>/<product_id>.fetch.json``.

    Examples
    --------
    >>> record_path("raw", "JNCE_X").as_posix()
    'raw/JNCE_X/JNCE_X.fetch.json'
    """
    return Path(out_dir) / product_id / f"{product_id}.fetch.json"


def complete_record(out_dir: str | os.PathLike[str], product_id: str) -> FetchedFrame | None:
    """The frame if its record exists and every file it lists is there with its size.

    Examples
    --------
    >>> import tempfile
    >>> complete_record(tempfile.mkdtemp(), "JNCE_X") is None
    True
    """
    rec_path = record_path(out_dir, product_id)
    try:
        rec = json.loads(rec_path.read_text(encoding="utf-8"))
        files = rec["files"]
        entry = rec_path.parent / rec["entry"]
        for f in files:
            if (rec_path.parent / f["name"]).stat().st_size != f["size"]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return FetchedFrame(product_id, rec_path.parent, entry, skipped=True, record=rec)


def write_record(folder: Path, product_id: str, record: dict[str, Any]) -> Path:
    """Write the ``.fetch.json`` record (atomically, last).

    Examples
    --------
    >>> import tempfile
    >>> p = write_record(Path(tempfile.mkdtemp()), "JNCE_X", {"files": []})
    >>> p.name
    'JNCE_X.fetch.json'
    """
    record = dict(record)
    record.setdefault("fetched", datetime.now(UTC).isoformat(timespec="seconds"))
    text = (json.dumps(record, indent=2) + "\n").encode()
    path = folder / f"{product_id}.fetch.json"
    atomic_write(path, lambda fh: fh.write(text))
    return path


def copy_into(folder: Path, name: str, src: IO[bytes]) -> dict[str, Any]:
    """Copy a stream into ``folder/name`` atomically; returns ``{"name", "size"}``.

    Examples
    --------
    >>> import io, tempfile
    >>> copy_into(Path(tempfile.mkdtemp()), "a.txt", io.BytesIO(b"abc"))
    {'name': 'a.txt', 'size': 3}
    """
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / name, lambda fh: shutil.copyfileobj(src, fh, 1 << 20))
    return {"name": name, "size": (folder / name).stat().st_size}


def check_names(names: Iterable[str], where: str) -> None:
    """Refuse archive member names that would leave the frame's folder."""
    for n in names:
        if "/" in n or "\\" in n or n in ("", ".", ".."):
            raise FetchError(f"unsafe file name {n!r} in the archive", path=where)
