"""Small, tolerant readers of the HTML that servers send: links, and directory listings.

Only the standard library's :mod:`html.parser` is used. Nothing here trusts a page's
layout beyond "a link is an ``<a href>``": the website's and NAIF's pages were
not reachable while this was written, so the readers follow the documented URL
patterns and ignore everything else.

Examples
--------
>>> [(a.href, a.text) for a in links('<p><a href="x.bsp">x.bsp</a> <A HREF=y>Y</A></p>')]
[('x.bsp', 'x.bsp'), ('y', 'Y')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

__all__ = ["Link", "links", "ListingEntry", "directory_listing"]


@dataclass(frozen=True)
class Link:
    """One ``<a>`` element: its ``href``, its text and its ``title``, whitespace folded."""

    href: str
    text: str
    title: str = ""


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Link] = []
        self._open: list[tuple[str, str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            a = {k.lower(): (v or "") for k, v in attrs}
            self._open.append((a.get("href", ""), a.get("title", ""), []))

    def handle_data(self, data: str) -> None:
        for _, _, texts in self._open:
            texts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open:
            self._close()

    def _close(self) -> None:
        href, title, texts = self._open.pop()
        if href:
            self.found.append(Link(href.strip(), " ".join("".join(texts).split()), title))

    def close(self) -> None:
        super().close()
        while self._open:  # tolerate unclosed anchors
            self._close()


def links(html: str) -> list[Link]:
    """Every link of a page, in document order (unclosed ``<a>`` tags included).

    Examples
    --------
    >>> links('<a href="/Vault/VaultDownload?VaultID=5&amp;x=1">ImageSet')[0].href
    '/Vault/VaultDownload?VaultID=5&x=1'
    """
    parser = _Anchors()
    parser.feed(html)
    parser.close()
    return parser.found


@dataclass(frozen=True)
class ListingEntry:
    """A file or folder of a directory listing; ``size`` in bytes when the listing
    gives it exactly (a bare number), else None."""

    name: str
    is_dir: bool
    size: int | None = None


# Apache's fancy index: <a href="f">f</a>   2022-08-10 12:00  1.3M ; nginx: ... 1356800
_ROW = re.compile(
    r"""href\s*=\s*["']?([^"'\s>]+)["']?[^>]*>.*?</a>\s*"""
    r"""(?:\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?|\d{2}-\w{3}-\d{4} \d{2}:\d{2})\s+(\S+)""",
    re.IGNORECASE,
)


def directory_listing(html: str) -> list[ListingEntry]:
    """The entries of a web server's directory listing (Apache, nginx or similar).

    Sorting links (``?C=N;O=D``), the parent folder and links that leave the folder
    are skipped; names are URL-decoded.

    Examples
    --------
    >>> page = '''<a href="?C=M;O=A">Last modified</a> <a href="/pub/">Parent Directory</a>
    ... <a href="naif0012.tls">naif0012.tls</a>  2016-07-07 14:17  5257
    ... <a href="a/">a/</a>  2020-01-01 00:00  -
    ... <a href="big.bsp">big.bsp</a>  2022-08-10 12:00  1.3M'''
    >>> directory_listing(page)  # doctest: +NORMALIZE_WHITESPACE
    [ListingEntry(name='naif0012.tls', is_dir=False, size=5257),
     ListingEntry(name='a', is_dir=True, size=None),
     ListingEntry(name='big.bsp', is_dir=False, size=None)]
    """
    sizes: dict[str, int] = {}
    for m in _ROW.finditer(html):
        if m.group(2).isdigit():
            sizes[m.group(1)] = int(m.group(2))
    out: list[ListingEntry] = []
    seen: set[str] = set()
    for link in links(html):
        href = link.href
        u = urlsplit(href)
        if u.scheme or u.netloc or u.query or href.startswith(("/", "#", "..", "?")) or not u.path:
            continue
        is_dir = u.path.endswith("/")
        name = unquote(u.path.rstrip("/"))
        if not name or "/" in name or name in seen:
            continue
        seen.add(name)
        out.append(ListingEntry(name, is_dir, None if is_dir else sizes.get(href)))
    return out
