"""Getting the data: raw frames from the mission website or the PDS archive, and the
SPICE kernels that cover them from NAIF, into folders the other commands read.

Every download goes through :class:`Downloader` (cached, resumable, atomic, checked,
retried, at most two connections per host). ``httpx`` is needed
(``pip install 'junocam[fetch]'``).

Examples
--------
>>> from junocam.fetch import parse_product_id, website
>>> parse_product_id("JNCE_2022186_43C00080_V01").perijove
43
>>> website.listing_url("https://www.missionjuno.swri.edu", 43)
'https://www.missionjuno.swri.edu/junocam/processing?source=junocam&phases[]=PERIJOVE+43&perpage=100'
"""

from __future__ import annotations

from . import naif, pds, website
from .cache import CACHE_ENV, Cache, default_cache_dir
from .frames import FetchedFrame, ProductId, parse_product_id
from .http import Downloader, NullProgress, ProgressHook
from .listing import ListingEntry, directory_listing, links
from .naif import FrameWindow, KernelChoice, choose_kernels, fetch_kernels, write_meta_kernel
from .progress import DownloadProgress

__all__ = [
    "CACHE_ENV",
    "Cache",
    "default_cache_dir",
    "Downloader",
    "NullProgress",
    "ProgressHook",
    "DownloadProgress",
    "FetchedFrame",
    "ProductId",
    "parse_product_id",
    "ListingEntry",
    "directory_listing",
    "links",
    "FrameWindow",
    "KernelChoice",
    "choose_kernels",
    "fetch_kernels",
    "write_meta_kernel",
    "naif",
    "pds",
    "website",
]
