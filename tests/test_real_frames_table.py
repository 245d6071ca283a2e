"""scripts/real_frames_table.py on one real frame: finite, sub-pixel figures."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "real_frames_table.py"


def load_script():
    spec = importlib.util.spec_from_file_location("real_frames_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.realdata
def test_table_row_of_a_real_rgb_frame(shared_junocam: Path) -> None:
    table = load_script()
    frames = table.find_frames(shared_junocam)
    assert len(frames) >= 4
    png = next(p for p in frames if "43C00078" in p.name)
    report = table.measure_frame(png)
    row = report.row
    assert row["product_id"] == "JNCE_2022186_43C00078_V01"
    assert row["exposures"] == 12 and row["bands"] == "BLUE,GREEN,RED"
    assert not row["fallback"]
    numbers = [
        "nominal_turn_rad",
        "turn_rad",
        "nominal_rpm",
        "rpm",
        "tilt_y_mrad",
        "tilt_z_mrad",
        "band_registration_px",
        "seam_px",
        "residual_px",
    ]
    assert all(math.isfinite(row[k]) for k in numbers)
    # the spin is fitted a little slower than the nominal 2 rpm
    assert 1.95 < row["rpm"] < 2.0 and abs(row["turn_change_pct"]) < 2.0
    assert row["measurements"] > 50
    # independent band registration of the stitched bands: sub-pixel, and far
    # better than the naive composite's fringes
    for pair in ("red_vs_green", "blue_vs_green"):
        assert row[f"stitched_{pair}_patches"] >= 3
        assert row[f"stitched_{pair}_px"] < 1.0
        assert row[f"stitched_{pair}_median_px"] < 0.5
    assert row["naive_red_vs_green_px"] > 3 * row["stitched_red_vs_green_px"]
    # the fit's own overlap residuals are about a pixel (recorded, see docs/real_frames.md)
    assert 0.0 < row["band_registration_px"] < 1.5 and 0.0 < row["seam_px"] < 1.5
    md = table.table_markdown([row])
    assert md.count("\n") == 3 and "JNCE_2022186_43C00078_V01" in md
    sheet = table.side_by_side(report, size=64)
    assert sheet.shape == (64, 136, 3) and np.isfinite(sheet).all()
    assert 0.0 <= sheet.min() and sheet.max() <= 1.0


def test_table_markdown_and_finder_without_data(tmp_path: Path) -> None:
    table = load_script()
    assert table.find_frames(tmp_path) == []
    assert table.main(["--data", str(tmp_path), "--docs", str(tmp_path / "docs")]) == 1
