"""Shared fixtures: the real JunoCam data folder and synthetic raw frames."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from junocam.output import encode_png

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_JUNOCAM = REPO_ROOT.parent / "shared" / "junocam"


@pytest.fixture(scope="session")
def shared_junocam() -> Path:
    """``../shared/junocam`` relative to the repo root (the real test data).

    Skipped when absent, but a failure when the ``CI`` environment variable is set,
    so continuous integration never silently passes without the real-data tests.
    """
    return require_data(SHARED_JUNOCAM)


def require_data(folder: Path) -> Path:
    """Return ``folder`` if it holds ``raw/``; else skip, or fail when ``CI`` is set."""
    if not (folder / "raw").is_dir():
        reason = (
            f"real JunoCam data not found at {folder} "
            "(expected ../shared/junocam next to the repository)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so real-data tests must run")
        pytest.skip(reason)
    return folder


def synthetic_strip(
    n_exposures: int = 2,
    n_filters: int = 3,
    levels: Sequence[int] | None = None,
    texture: int = 0,
    seed: int = 0,
    framelet_lines: int = 128,
) -> np.ndarray:
    """A uint8 raw strip: band k is ``levels[k]`` (+ random texture up to ``texture``)."""
    levels = list(levels) if levels is not None else [40 + 80 * k for k in range(n_filters)]
    rng = np.random.default_rng(seed)
    block = np.repeat(np.asarray(levels[:n_filters], dtype=np.int32), framelet_lines)
    strip = np.tile(block, n_exposures)[:, None] * np.ones((1, 1648), dtype=np.int32)
    if texture:
        strip = strip + rng.integers(0, texture + 1, size=strip.shape)
    return np.clip(strip, 0, 255).astype(np.uint8)


def website_json(
    product_id: str,
    lines: int,
    filters: Sequence[str] = ("BLUE", "GREEN", "RED"),
    **overrides: object,
) -> dict:
    """A website-style metadata dict (values in the real files' formats)."""
    data = {
        "PRODUCT_ID": product_id,
        "FILE_NAME": f"{product_id}-raw.png",
        "FILTER_NAME": list(filters),
        "LINES": lines,
        "LINE_SAMPLES": 1648,
        "SAMPLE_BIT_MODE_ID": "SQROOT",
        "INTERFRAME_DELAY": "0.372 <s>",
        "EXPOSURE_DURATION": "19.200000 <ms>",
        "JNO:TDI_STAGES_COUNT": 6,
        "START_TIME": "2022-07-05T12:13:37.407",
        "STOP_TIME": "2022-07-05T12:13:41.871",
        "PJ": "43",
        "TARGET_NAME": "JUPITER",
        "TITLE": "synthetic",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


FrameMaker = Callable[..., Path]


@pytest.fixture
def make_frame(tmp_path: Path) -> FrameMaker:
    """Factory writing a synthetic ``<id>-raw.png`` (+ ``<n>-Metadata.json``) in tmp_path.

    ``make_frame(pixels=None, product_id="JNCE_TEST_V01", meta=True|dict|None|str,
    folder=None, **json_overrides)``: ``meta=True`` writes a matching JSON, a dict
    writes that JSON, a str writes those raw bytes, ``None``/False writes none.
    """

    def make(
        pixels: np.ndarray | None = None,
        product_id: str = "JNCE_2022186_99C00001_V01",
        meta: bool | dict | str | None = True,
        folder: Path | None = None,
        filters: Sequence[str] = ("BLUE", "GREEN", "RED"),
        **overrides: object,
    ) -> Path:
        folder = folder or tmp_path / product_id
        folder.mkdir(parents=True, exist_ok=True)
        if pixels is None:
            pixels = synthetic_strip(2, len(filters))
        png = folder / f"{product_id}-raw.png"
        png.write_bytes(encode_png(pixels))
        if meta is True:
            meta = website_json(product_id, pixels.shape[0], filters, **overrides)
        if isinstance(meta, dict):
            (folder / "12345-Metadata.json").write_text(json.dumps(meta))
        elif isinstance(meta, str):
            (folder / "12345-Metadata.json").write_text(meta)
        return png

    return make


@pytest.fixture(autouse=True)
def _isolated_user_recipes(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
):
    """Every test sees an empty user recipe folder, whatever the machine's user has."""
    monkeypatch.setenv("JUNOCAM_RECIPE_DIR", str(tmp_path_factory.mktemp("user-recipes")))


@pytest.fixture(autouse=True)
def _isolated_user_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test sees an empty user cache folder (downloads, frame geometry)."""
    monkeypatch.setenv("JUNOCAM_CACHE_DIR", str(tmp_path_factory.mktemp("user-cache")))


def grey_texture(size: int = 1600, seed: int = 5) -> np.ndarray:
    """Neutral texture in [0.02, 1]: band-limited noise at three scales."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    tex = sum(
        s * ndimage.gaussian_filter(rng.standard_normal((size, size)), s) for s in (1.5, 4.0, 12.0)
    )
    tex = (tex - tex.mean()) / tex.std()
    return np.clip(0.45 + 0.12 * tex, 0.02, 1.0).astype(np.float32)


def moon_flyby_frames(
    root: Path, flyby: Any, n_exposures: int = 16, spins: tuple[int, ...] = (0,)
) -> tuple[Any, list[Path], Any]:
    """Kernels and green raw frames of a synthetic moon flyby (``IO_FLYBY``, ...): a
    textured, sunlit moon, 16 exposures, one frame centred on the moon at mid-pass and
    one more for every further whole spin in ``spins`` (where the sweep crosses the
    moon again). Returns (PassTruth, raw PNGs, PlanetTexture); the moon closed loops
    and the ``process --kernels`` tests share it."""
    from junocam.metadata import Filter
    from junocam.planet.simkernels import sweep_crossings
    from junocam.simulate import PlanetTexture, SimulationSpec, simulate_pass_frames

    frame = SimulationSpec(
        filters=(Filter.GREEN,),
        n_exposures=n_exposures,
        oversample=1,
        tdi=3,
        full_well_dn=2400.0,
        hot_pixels=0,
        seed=3,
    )
    offsets = (0.0,) if spins == (0,) else sweep_crossings(root / "probe", flyby, spins)
    texture = PlanetTexture.volcanic((360, 720), seed=5, n_spots=120)
    truth, pngs = simulate_pass_frames(root, flyby, offsets_s=offsets, frame=frame, texture=texture)
    return truth, pngs, texture


def moon_flyby_frame(root: Path, flyby: Any, n_exposures: int = 16) -> tuple[Any, Path, Any]:
    """The mid-pass frame of :func:`moon_flyby_frames`: (PassTruth, raw PNG, texture)."""
    truth, (png,), texture = moon_flyby_frames(root, flyby, n_exposures)
    return truth, png, texture
