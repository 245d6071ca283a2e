"""Issue 15's figure on every real frame: no missing band's colour in the default output
and the default map (at most 0.1% of bright pixels, :func:`junocam.quality.missing_band_share`).

Every raw PNG under ``../shared/junocam/raw`` is processed with the default recipe at
full resolution, the one without metadata with ``--filters BLUE,GREEN,RED`` and no
interframe delay; the PJ43/PJ44 colour frames are also mapped with the default recipe
(navigated from the limb with the real predicted SPK) at 0.25 degree per pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from junocam.cli import main
from junocam.quality import missing_band_share

LIMIT = 0.001
COLOUR_MAPS = [
    "JNCE_2022186_43C00078_V01",
    "JNCE_2022186_43C00080_V01",
    "JNCE_2022229_44C00029_V01",
]


def raw_pngs(shared: Path) -> list[Path]:
    return sorted((shared / "raw").glob("*/*-raw.png"))


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.float32) / 255.0


@pytest.fixture(scope="module")
def processed(shared_junocam: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("coverage-real")
    done: dict[str, Path] = {}
    for png in raw_pngs(shared_junocam):
        extra = [] if any(png.parent.glob("*.json")) else ["--filters", "BLUE,GREEN,RED"]
        res = CliRunner().invoke(main, ["process", str(png), "-o", str(out), *extra])
        assert res.exit_code == 0, res.output
        pid = png.name.removesuffix("-raw.png")
        (done[pid],) = out.glob(f"{pid}-*.png")
    return done


def test_default_recipe_is_mono_for_single_band_frames(processed: dict[str, Path]) -> None:
    for pid, image in processed.items():
        expected = "mono" if pid[15] == "M" else "enhanced"  # JNCE_2022186_43M00081_V01
        assert image.name == f"{pid}-{expected}.png"


def test_every_real_frame_is_covered(shared_junocam: Path, processed: dict[str, Path]) -> None:
    assert len(processed) == len(raw_pngs(shared_junocam)) >= 6


@pytest.mark.realdata
def test_default_output_has_no_missing_band_colour(processed: dict[str, Path]) -> None:
    shares = {pid: missing_band_share(read_rgb(p)) for pid, p in processed.items()}
    assert all(v <= LIMIT for v in shares.values()), shares


@pytest.mark.realdata
def test_frame_without_metadata_runs_on_assumed_values(processed: dict[str, Path]) -> None:
    import json

    rec = json.loads(processed["JNCE_2021246_36C00061_V01"].with_suffix(".json").read_text())
    assert rec["assumed_values"]["interframe_delay"] == 0.372
    assert rec["assumed_values"]["filters"] == ["BLUE", "GREEN", "RED"]
    # the spin fit measured the turn per exposure, whatever the assumed delay
    assert (
        rec["spin_fit"]["turn_per_exposure_rad"] != rec["spin_fit"]["nominal_turn_per_exposure_rad"]
    )


@pytest.mark.realdata
@pytest.mark.parametrize("pid", COLOUR_MAPS)
def test_default_map_has_no_missing_band_colour(
    shared_junocam: Path, tmp_path: Path, pid: str
) -> None:
    pytest.importorskip("spiceypy")
    k = shared_junocam / "kernels"
    png = next((shared_junocam / "raw" / pid).glob("*-raw.png"))
    args = ["map", str(png), "--kernels", str(k / "kmgill_spk_2022_pj43_pj44"),
            "--kernels", str(k / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc"),
            "--resolution", "0.25", "-o", str(tmp_path)]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    image = next(tmp_path.glob(f"{pid}-map-*-enhanced.png"))
    assert missing_band_share(read_rgb(image)) <= LIMIT
