"""The benchmark runner works end to end (quick mode) and writes its documented schema.

No timing is asserted: speed is measured by ``python -m benchmarks``, not tested.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.runner import CHAIN, SCHEMA, TARGETS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--batch-frames", "1", "--output-dir", out],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "latest.json").read_text()), (out / "latest.md").read_text()


def _positive(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x >= 0


def test_quick_report_schema(quick_report: tuple[dict, str]):
    report, _ = quick_report
    assert report["schema"] == SCHEMA
    assert {"cpu", "cores", "python", "numpy", "load_average", "note"} <= set(report["machine"])
    assert set(report["targets"]) == set(TARGETS)
    (frame,) = report["frames"]
    assert frame["name"] == "quick" and frame["shape"][1] == 1648
    assert frame["raw_bytes"] == frame["shape"][0] * frame["shape"][1]
    stages = frame["stages"]
    want = {*CHAIN, "spin_fit", "recipe:raw", "recipe:enhanced", "recipe:enhanced_fast"}
    assert want <= set(stages)
    for st in stages.values():
        assert _positive(st["median_s"]) and len(st["runs_s"]) >= 1
        assert st["peak_mem_bytes"] is None or _positive(st["peak_mem_bytes"])
        assert _positive(st["output_bytes"])
    assert "8:stitch" in frame["recipe_stages"]["enhanced"]
    for name in ("a_naive", "b_raw", "c_enhanced", "d_memory", "fast_preview"):
        assert frame["ratios"][name] >= 1.0
    batch = report["batch"]
    assert [r["jobs"] for r in batch["runs"]] == [1, 2]
    assert all(r["frames_done"] == 1 for r in batch["runs"])
    for name in TARGETS:
        assert report["summary"][name]["verdict"] in ("met", "NOT met", "n/a")


def test_quick_report_table(quick_report: tuple[dict, str]):
    report, table = quick_report
    assert report["machine"]["cpu"] in table
    for name in TARGETS:
        assert f"| {name} |" in table
    assert "| 8:stitch |" in table


def test_spin_fit_phases_add_up():
    import numpy as np

    from benchmarks.spin_fit import profile_fit
    from junocam.companding import decompand
    from junocam.framelets import split
    from junocam.simulate import JupiterScene, SimulationSpec, simulate_frame

    spec = SimulationSpec(n_exposures=5, oversample=1)
    sim = simulate_frame(JupiterScene(radius_deg=12.0), spec)
    fr = split(decompand(sim.strip, "SQROOT"), spec.filters)
    p = profile_fit(fr, spec.interframe_delay, repeat=1)
    names = [ph[0] for ph in p["phases"]]
    assert names[0] == "prepare" and names[-1] == "other"
    assert names.count("match") >= 2 and "solve" in names
    assert "level 4" in p["phases"][1][3]
    assert all(_positive(ph[2]) for ph in p["phases"][:-1])
    assert np.isclose(sum(ph[2] for ph in p["phases"]), p["cpu_s"])
    assert p["message"].startswith("fitted turn")


def test_raw_recipe_profile_of_a_simulated_frame(tmp_path: Path):
    import numpy as np

    from benchmarks.raw_recipe import profile_frame
    from junocam.output import encode_png
    from junocam.simulate import JupiterScene, SimulationSpec, metadata_json, simulate_frame

    spec = SimulationSpec(n_exposures=5, oversample=1, product_id="JNCE_2022186_99C01005_V01")
    sim = simulate_frame(JupiterScene(radius_deg=12.0), spec)
    png = tmp_path / "JNCE_2022186_99C01005_V01-raw.png"
    png.write_bytes(encode_png(sim.strip))
    (tmp_path / "JNCE_2022186_99C01005_V01-raw.json").write_text(metadata_json(sim.metadata))
    r = profile_frame(png, repeat=1)
    assert all(_positive(r[k]) for k in ("decode", "encode", "naive", "spin_fit", "stitch"))
    assert r["raw"] == r["spin_fit"] + r["raw_given_fit"]
    floor = r["decode"] + r["encode"]
    assert np.isclose(r["b_raw"], (floor + r["raw"]) / floor)
    assert np.isclose(r["a_naive"], (floor + r["naive"]) / floor)
