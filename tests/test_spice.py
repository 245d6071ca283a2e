"""SPICE geometry on the real kernels and frames of ../shared/junocam, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from junocam.cli import main
from junocam.decode import read_frame
from junocam.errors import KernelError
from junocam.planet.spice import KernelSet, frame_ephemeris, geometry_report

pytest.importorskip("spiceypy")

PJ43_44 = [
    "JNCE_2022186_43C00078_V01",
    "JNCE_2022186_43C00080_V01",
    "JNCE_2022186_43M00081_V01",
    "JNCE_2022229_44C00029_V01",
    "JNCE_2022229_44M00040_V01",
]


def kernel_args(shared: Path) -> list[str]:
    k = shared / "kernels"
    return [
        str(k / "kmgill_spk_2022_pj43_pj44"),
        str(k / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc"),
    ]


def frame_png(shared: Path, name: str) -> Path:
    return next((shared / "raw" / name).glob("*.png"))


@pytest.mark.parametrize("name", PJ43_44)
def test_sub_spacecraft_matches_website_metadata(shared_junocam: Path, name: str) -> None:
    """Some exposure matches the metadata within 0.05 deg lat, 0.1 deg lon, 150 km."""
    frame = read_frame(frame_png(shared_junocam, name))
    rep = geometry_report(frame.meta, KernelSet.from_path(kernel_args(shared_junocam)))
    assert len(rep["exposures"]) == frame.meta.n_exposures
    m = rep["metadata_match"]
    d = m["difference"]
    assert abs(d["lat_deg"]) < 0.05
    assert abs(d["lon_west_deg"]) < 0.1
    assert abs(d["alt_km"]) < 150.0
    assert m["within_tolerance"]
    # the mid-frame point lies between the first and last exposures
    lats = [e["sub_spacecraft"]["lat_deg"] for e in rep["exposures"]]
    assert min(lats) - 1e-9 <= rep["mid"]["sub_spacecraft"]["lat_deg"] <= max(lats) + 1e-9


def test_geometry_cli_prints_the_documented_json(shared_junocam: Path) -> None:
    args = ["geometry", str(frame_png(shared_junocam, PJ43_44[1]))]
    for k in kernel_args(shared_junocam):
        args += ["--kernels", k]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["product_id"] == PJ43_44[1]
    e0 = rep["exposures"][0]
    assert e0["index"] == 0 and e0["utc"].startswith("2022-07-05T12:17:39.2")
    assert set(e0["sub_spacecraft"]) == {"lat_deg", "lon_west_deg", "alt_km"}
    assert set(rep["mid"]["sub_spacecraft"]) == {"lat_deg", "lon_west_deg", "alt_km"}
    # mid-exposure 0 = START + 0.06188 s + 4.8 ms
    assert e0["utc"] == "2022-07-05T12:17:39.290"


def test_ephemeris_is_consistent_with_the_sub_spacecraft_point(shared_junocam: Path) -> None:
    from junocam.planet import surface_normal, surface_point

    frame = read_frame(frame_png(shared_junocam, PJ43_44[0]))
    ks = KernelSet.from_path(kernel_args(shared_junocam))
    eph = frame_ephemeris(frame.meta, ks)
    rep = geometry_report(frame.meta, ks)
    assert eph.observer.shape == (12, 3) and not eph.has_attitude
    # the observer is the altitude along the normal above the reported near point
    for k in (0, 11):
        s = rep["exposures"][k]["sub_spacecraft"]
        foot = surface_point(np.radians(s["lat_deg"]), np.radians(s["lon_west_deg"]), eph.body)
        above = foot + s["alt_km"] * surface_normal(foot, eph.body)
        # subpnt's and spkezr's aberration handling differ by a few km at 340 000 km
        # (1e-5 rad, 0.02 px): immaterial for imaging
        np.testing.assert_allclose(above, eph.observer[k], atol=10.0)
    assert np.allclose(np.linalg.norm(eph.sun, axis=1), 1.0)
    # Juno moves tens of km/s; the body frame is a proper rotation
    assert 1.0 < np.linalg.norm(eph.observer_velocity[0]) < 80.0
    np.testing.assert_allclose(eph.j2000_to_body[0] @ eph.j2000_to_body[0].T, np.eye(3), atol=1e-12)


def test_missing_kernels_are_named(shared_junocam: Path, tmp_path: Path) -> None:
    k = shared_junocam / "kernels"
    frame = read_frame(frame_png(shared_junocam, PJ43_44[0]))
    no_pck = KernelSet.from_path(k / "kmgill_spk_2022_pj43_pj44")
    with pytest.raises(KernelError, match="BODY599_RADII"):
        geometry_report(frame.meta, no_pck)
    no_lsk = KernelSet.from_path(
        [
            k / "kmgill_spk_2022_pj43_pj44" / "spk_pre_220614_221109_220810_jm0450.bsp",
            k / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc",
        ]
    )
    with pytest.raises(KernelError, match="leapseconds"):
        geometry_report(frame.meta, no_lsk)
    wrong_time = KernelSet.from_path(
        [
            k / "mosesastro_spk_2017_pj04",
            k / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc",
            k / "ale_JNCR_2016240_01M06152_V01" / "naif0012.tls",
        ]
    )
    with pytest.raises(KernelError, match=r"no SPK data .* coverage .* 2017-01-06"):
        frame_ephemeris(frame.meta, wrong_time)
    with pytest.raises(KernelError, match="transfer-format"):
        KernelSet.from_path(
            k / "ale_JNCR_2016240_01M06152_V01" / "juno_sc_rec_160821_160827_v01_0_sliced_-61000.xc"
        )
    ks = KernelSet.from_path(k / "ale_JNCR_2016240_01M06152_V01")
    assert any("tobin" in why for _, why in ks.skipped)
    (tmp_path / "x.txt").write_text("nothing")
    with pytest.raises(KernelError, match="no SPICE kernels"):
        KernelSet.from_path(tmp_path)
    with pytest.raises(KernelError, match="not a SPICE kernel"):
        KernelSet.from_path(tmp_path / "x.txt")


def test_meta_kernel_and_broken_kernel(shared_junocam: Path, tmp_path: Path) -> None:
    k = shared_junocam / "kernels"
    mk = tmp_path / "pj43.tm"
    files = [
        k / "kmgill_spk_2022_pj43_pj44" / "naif0012.tls",
        k / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc",
        k / "kmgill_spk_2022_pj43_pj44" / "spk_pre_220614_221109_220810_jm0450.bsp",
    ]
    # SPICE strings stop at 80 characters: long paths go through PATH_SYMBOLS
    root = k.resolve()
    body = "\n".join(f"  '$K/{f.relative_to(k)}'" for f in files)
    mk.write_text(
        f"KPL/MK\n\\begindata\nPATH_VALUES = ( '{root}' )\nPATH_SYMBOLS = ( 'K' )\n"
        f"KERNELS_TO_LOAD = (\n{body}\n)\n\\begintext\n"
    )
    frame = read_frame(frame_png(shared_junocam, PJ43_44[0]))
    rep = geometry_report(frame.meta, KernelSet.from_path(mk))
    assert rep["metadata_match"]["within_tolerance"]
    bad = tmp_path / "bad.bsp"
    bad.write_bytes(b"DAF/SPK " + b"\0" * 100)
    with pytest.raises(KernelError, match="bad.bsp"):
        geometry_report(frame.meta, KernelSet.from_path([bad]))


def test_cli_error_without_traceback(shared_junocam: Path) -> None:
    png = frame_png(shared_junocam, PJ43_44[0])
    res = CliRunner().invoke(
        main,
        [
            "geometry",
            str(png),
            "--kernels",
            str(shared_junocam / "kernels" / "kmgill_spk_2022_pj43_pj44"),
        ],
    )
    assert res.exit_code == 1
    assert "BODY599_RADII" in res.output and "Traceback" not in res.output
