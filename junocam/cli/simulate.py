"""``junocam simulate``: raw frames of a procedural planet or an image, with metadata.

Examples
--------
>>> from junocam.metadata import Filter
>>> simulated_product_id((Filter.BLUE, Filter.GREEN, Filter.RED), 1)
'JNCS_2026329_00C00001_V01'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..decode import DEFAULT_MAX_PIXELS
from ..errors import FormatError
from ..metadata import Filter
from ..output import atomic_write, ensure_output_dir, write_png
from .options import CONTEXT, GlobalOptions, for_each, parse_filters

#: Product-name filter letter of each filter set [SIS]; X for other combinations.
_PRODUCT_LETTERS = {
    frozenset({"BLUE", "GREEN", "RED", "METHANE"}): "A",
    frozenset({"BLUE"}): "B",
    frozenset({"BLUE", "GREEN", "RED"}): "C",
    frozenset({"GREEN"}): "G",
    frozenset({"METHANE"}): "M",
    frozenset({"RED"}): "R",
    frozenset({"RED", "BLUE"}): "T",
}


def simulated_product_id(filters: Sequence[Filter], seed: int) -> str:
    """PRODUCT_ID of a simulated frame: ``JNCS_2026329_00<letter><seed>_V01``.

    ``S`` (simulated) stands where real products have E, R or M; the filter letter
    follows the SIS (A all four, C RGB, M methane, ...).

    Examples
    --------
    >>> simulated_product_id((Filter.BLUE, Filter.GREEN, Filter.RED), 7)
    'JNCS_2026329_00C00007_V01'
    >>> simulated_product_id((Filter.METHANE,), 0)
    'JNCS_2026329_00M00000_V01'
    """
    letter = _PRODUCT_LETTERS.get(frozenset(f.value for f in filters), "X")
    return f"JNCS_2026329_00{letter}{seed % 100000:05d}_V01"


def load_scene_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as float32 in [0, 1]: (H, W) grey or (H, W, 3) RGB.

    Integer images are scaled by their type's maximum; an alpha channel is dropped.

    Raises
    ------
    FormatError
        If the file cannot be read or is not a grey/RGB(A) image.
    SizeLimitError
        If it has more than ``max_pixels`` pixels.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "g.png")
    >>> write_png(p, np.full((4, 6), 255, np.uint8))
    >>> img = load_scene_image(p)
    >>> img.shape, float(img.max())
    ((4, 6), 1.0)
    """
    import warnings

    import imageio.v3 as iio

    from ..errors import SizeLimitError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # imageio plugin probing
            img = np.asarray(iio.imread(path))
    except Exception as err:  # noqa: BLE001 - any reader failure is a format problem
        raise FormatError(f"cannot read the scene image: {err}", path=path) from None
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[..., :3]
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    elif img.ndim != 2:
        raise FormatError(f"scene image of shape {img.shape} is not grey or RGB", path=path)
    if img.shape[0] * img.shape[1] > max_pixels:
        raise SizeLimitError(
            f"scene image has {img.shape[0] * img.shape[1]} pixels (limit {max_pixels})",
            path=path,
        )
    if np.issubdtype(img.dtype, np.integer):
        out = img.astype(np.float32) / float(np.iinfo(img.dtype).max)
    else:
        out = np.nan_to_num(img.astype(np.float32))
    return np.clip(out, 0.0, 1.0)


def _scene_choice(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value.lower() in ("jupiter", "neutral"):
        return value.lower()
    if not Path(value).is_file():
        raise click.BadParameter(f"{value!r} is neither 'jupiter', 'neutral' nor an image file")
    return value


@click.command("simulate", context_settings=CONTEXT)
@click.option(
    "-o",
    "--out-dir",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Output directory (created if missing).",
)
@click.option(
    "--filters",
    "filters",
    default="BLUE,GREEN,RED",
    show_default=True,
    callback=parse_filters,
    metavar="B,G,R",
    help="Filters in readout order, e.g. METHANE or METHANE,BLUE,GREEN,RED.",
)
@click.option(
    "--exposures",
    type=click.IntRange(1, 200),
    default=6,
    show_default=True,
    help="Number of exposures.",
)
@click.option(
    "--scene",
    default="jupiter",
    show_default=True,
    callback=_scene_choice,
    metavar="jupiter|neutral|PATH",
    help="The procedural Jupiter, a grey (neutral) Jupiter, or an image file placed "
    "on the sky (grey images are the same in every band).",
)
@click.option(
    "--image-fov",
    type=click.FloatRange(0.1, 120.0),
    default=40.0,
    show_default=True,
    metavar="DEGREES",
    help="Angular width of an image scene.",
)
@click.option(
    "--radius-deg",
    type=click.FloatRange(0.1, 60.0),
    default=8.0,
    show_default=True,
    help="Angular radius of the Jupiter disc, degrees.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the scene's storms and of the noise; also numbers the product.",
)
@click.option(
    "--interframe-delay",
    type=click.FloatRange(0.05, 5.0),
    default=0.372,
    show_default=True,
    metavar="SECONDS",
    help="INTERFRAME_DELAY written to the metadata.",
)
@click.option(
    "--turn",
    type=click.FloatRange(0.0, 0.5, min_open=True),
    default=None,
    metavar="RADIANS",
    help="True turn per exposure [default: a spin of 1.987 rpm].",
)
@click.option(
    "--oversample",
    type=click.IntRange(1, 8),
    default=2,
    show_default=True,
    help="Sub-pixel samples per axis when rendering.",
)
@click.option(
    "--noise/--no-noise",
    default=True,
    show_default=True,
    help="Shot and read noise (--no-noise: noise-free, much smaller PNGs).",
)
@click.option(
    "--hot-pixels",
    type=click.IntRange(0, 10000),
    default=20,
    show_default=True,
    help="Fixed hot pixels per band.",
)
@click.option("--product-id", help="PRODUCT_ID [default: JNCS_2026329_00<letter><seed>_V01].")
@click.pass_context
def simulate(
    ctx: click.Context,
    out_dir: Path,
    filters: tuple[Filter, ...],
    exposures: int,
    scene: str,
    image_fov: float,
    radius_deg: float,
    seed: int,
    interframe_delay: float,
    turn: float | None,
    oversample: int,
    noise: bool,
    hot_pixels: int,
    product_id: str | None,
) -> None:
    """Render a raw frame from a known scene, with website-style metadata.

    Uses the same camera and spin models as the stitcher. Writes
    <PRODUCT_ID>-raw.png (SQROOT-companded 8-bit strip) and <PRODUCT_ID>-raw.json
    (metadata as on the mission website, found automatically by the other
    commands); the true spin and noise parameters are under "SIMULATION".

    \b
    Examples:
      junocam simulate -o sim/
      junocam simulate -o sim/ --filters METHANE --exposures 8 --seed 2
      junocam simulate -o sim/ --scene neutral --turn 0.0775 --no-noise
      junocam simulate -o sim/ --scene photo.jpg --image-fov 30
    """
    import re

    from ..simulate import ImageScene, JupiterScene, SimulationSpec, metadata_json, simulate_frame

    opts: GlobalOptions = ctx.obj
    if len(set(filters)) != len(filters):
        raise click.BadParameter("a filter is named twice", param_hint="--filters")
    pid = product_id or simulated_product_id(filters, seed)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", pid):
        raise click.BadParameter(f"{pid!r} is not a safe file name", param_hint="--product-id")

    kind = scene if scene in ("jupiter", "neutral") else "image"

    def work(label: str) -> None:
        if kind != "image":
            sky: Any = JupiterScene(radius_deg=radius_deg, seed=seed, neutral=scene == "neutral")
        else:
            sky = ImageScene(load_scene_image(scene, opts.max_pixels), fov_deg=image_fov)
        spec = SimulationSpec(
            filters=filters,
            n_exposures=exposures,
            interframe_delay=interframe_delay,
            turn_per_exposure=turn,
            oversample=oversample,
            seed=seed,
            hot_pixels=hot_pixels,
            read_noise_dn=1.5 if noise else 0.0,
            shot_noise=noise,
            product_id=pid,
        )
        sim = simulate_frame(sky, spec)
        meta = dict(sim.metadata)
        meta["SIMULATION"] = {**meta["SIMULATION"], "scene": kind, "noise": noise}
        ensure_output_dir(out_dir)
        png = out_dir / f"{pid}-raw.png"
        js = out_dir / f"{pid}-raw.json"
        protect = [Path(scene)] if kind == "image" else []
        write_png(png, sim.strip, bits=8, protect=protect, compress_level=9)
        text = metadata_json(meta).encode("utf-8")
        atomic_write(js, lambda fh: fh.write(text), protect)
        click.echo(
            f"wrote {png} and {js.name}: {exposures} exposures x "
            f"{','.join(f.value for f in filters)}, true turn "
            f"{sim.spin.turn_per_exposure:.6f} rad/exposure"
        )

    for_each(ctx, [scene], work)
