"""Target bodies (issue 16 points 1, 3 and 5): names, conventions, kernels, errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from junocam.cli import main
from junocam.errors import GeometryError
from junocam.geometry import USUAL_SPIN_RATE, warn_unusual_turn
from junocam.planet.targets import JUPITER_TARGET, TARGETS, target_named, target_of
from junocam.spin import SpinModel
from junocam.spinfit import JunoCamWarning, SpinFit


def test_every_galilean_moon_is_known_with_pck00010_radii_and_iau_frame() -> None:
    want = {
        "JUPITER": (599, (71492.0, 71492.0, 66854.0)),
        "IO": (501, (1829.4, 1819.4, 1815.7)),
        "EUROPA": (502, (1562.6, 1560.3, 1559.5)),
        "GANYMEDE": (503, (2631.2, 2631.2, 2631.2)),
        "CALLISTO": (504, (2410.3, 2410.3, 2410.3)),
    }
    assert set(TARGETS) == set(want)
    for name, (naif, radii) in want.items():
        t = target_named(name.lower())
        assert (t.naif_id, tuple(t.ellipsoid.radii)) == (naif, radii)
        assert t.frame == f"IAU_{name}"
        d = t.as_dict()
        assert d["latitude"] == "planetographic" and d["longitude"].startswith("west-positive")
    assert "System III" in JUPITER_TARGET.longitude_system
    assert "Anat" in target_named("GANYMEDE").longitude_system


def test_unknown_names() -> None:
    with pytest.raises(GeometryError, match="unknown target 'AMALTHEA'"):
        target_named("AMALTHEA")
    assert target_of("CALIBRATION") is JUPITER_TARGET
    assert target_of(" io ").name == "IO"


def _fit(rate: float) -> SpinFit:
    spin = SpinModel.nominal(0.372, rate)
    return SpinFit(spin, spin, 5, 100, 0.1, 0.1, 0.1, False, "")


def test_unusual_turn_is_warned_about_only_beyond_half_a_percent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # the real frames' range (-0.82 % to -0.46 % from 2 rpm) raises nothing
        for rpm in (1.9836, 1.9909):
            assert warn_unusual_turn(_fit(rpm * 2 * np.pi / 60), 0.372) is None
    with pytest.warns(JunoCamWarning, match=r"\+2\.5 % off Juno's usual spin"):
        off = warn_unusual_turn(_fit(USUAL_SPIN_RATE * 1.025), 0.372)
    assert off == pytest.approx(0.025, abs=1e-9)


def _cli(*args: str | Path) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def test_missing_moon_ephemeris_is_one_clear_line_on_a_real_pj43_frame(
    shared_junocam: Path,
) -> None:
    """Point 5: the predicted Juno SPK has no Galilean moons."""
    pytest.importorskip("spiceypy")
    k = shared_junocam / "kernels"
    frame = shared_junocam / "raw/JNCE_2022186_43C00080_V01/JNCE_2022186_43C00080_V01-raw.png"
    args = [
        "geometry",
        frame,
        "--kernels",
        k / "kmgill_spk_2022_pj43_pj44",
        "--kernels",
        k / "ale_JNCR_2016240_01M06152_V01/pck00010.tpc",
    ]
    code, out, err = _cli(*args, "--target", "IO")
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert "no ephemeris for IO (NAIF 501) at 2022-07-05T12:17:39.290 UTC" in lines[0]
    assert "satellite ephemeris SPK" in lines[0] and "jup365.bsp" in lines[0]
    # the same frame with its own target (JUPITER) works and names its convention
    code, out, err = _cli(*args)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["target"]["name"] == "JUPITER" and rep["target"]["naif_id"] == 599
    assert rep["target"]["radii_km"] == [71492.0, 71492.0, 66854.0]
    assert rep["bodies"] == []  # the SPK holds no moon


def test_target_option_is_on_every_planet_side_command() -> None:
    for cmd in ("geometry", "map", "mosaic", "globe", "animate"):
        code, out, _ = _cli(cmd, "--help")
        assert code == 0 and "--target" in out, cmd
