"""Raw frames from the mission website, missionjuno.swri.edu.

The website's URL patterns, as the community's scripts use them:

- a listing of images: ``/junocam/processing?source=junocam&phases[]=PERIJOVE+43&perpage=100``,
  next pages with ``&p=2`` ...; each image links to ``/junocam/processing?id=ID``;
- an image page ``/junocam/processing?id=ID``: its product id, and two downloads
  through ``/Vault/VaultDownload?VaultID=N``, the *ImageSet* zip (the raw PNG) and the
  *DataSet* zip (the ``<id>-Metadata.json``).

The readers take the links and ids they need and ignore the rest of the page.
A fetched frame becomes ``OUT/<product_id>/`` with the raw PNG, its metadata JSON and
``<product_id>.fetch.json`` (see :mod:`junocam.fetch.frames`).

Examples
--------
>>> page = '''<h1>JNCE_2022186_43C00078_V01</h1> PERIJOVE 43
... <a href="/Vault/VaultDownload?VaultID=27001">Download ImageSet</a>
... <a href="/Vault/VaultDownload?VaultID=27002">Download DataSet</a>'''
>>> p = parse_image_page(page, 13537)
>>> p.product_id, p.imageset_vault, p.dataset_vault, p.perijove
('JNCE_2022186_43C00078_V01', 27001, 27002, 43)
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, urlsplit

from ..decode import find_metadata
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
from .listing import links

__all__ = [
    "DEFAULT_SERVER",
    "ImagePage",
    "parse_listing",
    "parse_image_page",
    "listing_url",
    "image_url",
    "vault_url",
    "find_images",
    "fetch_image",
]

#: The mission website.
DEFAULT_SERVER = "https://www.missionjuno.swri.edu"
#: Images per listing page asked for, and the most pages walked for one query.
PER_PAGE = 100
MAX_PAGES = 200

_PERIJOVE_TEXT = re.compile(r"PERIJOVE[\s+_-]*(\d{1,3})\b", re.IGNORECASE)


def listing_url(server: str, perijove: int | None = None, page: int = 1) -> str:
    """The URL of one page of the website's image listing.

    Examples
    --------
    >>> listing_url("https://x.org", 43, 2)
    'https://x.org/junocam/processing?source=junocam&phases[]=PERIJOVE+43&perpage=100&p=2'
    """
    q = "source=junocam"
    if perijove is not None:
        q += f"&phases[]=PERIJOVE+{perijove}"
    q += f"&perpage={PER_PAGE}"
    if page > 1:
        q += f"&p={page}"
    return f"{server.rstrip('/')}/junocam/processing?{q}"


def image_url(server: str, image_id: int) -> str:
    """The URL of an image's page.

    Examples
    --------
    >>> image_url("https://x.org/", 13537)
    'https://x.org/junocam/processing?id=13537'
    """
    return f"{server.rstrip('/')}/junocam/processing?id={image_id}"


def vault_url(server: str, vault_id: int) -> str:
    """The URL of a download (an ImageSet or DataSet zip).

    Examples
    --------
    >>> vault_url("https://x.org", 7)
    'https://x.org/Vault/VaultDownload?VaultID=7'
    """
    return f"{server.rstrip('/')}/Vault/VaultDownload?VaultID={vault_id}"


def _query_int(href: str, key: str) -> int | None:
    values = parse_qs(urlsplit(href).query).get(key) or parse_qs(urlsplit(href).query.lower()).get(
        key.lower()
    )
    if values and values[0].strip().isdigit():
        return int(values[0])
    return None


def parse_listing(html: str) -> list[int]:
    """The image ids a listing page links to (``processing?id=N``), in page order.

    Examples
    --------
    >>> parse_listing('<a href="/junocam/processing?id=13537"><img></a>'
    ...               '<a href="processing?id=13539">x</a><a href="?id=13537">again</a>')
    [13537, 13539]
    """
    ids: list[int] = []
    for link in links(html):
        if "processing" not in urlsplit(link.href).path and not link.href.startswith("?"):
            continue
        n = _query_int(link.href, "id")
        if n is not None and n not in ids:
            ids.append(n)
    return ids


@dataclass(frozen=True)
class ImagePage:
    """What an image page tells: ids and the two downloads.

    Examples
    --------
    >>> ImagePage(1, "JNCE_2022186_43C00078_V01", 2, 3).day.isoformat()
    '2022-07-05'
    """

    image_id: int
    product_id: str
    imageset_vault: int
    dataset_vault: int
    perijove: int | None = None
    title: str | None = None

    @property
    def day(self) -> date | None:
        """The UTC day of the image, from its product id."""
        p = parse_product_id(self.product_id)
        return p.day if p else None


def _kind(text: str) -> str | None:
    t = text.lower().replace(" ", "")
    if "imageset" in t or "rawimage" in t or "images" in t:
        return "images"
    if "dataset" in t or "metadata" in t:
        return "data"
    return None


def parse_image_page(html: str, image_id: int) -> ImagePage:
    """Read an image page: product id, ImageSet and DataSet download ids, perijove.

    A download link is any link with ``VaultDownload`` and a ``VaultID``; its text,
    title or URL says which is which ("ImageSet"/"Images", "DataSet"/"Metadata").
    When two unlabelled downloads remain, the first is taken as the ImageSet.

    Raises
    ------
    FetchError
        If the page names no product id or lacks a download.

    Examples
    --------
    >>> parse_image_page("<p>nothing here</p>", 5)
    Traceback (most recent call last):
    ...
    junocam.errors.FetchError: website image 5: the image page names no JunoCam product id
    """
    where = f"website image {image_id}"
    m = PRODUCT_ID_RE.search(html)
    if not m:
        raise FetchError("the image page names no JunoCam product id", path=where)
    found: dict[str, int] = {}
    unlabelled: list[int] = []
    for link in links(html):
        if "vaultdownload" not in link.href.lower():
            continue
        vault = _query_int(link.href, "VaultID")
        if vault is None:
            continue
        kind = _kind(f"{link.text} {link.title}") or _kind(link.href)
        if kind is None:
            if vault not in unlabelled:
                unlabelled.append(vault)
        else:
            found.setdefault(kind, vault)
    for kind in ("images", "data"):
        if kind not in found and unlabelled:
            found[kind] = unlabelled.pop(0)
    missing = [
        name for kind, name in (("images", "ImageSet"), ("data", "DataSet")) if kind not in found
    ]
    if missing:
        raise FetchError(f"the image page has no {' or '.join(missing)} download link", path=where)
    pj = _PERIJOVE_TEXT.search(html)
    pid = parse_product_id(m.group(0))
    perijove = int(pj.group(1)) if pj else (pid.perijove if pid else None)
    title_m = re.search(r"<title>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
    title = " ".join(title_m.group(1).split()) if title_m else None
    return ImagePage(image_id, m.group(0), found["images"], found["data"], perijove, title)


def _listing_ids(dl: Downloader, server: str, perijove: int | None) -> Iterator[list[int]]:
    """Each listing page's new image ids, page after page, until a page adds none."""
    seen: set[int] = set()
    for page in range(1, MAX_PAGES + 1):
        try:
            html = dl.text(listing_url(server, perijove, page))
        except FetchError as err:
            if page > 1 and err.status == 404:  # past the last page
                return
            raise
        ids = [i for i in parse_listing(html) if i not in seen]
        if not ids:
            return
        seen.update(ids)
        yield ids


def image_page(dl: Downloader, server: str, image_id: int) -> ImagePage:
    """Fetch (or read from the cache) and parse one image page."""
    # an image page does not change once published: the cached copy is used
    return parse_image_page(dl.text(image_url(server, image_id), refresh=False), image_id)


def find_images(
    dl: Downloader,
    server: str,
    *,
    product_ids: tuple[str, ...] = (),
    image_ids: tuple[int, ...] = (),
    perijoves: tuple[int, ...] = (),
    date_from: date | None = None,
    date_to: date | None = None,
    on_error: Callable[[str, JunoCamError], None] | None = None,
) -> list[ImagePage]:
    """The image pages selected by product ids, image ids, perijoves and/or dates.

    A product id is looked up in its perijove's listing (the perijove is part of
    the id). Dates filter by the UTC day in the product id; dates without a perijove
    walk the whole listing, which the website orders newest first, and stop at the
    first page older than ``date_from``. A selection that fails (an unknown product
    id, a broken page) is passed to ``on_error`` (or raised) and the others go on.

    Examples
    --------
    >>> import tempfile
    >>> from junocam.fetch.cache import Cache
    >>> find_images(Downloader(Cache(tempfile.mkdtemp()), offline=True), "http://x")
    []
    """

    def fail(what: str, err: JunoCamError) -> None:
        if on_error is None:
            raise err
        on_error(what, err)

    def in_dates(p: ImagePage) -> bool:
        d = p.day
        if d is None:
            return date_from is None and date_to is None
        return (date_from is None or d >= date_from) and (date_to is None or d <= date_to)

    pages: dict[int, ImagePage] = {}  # every page read, for the lookups
    chosen: dict[int, ImagePage] = {}  # asked for by id
    walked: dict[int, ImagePage] = {}  # from the perijove and date walks, filtered by date
    for i in image_ids:
        try:
            chosen.setdefault(i, pages.setdefault(i, image_page(dl, server, i)))
        except JunoCamError as err:
            fail(f"website image {i}", err)
    for pid in product_ids:
        parsed = parse_product_id(pid)
        if parsed is None:
            fail(pid, FetchError("not a JunoCam product id", path=pid))
            continue
        try:
            hit = _find_product(dl, server, parsed.text, parsed.perijove, pages)
        except JunoCamError as err:
            fail(pid, err)
            continue
        if hit is None:
            fail(
                pid,
                FetchError(
                    f"not found in the website's listing of perijove {parsed.perijove}",
                    path=pid,
                ),
            )
        else:
            chosen.setdefault(hit.image_id, hit)
    walks: list[int | None] = list(perijoves)
    if not walks and (date_from or date_to) and not (product_ids or image_ids):
        walks = [None]
    for pj in walks:
        what = f"perijove {pj}" if pj is not None else "website listing"
        try:
            for ids in _listing_ids(dl, server, pj):
                batch = []
                for i in ids:
                    try:
                        batch.append(pages.get(i) or image_page(dl, server, i))
                    except JunoCamError as err:
                        fail(f"website image {i}", err)
                for p in batch:
                    pages.setdefault(p.image_id, p)
                    if in_dates(p):
                        walked.setdefault(p.image_id, p)
                days = [p.day for p in batch if p.day is not None]
                if pj is None and date_from and days and max(days) < date_from:
                    break
        except JunoCamError as err:
            fail(what, err)
    selected = {**walked, **chosen}
    return sorted(selected.values(), key=lambda p: (p.product_id, p.image_id))


def _find_product(
    dl: Downloader, server: str, product_id: str, perijove: int, pages: dict[int, ImagePage]
) -> ImagePage | None:
    for p in pages.values():
        if p.product_id == product_id:
            return p
    for ids in _listing_ids(dl, server, perijove):
        for i in ids:
            p = pages.get(i) or image_page(dl, server, i)
            pages[i] = p
            if p.product_id == product_id:
                return p
    return None


def _members(zip_path: Path, url: str, what: str) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(zip_path)
        bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise FetchError(
            f"the {what} download is not a valid zip archive ({err}); it was removed "
            "from the cache, re-run the same command to download it again",
            path=url,
        ) from None
    if bad is not None:
        zf.close()
        raise FetchError(
            f"the {what} zip is damaged ({bad} fails its CRC check); it was removed from "
            "the cache, re-run the same command to download it again",
            path=url,
        )
    return zf


def _extract(
    dl: Downloader,
    url: str,
    what: str,
    keep: Callable[[list[str]], list[str]],
    folder: Path,
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Download a zip, copy the members whose base names ``keep`` selects into
    ``folder``; return the file records and the download's record."""
    zip_path = dl.get(url, label=f"{folder.name} {what}")
    try:
        zf = _members(zip_path, url, what)
    except FetchError:
        dl.cache.forget(url)
        raise
    files: list[dict[str, object]] = []
    with zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        names = set(keep([PurePosixPath(i.filename).name for i in members]))
        wanted = [i for i in members if PurePosixPath(i.filename).name in names]
        check_names([PurePosixPath(i.filename).name for i in wanted], url)
        for info in wanted:
            name = PurePosixPath(info.filename).name
            with zf.open(info) as src:
                rec = copy_into(folder, name, src)
            rec.update(source=url, member=info.filename)
            files.append(rec)
        others = sorted(i.filename for i in zf.infolist() if i not in wanted and not i.is_dir())
    rec = dl.cache.record(url)
    download: dict[str, object] = {
        "kind": what,
        "url": url,
        "size": zip_path.stat().st_size,
        "sha256": rec.get("sha256"),
        "members_not_kept": others,
    }
    return files, download


def fetch_image(dl: Downloader, server: str, page: ImagePage, out_dir: Path) -> FetchedFrame:
    """Download one image's ImageSet and DataSet and unpack them into ``OUT/<product_id>/``.

    Only the raw PNG (``*-raw.png``, or the archive's single PNG) and the metadata
    JSON are kept; other members are listed in the record. The result is checked:
    the metadata must name the image, as ``junocam process`` needs.

    Raises
    ------
    FetchError
        On a download failure, a bad archive, or an archive without the expected files.

    Examples
    --------
    >>> import tempfile
    >>> from junocam.fetch.cache import Cache
    >>> d = Downloader(Cache(tempfile.mkdtemp()), offline=True)
    >>> page = ImagePage(13537, "JNCE_2022186_43C00078_V01", 1, 2, 43)
    >>> fetch_image(d, "http://127.0.0.1:9", page, Path(tempfile.mkdtemp()))
    Traceback (most recent call last):
    ...
    junocam.errors.FetchError: http://127.0.0.1:9/Vault/VaultDownload?VaultID=1: not in ...
    """
    done = complete_record(out_dir, page.product_id)
    if done is not None:
        return done
    folder = out_dir / page.product_id
    img_url = vault_url(server, page.imageset_vault)
    data_url = vault_url(server, page.dataset_vault)
    files: list[dict[str, object]] = []
    downloads: list[dict[str, object]] = []

    def raw_pngs(names: list[str]) -> list[str]:
        pngs = [n for n in names if n.lower().endswith(".png") and page.product_id in n]
        # the raw strip only: a map-projected or other PNG would be taken for a frame
        return [n for n in pngs if n.lower().endswith("-raw.png")] or pngs[:1]

    def jsons(names: list[str]) -> list[str]:
        return [n for n in names if n.lower().endswith(".json")]

    f, d = _extract(dl, img_url, "ImageSet", raw_pngs, folder)
    if not f:
        dl.cache.forget(img_url)
        raise FetchError(
            f"the ImageSet zip holds no PNG of {page.product_id}; it was removed from the "
            "cache, re-run to download it again",
            path=img_url,
        )
    entry = folder / str(f[0]["name"])
    files += f
    downloads.append(d)
    f, d = _extract(dl, data_url, "DataSet", jsons, folder)
    files += f
    downloads.append(d)
    meta = find_metadata(entry)
    if meta is None:
        raise FetchError(
            f"the DataSet zip holds no metadata JSON naming {entry.name}", path=data_url
        )
    record = {
        "source": "website",
        "server": server,
        "product_id": page.product_id,
        "image_id": page.image_id,
        "page": image_url(server, page.image_id),
        "perijove": page.perijove,
        "title": page.title,
        "entry": entry.name,
        "metadata": meta.name,
        "files": files,
        "downloads": downloads,
    }
    write_record(folder, page.product_id, record)
    return FetchedFrame(page.product_id, folder, entry, record=record)
