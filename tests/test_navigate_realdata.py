"""Navigation and maps of real PJ43 frames with the real (predicted) SPK, no CK."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from junocam.cli import main

pytest.importorskip("spiceypy")

SOUTH_POLE = ["JNCE_2022186_43C00078_V01", "JNCE_2022186_43C00080_V01"]


def kernel_args(shared: Path) -> list[str]:
    k = shared / "kernels"
    return [
        "--kernels",
        str(k / "kmgill_spk_2022_pj43_pj44"),
        "--kernels",
        str(k / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc"),
    ]


def test_limb_navigation_of_a_south_pole_frame(shared_junocam: Path) -> None:
    """The whole disc is in view: the limb fits to well under 2 px RMS."""
    from junocam.decode import read_frame
    from junocam.maps.frame import frame_geometry
    from junocam.planet.spice import KernelSet

    png = next((shared_junocam / "raw" / SOUTH_POLE[0]).glob("*.png"))
    frame = read_frame(png)
    k = shared_junocam / "kernels"
    ks = KernelSet.from_path(
        [k / "kmgill_spk_2022_pj43_pj44", k / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc"]
    )
    geo = frame_geometry(frame, ks)
    nav = geo.navigation
    assert nav is not None and not nav.used_ck
    print(f"{SOUTH_POLE[0]}: {json.dumps({k: v for k, v in nav.as_dict().items() if 'rms' in k})}")
    assert nav.limb_rms_px < 2.0
    assert nav.n_limb > 500 and nav.n_terminator > 100
    assert nav.terminator_rms_px < 5.0
    # the camera looks at the planet: the disc centre is in every middle framelet's view
    mid = geo.view.n_exposures // 2
    to_planet = geo.view.camera_to_body[mid].T @ -geo.view.observer[mid]
    assert to_planet[2] / np.linalg.norm(to_planet) > np.cos(np.radians(30))


def test_map_command_on_a_real_frame(shared_junocam: Path, tmp_path: Path) -> None:
    png = next((shared_junocam / "raw" / SOUTH_POLE[1]).glob("*.png"))
    args = [
        "map",
        str(png),
        *kernel_args(shared_junocam),
        "--projection",
        "polar",
        "--resolution",
        "0.4",
        "--backplanes",
        "-p",
        "true-color",
        "-o",
        str(tmp_path),
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "limb RMS" in res.output
    side = json.loads((tmp_path / f"{SOUTH_POLE[1]}-map-polar-true-color.json").read_text())
    nav = side["geometry"]["navigation"]
    assert nav["limb_rms_px"] < 2.0
    assert side["grid"]["projection"] == "polar" and side["grid"]["pole"] == "south"
    img = tmp_path / f"{SOUTH_POLE[1]}-map-polar-true-color.png"
    assert img.stat().st_size > 10000
    planes = np.load(tmp_path / f"{SOUTH_POLE[1]}-map-polar-backplanes.npz")
    lat = planes["lat_deg"]
    seen = planes["exposure"] >= 0
    assert seen.sum() > 5000
    assert np.nanmax(lat[seen]) < 0 and np.nanmin(lat[seen]) > -90.001  # southern map
    assert np.nanmax(planes["emission_deg"][seen]) <= 80.001  # the default cut
    # the map sees the south polar region well within its lit part
    lit = seen & (planes["incidence_deg"] < 80)
    assert lit.sum() > 1000


def test_untrustworthy_navigation_is_refused(shared_junocam: Path) -> None:
    """44M00040 (22 000 km, a short piece of limb, methane only) cannot be navigated:
    the fit says so instead of returning a wrong attitude."""
    from junocam.decode import read_frame
    from junocam.errors import GeometryError
    from junocam.maps.frame import frame_geometry
    from junocam.planet.spice import KernelSet

    png = next((shared_junocam / "raw" / "JNCE_2022229_44M00040_V01").glob("*.png"))
    k = shared_junocam / "kernels"
    ks = KernelSet.from_path(
        [k / "kmgill_spk_2022_pj43_pj44", k / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc"]
    )
    with pytest.raises(GeometryError, match="not trustworthy"):
        frame_geometry(read_frame(png), ks)


def test_plausibility_rules() -> None:
    from junocam.planet.navigate import _implausible

    assert _implausible(1500, 0.5, 0.001) == []
    assert len(_implausible(50, 40.0, 0.05)) == 3
