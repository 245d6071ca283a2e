"""Fly-by animations: globe views along the spacecraft's path, written as GIF or MP4.

:func:`flyby_views` makes the sequence of :class:`~junocam.maps.globe.GlobeView`
along body-fixed positions (km); :func:`encode_movie` writes the rendered frames
(a GIF always, an MP4 with imageio's ffmpeg plugin).

Examples
--------
>>> import numpy as np
>>> views = flyby_views([np.array([300000.0, 0.0, 0.0]), np.array([0.0, 300000.0, 0.0])], 4)
>>> len(views), round(views[0].distance, 3)
(5, 4.196)
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import GeometryError, OutputError
from ..output import atomic_write
from ..planet.spheroid import (
    JUPITER,
    Ellipsoid,
    planetographic,
)
from .globe import GlobeView

__all__ = [
    "flyby_views",
    "encode_movie",
]


def flyby_views(
    positions: Sequence[np.ndarray],
    steps: int = 8,
    *,
    fov_deg: float = 40.0,
    size: int | tuple[int, int] = 480,
    body: Ellipsoid = JUPITER,
    min_distance: float = 1.15,
) -> list[GlobeView]:
    """Views along a path through body-fixed positions (km), ``steps`` per leg.

    Directions are interpolated on the sphere and distances geometrically, so the
    camera glides along the spacecraft's track. A single position gives a slow
    turn of 60 degrees of longitude around it.

    Examples
    --------
    >>> vs = flyby_views([np.array([3e5, 0, 0]), np.array([0, 3e5, 0])], steps=4, size=32)
    >>> len(vs), round(vs[0].distance, 3)
    (5, 4.196)
    """
    pts = [np.asarray(p, np.float64) for p in positions]
    if not pts:
        raise GeometryError("no positions for the fly-by")
    if len(pts) == 1:
        p = pts[0]
        lat, lon = planetographic(p / np.linalg.norm(p) * body.a, body)
        d = max(float(np.linalg.norm(p)) / body.a, min_distance)
        return [
            GlobeView(
                float(np.degrees(lat)), (float(np.degrees(lon)) + da) % 360.0, d, fov_deg, size
            )
            for da in np.linspace(-30.0, 30.0, max(2, steps * 4))
        ]
    views = []
    for k in range(len(pts) - 1):
        a, b = pts[k], pts[k + 1]
        last = k == len(pts) - 2
        for t in np.linspace(0.0, 1.0, steps + 1)[: steps + 1 if last else steps]:
            ua, ub = a / np.linalg.norm(a), b / np.linalg.norm(b)
            omega = math.acos(float(np.clip(ua @ ub, -1.0, 1.0)))
            if omega < 1e-9:
                u = ua
            else:
                u = (math.sin((1 - t) * omega) * ua + math.sin(t * omega) * ub) / math.sin(omega)
            dist = math.exp((1 - t) * math.log(np.linalg.norm(a)) + t * math.log(np.linalg.norm(b)))
            lat, lon = planetographic(u * body.a, body)
            views.append(
                GlobeView(
                    float(np.degrees(lat)),
                    float(np.degrees(lon)),
                    max(dist / body.a, min_distance),
                    fov_deg,
                    size,
                )
            )
    return views


def encode_movie(
    path: str | Path,
    frames: Sequence[np.ndarray] | Callable[[], Sequence[np.ndarray]],
    *,
    fps: float = 12.0,
    protect: Sequence[str | Path] = (),
) -> Path:
    """Write float RGB frames in [0, 1] as a GIF or MP4 (atomically).

    Raises
    ------
    OutputError
        For another extension, or MP4 without imageio's ffmpeg plugin.

    Examples
    --------
    >>> import tempfile
    >>> import imageio.v3 as iio
    >>> frames = [np.zeros((16, 16, 3), np.float32), np.ones((16, 16, 3), np.float32)]
    >>> movie = encode_movie(Path(tempfile.mkdtemp()) / "m.gif", frames)
    >>> movie.suffix, iio.imread(movie).shape
    ('.gif', (2, 16, 16, 3))
    >>> encode_movie(movie.with_suffix(".avi"), frames)
    Traceback (most recent call last):
    ...
    junocam.errors.OutputError: ...m.avi: unknown movie format '.avi': use .gif or .mp4
    """
    import imageio.v3 as iio

    p = Path(path)
    seq = frames() if callable(frames) else frames
    data = [np.clip(np.asarray(f) * 255.0 + 0.5, 0, 255).astype(np.uint8) for f in seq]
    if not data:
        raise OutputError("no frames to write", path=str(p))
    ext = p.suffix.lower()
    if ext == ".gif":
        buf = io.BytesIO()
        iio.imwrite(buf, np.stack(data), extension=".gif", duration=1000.0 / fps, loop=0)
        atomic_write(p, lambda fh: fh.write(buf.getvalue()), protect=protect)
        return p
    if ext == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise OutputError(
                "MP4 needs imageio's ffmpeg plugin (pip install imageio-ffmpeg); "
                "write a .gif instead",
                path=str(p),
            ) from None
        fd, tmp = tempfile.mkstemp(suffix=".mp4", dir=p.parent if str(p.parent) else ".")
        os.close(fd)
        try:
            iio.imwrite(tmp, np.stack(data), extension=".mp4", fps=fps)
            atomic_write(p, lambda fh: fh.write(Path(tmp).read_bytes()), protect=protect)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return p
    raise OutputError(f"unknown movie format {ext!r}: use .gif or .mp4", path=str(p))
