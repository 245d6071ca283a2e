"""A cache of frame geometry: the spin fit and navigation done once per frame.

Navigating a frame (spin self-calibration, attitude from the limb and terminator) is
the dearest part of a map and gives the same answer for the same pixels, metadata,
kernels and options. :class:`GeometryCache` keeps each answer as one small ``.npz``
(numbers and arrays only, read without pickle) in ``<cache>/geometry/``, where
``<cache>`` is ``$JUNOCAM_CACHE_DIR`` or the platform's user cache folder for
junocam. The key (:func:`geometry_key`) is a SHA-256 over everything the result
depends on:

* the decoded raw pixels and the frame's metadata (the source file's location left
  out: a copied frame is the same frame);
* every kernel file's resolved path, size and modification time (for a meta-kernel:
  the meta-kernel file itself; edit it, or touch it, when its kernels change);
* the navigation mode and start-time offset;
* the junocam version and this cache's format number.

Entries are written atomically (temporary file, then rename); an entry that cannot
be read is ignored with a warning and recomputed, never an error.

Examples
--------
>>> import tempfile
>>> cache = GeometryCache(tempfile.mkdtemp())
>>> cache.load("0" * 64) is None
True
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..camera import CameraModel
from ..decode import RawFrame
from ..metadata import Companding, Filter
from ..output import atomic_write
from ..planet.navigate import Navigation
from ..planet.pointing import Pointing, ViewGeometry
from ..planet.spheroid import Ellipsoid
from ..planet.spice import Ephemeris, KernelSet
from ..planet.targets import Target
from ..spin import SpinModel
from ..spinfit import SpinFit

__all__ = ["CACHE_ENV", "GeometryCache", "default_cache_root", "geometry_key"]

#: Environment variable naming the cache folder (shared with the download cache).
CACHE_ENV = "JUNOCAM_CACHE_DIR"
#: Bumped whenever the stored layout or the meaning of an entry changes.
CACHE_FORMAT = 1

# only these types are rebuilt from an entry: the file never names code to run
_TYPES: dict[str, type] = {
    t.__name__: t
    for t in (
        CameraModel,
        Ellipsoid,
        Ephemeris,
        Navigation,
        Pointing,
        SpinFit,
        SpinModel,
        Target,
        ViewGeometry,
    )
}
_ENUMS: dict[str, type[enum.Enum]] = {"Filter": Filter, "Companding": Companding}


def default_cache_root() -> Path:
    """``$JUNOCAM_CACHE_DIR`` if set, else the platform's user cache folder for junocam.

    Examples
    --------
    >>> import os
    >>> old = os.environ.get("JUNOCAM_CACHE_DIR")
    >>> os.environ["JUNOCAM_CACHE_DIR"] = "/tmp/jc-cache"
    >>> str(default_cache_root())
    '/tmp/jc-cache'
    >>> _ = os.environ.pop("JUNOCAM_CACHE_DIR") if old is None else os.environ.update(
    ...     JUNOCAM_CACHE_DIR=old)
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("junocam", appauthor=False))


def _kernel_stamp(path: str) -> list[Any]:
    p = Path(path)
    try:
        st = p.stat()
        return [str(p.resolve()), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(p), None, None]


def geometry_key(
    frame: RawFrame,
    kernels: KernelSet,
    *,
    mode: str = "auto",
    time_offset: float = 0.0,
    target: str | None = None,
) -> str:
    """The cache key of a frame's geometry (SHA-256, hex).

    Examples
    --------
    >>> from junocam.metadata import assumed_meta
    >>> fr = RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384))
    >>> ks = KernelSet(paths=("missing.tls",), source="x")
    >>> k = geometry_key(fr, ks)
    >>> len(k), k == geometry_key(fr, ks), k == geometry_key(fr, ks, mode="limb")
    (64, True, False)
    """
    pixels = np.ascontiguousarray(frame.pixels)
    h = hashlib.sha256()
    h.update(f"{pixels.dtype.str}{pixels.shape}".encode())
    h.update(pixels.data)
    meta = dataclasses.replace(frame.meta, source=None)
    parts = {
        "format": CACHE_FORMAT,
        "junocam": __version__,
        "pixels": h.hexdigest(),
        "meta": repr(meta),
        "kernels": [_kernel_stamp(p) for p in kernels.paths],
        "mode": mode,
        "time_offset": float(time_offset),
        "target": None if target is None else target.upper(),
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _encode(x: Any, arrays: dict[str, np.ndarray]) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        name = type(x).__name__
        if _TYPES.get(name) is not type(x):
            raise TypeError(f"cannot cache a {name}")
        fields = {f.name: _encode(getattr(x, f.name), arrays) for f in dataclasses.fields(x)}
        return {"__type__": name, "fields": fields}
    if isinstance(x, enum.Enum):
        return {"__enum__": type(x).__name__, "value": x.value}
    if isinstance(x, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = x
        return {"__array__": key}
    if isinstance(x, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in x]}
    if isinstance(x, list):
        return [_encode(v, arrays) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise TypeError(f"cannot cache a {type(x).__name__}")


def _decode(x: Any, arrays: Any) -> Any:
    if isinstance(x, list):
        return [_decode(v, arrays) for v in x]
    if not isinstance(x, dict):
        return x
    if "__type__" in x:
        cls = _TYPES[x["__type__"]]
        return cls(**{k: _decode(v, arrays) for k, v in x["fields"].items()})
    if "__enum__" in x:
        return _ENUMS[x["__enum__"]](x["value"])
    if "__array__" in x:
        return np.asarray(arrays[x["__array__"]])
    if "__tuple__" in x:
        return tuple(_decode(v, arrays) for v in x["__tuple__"])
    raise ValueError(f"unknown entry {sorted(x)}")


class GeometryCache:
    """Frame geometries on disk, one ``<key>.npz`` each.

    Parameters
    ----------
    root : str or os.PathLike, optional
        The cache folder; entries go to ``root/geometry/``. Default:
        :func:`default_cache_root`.

    Examples
    --------
    Any frozen value built of the geometry's types round-trips:

    >>> import tempfile
    >>> cache = GeometryCache(tempfile.mkdtemp())
    >>> fit = SpinFit(SpinModel(0.078), SpinModel(0.077), 3, 10, 0.1, 0.2, 0.05, False, "ok")
    >>> cache.store("ab" * 32, fit)
    >>> cache.load("ab" * 32) == fit
    True
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(root if root is not None else default_cache_root()) / "geometry"

    def path(self, key: str) -> Path:
        """The entry file of ``key``.

        Examples
        --------
        >>> GeometryCache("/tmp/c").path("ab").as_posix()
        '/tmp/c/geometry/ab.npz'
        """
        return self.folder / f"{key}.npz"

    def load(self, key: str) -> Any:
        """The stored value of ``key``, or None when absent or unreadable (warned).

        Examples
        --------
        >>> import tempfile, warnings
        >>> cache = GeometryCache(tempfile.mkdtemp())
        >>> cache.store("01" * 32, SpinModel(0.078))
        >>> _ = cache.path("01" * 32).write_bytes(b"garbage")
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     print(cache.load("01" * 32), "unreadable" in str(caught[0].message))
        None True
        """
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as npz:
                meta = json.loads(str(npz["__meta__"]))
                if meta.get("format") != CACHE_FORMAT or meta.get("key") != key:
                    raise ValueError("written for another key or format")
                arrays = {k: npz[k] for k in npz.files if k != "__meta__"}
                return _decode(meta["value"], arrays)
        except Exception as err:  # noqa: BLE001 - a bad entry is recomputed, never fatal
            warnings.warn(
                f"{p}: unreadable geometry cache entry ignored ({type(err).__name__}: {err}); "
                "recomputing",
                RuntimeWarning,
                stacklevel=2,
            )
            return None

    def store(self, key: str, value: Any) -> None:
        """Write ``value`` under ``key`` (atomically; a failure to write only warns).

        Examples
        --------
        >>> import tempfile
        >>> cache = GeometryCache(tempfile.mkdtemp())
        >>> cache.store("02" * 32, (SpinModel(0.078), None, 1.5))
        >>> cache.load("02" * 32)[1:]
        (None, 1.5)
        """
        try:
            arrays: dict[str, np.ndarray] = {}
            meta = {"format": CACHE_FORMAT, "key": key, "value": _encode(value, arrays)}
            buf = io.BytesIO()
            np.savez(buf, __meta__=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path(key), lambda fh: fh.write(buf.getvalue()))
        except Exception as err:  # noqa: BLE001 - the cache is an optimisation only
            warnings.warn(
                f"{self.path(key)}: could not write the geometry cache ({err})",
                RuntimeWarning,
                stacklevel=2,
            )

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """``(value, hit)``: the stored value, or ``compute()`` stored and returned.

        Examples
        --------
        >>> import tempfile
        >>> cache = GeometryCache(tempfile.mkdtemp())
        >>> cache.get_or_compute("cd" * 32, lambda: SpinModel(0.078))[1]
        False
        >>> cache.get_or_compute("cd" * 32, lambda: SpinModel(0.0))
        (SpinModel(turn_per_exposure=0.078, ...), True)
        """
        value = self.load(key)
        if value is not None:
            return value, True
        value = compute()
        self.store(key, value)
        return value, False
