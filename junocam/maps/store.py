"""Map products on disk: compressed arrays, the JSON sidecar, and reading a map back.

Every write is atomic (temporary file, then rename) and never replaces an input.

Examples
--------
>>> import tempfile, json
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> rec = write_sidecar(d / "m.json", {"outputs": []}, protect=())
>>> rec["outputs"] == [str(d / "m.json")], json.loads((d / "m.json").read_text())["outputs"]
(True, [])
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..output import atomic_write
from ..planet.projection import MapGrid


def write_npz(path: Path, protect: tuple[Path, ...], **arrays: np.ndarray) -> None:
    """Compressed ``.npz`` written atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]  # names, not allow_pickle
    atomic_write(path, lambda fh: fh.write(buf.getvalue()), protect=protect)


def write_sidecar(path: Path, record: dict[str, Any], protect: tuple[Path, ...]) -> dict[str, Any]:
    """Write the JSON record atomically and list it among its own outputs."""
    text = json.dumps(record, indent=2)
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), protect=protect)
    record["outputs"].append(str(path))
    return record


def load_map(path: str | Path) -> tuple[np.ndarray, MapGrid, np.ndarray]:
    """A map image written by ``junocam map``/``mosaic`` and its grid (from the sidecar).

    The sidecar is the ``.json`` beside the image with the same stem.

    Returns
    -------
    (image float32 in [0, 1], MapGrid, mask of non-black pixels)

    Examples
    --------
    A 4 x 4 polar map with a bright square in the middle, and its sidecar:

    >>> import tempfile
    >>> from junocam.output import write_png
    >>> d = Path(tempfile.mkdtemp())
    >>> grid = MapGrid("polar", 1.0, (4, 4), pole="south")
    >>> rgb = np.zeros((4, 4, 3), np.float32)
    >>> rgb[1:3, 1:3] = 1.0
    >>> write_png(d / "f-map-polar.png", rgb)
    >>> rec = write_sidecar(d / "f-map-polar.json", {"grid": grid.to_dict(), "outputs": []}, ())
    >>> img, back, mask = load_map(d / "f-map-polar.png")
    >>> back == grid, back.projection, img.shape, int(mask.sum())
    (True, 'polar', (4, 4, 3), 4)
    """
    from ..errors import FormatError

    p = Path(path)
    side = p.with_suffix(".json")
    if not side.is_file():
        raise FormatError(
            f"no grid description: {side.name} is missing beside the map", path=str(p)
        )
    try:
        grid = MapGrid.from_dict(json.loads(side.read_text())["grid"])
    except (KeyError, ValueError) as err:
        raise FormatError(
            f"{side.name} does not describe a map grid ({err})", path=str(p)
        ) from None
    import imageio.v3 as iio

    try:
        img = np.asarray(iio.imread(p))
    except Exception as err:  # noqa: BLE001 - any decoder failure is a bad file
        raise FormatError(f"cannot read the map image: {err}", path=str(p)) from None
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    img = img.astype(np.float32) / scale
    if img.ndim == 3 and img.shape[2] == 4:  # written with --alpha: the alpha is the coverage
        mask = img[..., 3] > 0.5
        img = img[..., :3] * mask[..., None]
    else:
        mask = img.max(axis=-1) > 0 if img.ndim == 3 else img > 0
    return img, grid, mask
