"""Raw frames from the PDS archive (JunoCam volumes on the PDS Imaging node).

The archive root (``--server``) holds the JunoCam volumes ``JNOJNC_NNNN/``; each
volume's ``INDEX/INDEX.TAB`` lists its products, one row each, with the product id,
the path of its file in the volume (EDR ``JNCE_...`` and RDR ``JNCR_...``, a
``.LBL`` label with its ``.IMG``) and its start time. The index is read without
its label: each row's fields are found by their form (a product id, a path ending
``.LBL`` or ``.IMG``, a time), which holds for the index layouts PDS uses.

A product is fetched as its label, then the image the label points to. The label
gives the image's exact size (``RECORD_BYTES`` x ``FILE_RECORDS``) and, in JunoCam
labels, its ``MD5_CHECKSUM``: the download is checked against both.

Examples
--------
>>> rows = parse_index('"DATA/EDR/JUPITER/ORBIT_43/","JNCE_2022186_43C00080_V01.LBL",'
...                    '"JNCE_2022186_43C00080_V01",2022-07-05T12:17:39.223')
>>> rows[0].path, rows[0].start.isoformat()
('DATA/EDR/JUPITER/ORBIT_43/JNCE_2022186_43C00080_V01.LBL', '2022-07-05T12:17:39.223000+00:00')
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath

from ..decode import load_metadata
from ..errors import FetchError, JunoCamError
from .frames import (
    PRODUCT_ID_RE,
    FetchedFrame,
    check_names,
    complete_record,
    copy_into,
    parse_product_id,
    write_record,
)
from .http import Downloader
from .listing import directory_listing

__all__ = [
    "DEFAULT_SERVER",
    "IndexRow",
    "parse_index",
    "LabelFacts",
    "parse_label",
    "volumes",
    "find_products",
    "fetch_product",
]

#: The JunoCam archive on the PDS Imaging node (the folder of the JNOJNC_ volumes).
DEFAULT_SERVER = "https://planetarydata.jpl.nasa.gov/img/data/juno"
_VOLUME = re.compile(r"^JNOJNC_\d{4}$", re.IGNORECASE)
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?$")


@dataclass(frozen=True)
class IndexRow:
    """One product of a volume's INDEX.TAB.

    Attributes
    ----------
    product_id : str
    path : str
        The product's file relative to the volume root (``/`` separated).
    start : datetime or None
        START_TIME (UTC) when the row gives one.
    volume : str
        The volume folder (filled in by :func:`find_products`).
    """

    product_id: str
    path: str
    start: datetime | None = None
    volume: str = ""


def _time(text: str) -> datetime | None:
    t = text.strip().rstrip("Z")
    try:
        return datetime.fromisoformat(t).replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_index(text: str) -> list[IndexRow]:
    """Rows of a PDS3 INDEX.TAB (comma-separated, quoted strings, fixed width).

    Rows without a JunoCam product id or a ``.LBL``/``.IMG`` path are skipped.
    A path split into a folder field and a file-name field is joined.

    Examples
    --------
    >>> parse_index('"x","y"\\n"JNCE_2017038_04C00586_V01","DATA/A.IMG"')[0].path
    'DATA/A.IMG'
    """
    rows: list[IndexRow] = []
    for fields in csv.reader(io.StringIO(text), skipinitialspace=True):
        fields = [f.strip() for f in fields]
        pid = next((f for f in fields if PRODUCT_ID_RE.fullmatch(f)), None)
        if pid is None:
            continue
        path = None
        for i, f in enumerate(fields):
            if f.lower().endswith((".lbl", ".img")):
                folder = next(
                    (g for g in fields[:i] if g.endswith("/") and "/" in g and "." not in g[-5:]),
                    "",
                )
                path = f if "/" in f else folder + f
                break
        if path is None:
            continue
        start = next((_time(f) for f in fields if _TIME.match(f)), None)
        rows.append(IndexRow(pid, path.lstrip("/"), start))
    return rows


@dataclass(frozen=True)
class LabelFacts:
    """What a detached PDS3 label says about its image file."""

    image_name: str | None
    size: int | None
    md5: str | None


_POINTER = re.compile(r'^[ \t]*\^IMAGE\s*=\s*\(?\s*"?([^",)\s]+)"?', re.MULTILINE)
_RECORD_BYTES = re.compile(r"^[ \t]*RECORD_BYTES\s*=\s*(\d+)", re.MULTILINE)
_FILE_RECORDS = re.compile(r"^[ \t]*FILE_RECORDS\s*=\s*(\d+)", re.MULTILINE)
_MD5 = re.compile(r'^[ \t]*MD5_CHECKSUM\s*=\s*"?([0-9a-fA-F]{32})"?', re.MULTILINE)


def parse_label(text: str) -> LabelFacts:
    """The image file a detached label points to, its size and MD5 (None if not given).

    An ``^IMAGE`` pointer that is a number (an attached label) gives no file name.

    Examples
    --------
    >>> f = parse_label('RECORD_BYTES = 1648\\nFILE_RECORDS = 3072\\n^IMAGE = "A.IMG"\\n'
    ...                 'MD5_CHECKSUM = "8187bc46fcfbfe86d895d5745f644aae"\\nEND')
    >>> f.image_name, f.size, f.md5[:6]
    ('A.IMG', 5062656, '8187bc')
    """
    pointer = _POINTER.search(text)
    name = pointer.group(1) if pointer and not pointer.group(1).isdigit() else None
    rb, fr, md5 = _RECORD_BYTES.search(text), _FILE_RECORDS.search(text), _MD5.search(text)
    size = int(rb.group(1)) * int(fr.group(1)) if (rb and fr and name) else None
    return LabelFacts(name, size, md5.group(1).lower() if (md5 and name) else None)


def volumes(dl: Downloader, server: str) -> list[str]:
    """The JunoCam volume folders (``JNOJNC_NNNN``) listed at the archive root.

    Examples
    --------
    >>> import tempfile
    >>> from junocam.fetch.cache import Cache
    >>> volumes(Downloader(Cache(tempfile.mkdtemp()), offline=True), "http://127.0.0.1:9")
    Traceback (most recent call last):
    ...
    junocam.errors.FetchError: http://127.0.0.1:9/: not in the cache (...); run without ...
    """
    url = f"{server.rstrip('/')}/"
    found = sorted(
        e.name for e in directory_listing(dl.text(url)) if e.is_dir and _VOLUME.match(e.name)
    )
    if not found:
        raise FetchError("the archive listing shows no JunoCam volume (JNOJNC_NNNN/)", path=url)
    return found


def find_products(
    dl: Downloader,
    server: str,
    *,
    product_ids: tuple[str, ...] = (),
    perijoves: tuple[int, ...] = (),
    date_from: date | None = None,
    date_to: date | None = None,
    on_error: Callable[[str, JunoCamError], None] | None = None,
) -> list[IndexRow]:
    """The index rows selected by product ids, perijoves and/or dates, over all volumes.

    Perijove and date selections take EDR products (``JNCE_``, the raw frames);
    product ids are taken as given (EDR or RDR). An index is read once and kept in
    the cache (released volumes do not change).

    Examples
    --------
    >>> import tempfile
    >>> from junocam.fetch.cache import Cache
    >>> find_products(Downloader(Cache(tempfile.mkdtemp()), offline=True), "http://x")
    []
    """
    if not (product_ids or perijoves or date_from or date_to):
        return []
    rows: list[IndexRow] = []
    for vol in volumes(dl, server):
        url = f"{server.rstrip('/')}/{vol}/INDEX/INDEX.TAB"
        try:
            text = dl.text(url, refresh=False)
        except JunoCamError as err:
            if on_error is None:
                raise
            on_error(vol, err)
            continue
        for r in parse_index(text):
            # some indexes start their paths with the volume id: paths here are in the volume
            path = (
                r.path[len(vol) + 1 :] if r.path.upper().startswith(vol.upper() + "/") else r.path
            )
            rows.append(IndexRow(r.product_id, path, r.start, vol))
    wanted = set(product_ids)
    chosen: dict[str, IndexRow] = {}
    for r in rows:
        pid = parse_product_id(r.product_id)
        if r.product_id in wanted:
            chosen.setdefault(r.product_id, r)
            continue
        if pid is None or not r.product_id.startswith("JNCE_"):
            continue
        day = r.start.date() if r.start else pid.day
        if perijoves and pid.perijove not in perijoves:
            continue
        if not perijoves and not (date_from or date_to):
            continue
        if (date_from and day < date_from) or (date_to and day > date_to):
            continue
        chosen.setdefault(r.product_id, r)
    for pid_text in product_ids:
        if pid_text not in chosen:
            missing = FetchError("not in the INDEX.TAB of any JunoCam volume", path=pid_text)
            if on_error is None:
                raise missing
            on_error(pid_text, missing)
    return sorted(chosen.values(), key=lambda r: r.product_id)


def fetch_product(dl: Downloader, server: str, row: IndexRow, out_dir: Path) -> FetchedFrame:
    """Download one product's label and image into ``OUT/<product_id>/``.

    Raises
    ------
    FetchError
        On a download failure, a wrong size or MD5, or a label that cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> from junocam.fetch.cache import Cache
    >>> d = Downloader(Cache(tempfile.mkdtemp()), offline=True)
    >>> row = IndexRow("JNCE_2017038_04C00586_V01", "DATA/A.LBL", None, "JNOJNC_0001")
    >>> fetch_product(d, "http://127.0.0.1:9", row, Path(tempfile.mkdtemp()))
    Traceback (most recent call last):
    ...
    junocam.errors.FetchError: http://127.0.0.1:9/JNOJNC_0001/DATA/A.LBL: not in the cache ...
    """
    done = complete_record(out_dir, row.product_id)
    if done is not None:
        return done
    folder = out_dir / row.product_id
    base = f"{server.rstrip('/')}/{row.volume}"
    url = f"{base}/{row.path}"
    first = dl.get(url, label=f"{row.product_id} {PurePosixPath(row.path).suffix}")
    files: list[dict[str, object]] = []
    downloads: list[dict[str, object]] = []
    name = PurePosixPath(row.path).name
    check_names([name], url)
    if name.lower().endswith(".lbl"):
        facts = parse_label(first.read_bytes()[: 1 << 20].decode("latin-1"))
        if facts.image_name is None:
            raise FetchError("the label names no detached ^IMAGE file", path=url)
        check_names([facts.image_name], url)
        img_url = f"{url.rsplit('/', 1)[0]}/{facts.image_name}"
        img = dl.get(img_url, size=facts.size, md5=facts.md5, label=f"{row.product_id} .IMG")
        pairs = [(name, url, first), (facts.image_name, img_url, img)]
    else:
        facts = LabelFacts(None, None, None)
        pairs = [(name, url, first)]
    for fname, furl, path in pairs:
        with open(path, "rb") as src:
            rec = copy_into(folder, fname, src)
        rec.update(source=furl)
        files.append(rec)
        downloads.append(
            {
                "url": furl,
                "size": path.stat().st_size,
                "sha256": dl.cache.record(furl).get("sha256"),
            }
        )
    entry = folder / name
    try:
        load_metadata(entry)
    except JunoCamError as err:
        raise FetchError(f"the downloaded label cannot be read: {err.message}", path=url) from None
    record = {
        "source": "pds",
        "server": server,
        "product_id": row.product_id,
        "volume": row.volume,
        "index_path": row.path,
        "start_time": row.start.isoformat() if row.start else None,
        "label_size": facts.size,
        "label_md5": facts.md5,
        "entry": name,
        "files": files,
        "downloads": downloads,
    }
    write_record(folder, row.product_id, record)
    return FetchedFrame(row.product_id, folder, entry, record=record)
