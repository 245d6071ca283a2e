"""``junocam kernels``: choosing SPICE kernels from a local NAIF-like tree, and using them."""

from __future__ import annotations

import glob
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO_ROOT
from fetch_server import (  # noqa: F401 - fixtures
    WebImage,
    add_tree,
    add_website,
    fetch_env_fixture,
    server_fixture,
)

from junocam.cli import main
from junocam.decode import read_frame
from junocam.errors import KernelError
from junocam.fetch import FrameWindow, ListingEntry, choose_kernels

#: what must be chosen for the PJ43/PJ44 frames (paths in NAIF's tree)
CHOSEN = [
    "JUNO/kernels/fk/juno_v12.tf",
    "JUNO/kernels/ik/juno_junocam_v03.ti",
    "JUNO/kernels/sclk/jno_sclkscet_00090.tsc",
    "JUNO/kernels/spk/spk_pre_220614_221109_220810_jm0450.bsp",
    "generic_kernels/lsk/naif0012.tls",
    "generic_kernels/pck/pck00010.tpc",
]
#: files that look like candidates but must never be downloaded
DECOYS = [
    "generic_kernels/lsk/naif0011.tls",
    "generic_kernels/pck/pck00009.tpc",
    "generic_kernels/pck/gm_de431.tpc",
    "JUNO/kernels/fk/juno_v11.tf",
    "JUNO/kernels/ik/juno_junocam_v02.ti",
    "JUNO/kernels/ik/juno_jiram_v05.ti",
    "JUNO/kernels/sclk/jno_sclkscet_00089.tsc",
    "JUNO/kernels/spk/spk_pre_220101_220601_220301_jm0400.bsp",  # another period
    "JUNO/kernels/spk/spk_pre_220614_221109_220701_jm0440.bsp",  # same period, older
    "JUNO/kernels/spk/juno_rec_221201_230101_230110.bsp",  # reconstructed, another period
    "JUNO/kernels/ck/juno_sc_rec_220710_220716_v01.bc",  # a CK of another week
    "JUNO/kernels/ck/juno_sc_rec_170205_170211_v01.bc",
]


def naif_tree(shared: Path) -> dict[str, bytes]:
    k = shared / "kernels"
    real = {
        "generic_kernels/lsk/naif0012.tls": k / "kmgill_spk_2022_pj43_pj44" / "naif0012.tls",
        "generic_kernels/pck/pck00010.tpc": k / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc",
        "JUNO/kernels/fk/juno_v12.tf": k / "ale_JNCR_2016240_01M06152_V01" / "juno_v12.tf",
        "JUNO/kernels/ik/juno_junocam_v03.ti": k / "ale_JNCR_2016240_01M06152_V01"
        / "juno_junocam_v03.ti",
        "JUNO/kernels/sclk/jno_sclkscet_00090.tsc": k / "ale_JNCR_2016240_01M06152_V01"
        / "jno_sclkscet_00090.tsc",
        "JUNO/kernels/spk/spk_pre_220614_221109_220810_jm0450.bsp": k
        / "kmgill_spk_2022_pj43_pj44" / "spk_pre_220614_221109_220810_jm0450.bsp",
        "JUNO/kernels/spk/juno_rec_170106_170228_170307.bsp": k / "mosesastro_spk_2017_pj04"
        / "juno_rec_170106_170228_170307.bsp",
    }  # fmt: skip
    files = {rel: p.read_bytes() for rel, p in real.items()}
    files.update({rel: b"DAF/SPK decoy: must not be downloaded" for rel in DECOYS})
    files["JUNO/kernels/spk/aareadme.txt"] = b"readme"
    return files


def pj43_44_images(shared: Path) -> list[WebImage]:
    images = []
    for folder in sorted((shared / "raw").glob("JNCE_2022*_4[34]*_V01")):
        meta = next(folder.glob("*-Metadata.json"))
        pj = int(folder.name.split("_")[2][:2])
        png = next(folder.glob("*-raw.png"))
        images.append(WebImage(int(meta.name.split("-")[0]), folder.name, png, meta, pj))
    return images


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_kernels_for_fetched_frames_reproduce_the_website_geometry(
    server, fetch_env, tmp_path, shared_junocam
):
    """Done criterion: fetch PJ43 and PJ44, `kernels raw/**/*-raw.png`, then `geometry`."""
    from junocam.planet.spice import KernelSet, frame_ephemeris, geometry_report

    add_website(server, pj43_44_images(shared_junocam))
    add_tree(server, "/naif", naif_tree(shared_junocam))
    raw, k = tmp_path / "raw", tmp_path / "k"
    for pj in ("43", "44"):
        assert run("fetch", "--perijove", pj, "-o", str(raw), "--server", server.url).exit_code == 0
    frames = sorted(glob.glob(str(raw / "**" / "*-raw.png"), recursive=True))
    assert len(frames) == 5
    res = run("kernels", *frames, "-o", str(k), "--server", server.url + "/naif")
    assert res.exit_code == 0, res.output
    (mk,) = k.glob("*.tm")
    assert mk.name == "juno_20220705_20220817.tm"
    assert f"wrote {mk} (6 kernels for 5 frames)" in res.output
    assert "no CK in JUNO/kernels/ck covers JNCE_2022186_43C00078_V01" in res.output
    assert sorted(str(p.relative_to(k)) for p in k.rglob("*") if p.is_file() and p != mk) == CHOSEN
    for decoy in DECOYS + ["juno_rec_170106_170228_170307.bsp"]:
        assert not server.requested(Path(decoy).name), decoy
    # the meta-kernel is what --kernels accepts; the geometry matches the website's as today
    ref_kernels = KernelSet.from_path(
        [
            str(shared_junocam / "kernels" / "kmgill_spk_2022_pj43_pj44"),
            str(shared_junocam / "kernels" / "ale_JNCR_2016240_01M06152_V01" / "pck00010.tpc"),
        ]
    )
    for png in frames:
        res = run("geometry", png, "--kernels", str(mk))
        assert res.exit_code == 0, res.output
        rep = json.loads(res.output)
        m = rep["metadata_match"]
        assert m["within_tolerance"], m
        ref = geometry_report(read_frame(png).meta, ref_kernels)
        assert rep["exposures"] == ref["exposures"]  # the same numbers as with the kernels today
        assert rep["metadata_match"]["difference"] == ref["metadata_match"]["difference"]
    # without a covering CK the meta-kernel still gives an ephemeris (the map commands
    # then fit the attitude to the limb)
    eph = frame_ephemeris(read_frame(frames[0]).meta, KernelSet.from_path(mk))
    assert eph.observer.shape == (12, 3) and not eph.has_attitude
    # a re-run (online) downloads no kernel again; --offline works from the cache alone
    n = len(server.requested("/naif/JUNO/kernels/spk/spk_pre"))
    assert run("kernels", *frames, "-o", str(k), "--server", server.url + "/naif").exit_code == 0
    assert len(server.requested("/naif/JUNO/kernels/spk/spk_pre")) == n
    log = len(server.log)
    res = run("kernels", str(raw), "-o", str(tmp_path / "k2"), "--server", server.url + "/naif",
              "--offline", "--name", "pj43_44.tm")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "k2" / "pj43_44.tm").is_file() and len(server.log) == log


def test_a_cut_kernel_download_resumes(server, fetch_env, tmp_path, shared_junocam):
    tree = naif_tree(shared_junocam)
    add_tree(server, "/naif", tree)
    spk = "/naif/JUNO/kernels/spk/spk_pre_220614_221109_220810_jm0450.bsp"
    server.routes[spk].cut_after, server.routes[spk].cut_times = 500_000, 1
    frame = str(next((shared_junocam / "raw" / "JNCE_2022186_43C00080_V01").glob("*.png")))
    args = ["kernels", frame, "-o", str(tmp_path / "k"), "--server", server.url + "/naif"]
    res = run(*args, "--retries", "0")
    assert res.exit_code == 1
    assert "500000 bytes are kept; re-run the same command to resume" in res.output
    assert not list((tmp_path / "k").glob("*.tm"))
    res = run(*args)
    assert res.exit_code == 0, res.output
    assert server.requested(spk)[-1][1] == "bytes=500000-"
    got = (tmp_path / "k" / spk.removeprefix("/naif/")).read_bytes()
    assert got == tree[spk.removeprefix("/naif/")]


def test_a_reconstructed_spk_is_chosen_for_pj04(server, fetch_env, tmp_path, shared_junocam):
    add_tree(server, "/naif", naif_tree(shared_junocam))
    lbl = next((shared_junocam / "raw").glob("*_pds3_label_only/*.LBL"))
    res = run("kernels", str(lbl), "-o", str(tmp_path / "k"), "--server", server.url + "/naif")
    assert res.exit_code == 0, res.output
    assert "JUNO/kernels/spk/juno_rec_170106_170228_170307.bsp" in res.output
    assert "spk_pre" not in res.output


def test_no_covering_spk_is_one_clear_line(server, fetch_env, tmp_path, shared_junocam):
    add_tree(server, "/naif", naif_tree(shared_junocam))
    sample = REPO_ROOT / "sample_frames" / "JNCS_2026329_00C00001_V01-raw.png"
    res = run("kernels", str(sample), "-o", str(tmp_path / "k"), "--server", server.url + "/naif")
    assert res.exit_code == 1
    (line,) = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert "no SPK in JUNO/kernels/spk covers JNCS_2026329_00C00001_V01" in line
    assert "Traceback" not in res.output


def test_frames_without_metadata_are_named(tmp_path):
    png = tmp_path / "JNCE_2022186_43C00078_V01-raw.png"
    png.write_bytes(b"")
    res = run("kernels", str(png), "-o", str(tmp_path / "k"), "--server", "http://127.0.0.1:9")
    assert res.exit_code == 1
    assert f"error: {png}: no metadata JSON found beside the image" in res.output
    res = run("kernels", str(tmp_path / "gone-raw.png"), "-o", str(tmp_path / "k"))
    assert res.exit_code == 1 and f"error: {tmp_path / 'gone-raw.png'}: no such file" in res.output


def _w(start: str, hours: float = 0.0) -> FrameWindow:
    t = datetime.fromisoformat(start).replace(tzinfo=UTC)
    return FrameWindow("X", t, t + timedelta(hours=hours, seconds=5))


def _listings(spk: list[str], ck: list[str]) -> dict[str, list[ListingEntry]]:
    E = lambda n: ListingEntry(n, False)  # noqa: E731
    return {
        "generic_kernels/lsk": [E("naif0012.tls")],
        "generic_kernels/pck": [E("pck00010.tpc"), E("pck00011.tpc")],
        "JUNO/kernels/fk": [E("juno_v12.tf")],
        "JUNO/kernels/ik": [E("juno_junocam_v03.ti")],
        "JUNO/kernels/sclk": [E("jno_sclkscet_00090.tsc"), E("jno_sclkscet_00101.tsc")],
        "JUNO/kernels/spk": [E(n) for n in spk],
        "JUNO/kernels/ck": [E(n) for n in ck],
    }


def test_choice_rules():
    spk = [
        "spk_pre_220614_221109_220810_jm0450.bsp",
        "juno_rec_220628_220706_220712.bsp",  # reconstructed, the frame on its last day
        "juno_rec_220701_220801_220805.bsp",  # reconstructed, the frame strictly inside
        "juno_rec_220701_220801_220803.bsp",  # same, older
    ]
    ck = ["juno_sc_rec_220703_220709_v01.bc", "juno_sc_rec_220703_220709_v02.bc"]
    c = choose_kernels(_listings(spk, ck), [_w("2022-07-05T12:13:37")])
    assert "JUNO/kernels/spk/juno_rec_220701_220801_220805.bsp" in c.files
    assert "JUNO/kernels/ck/juno_sc_rec_220703_220709_v02.bc" in c.files
    assert "generic_kernels/pck/pck00011.tpc" in c.files
    assert "JUNO/kernels/sclk/jno_sclkscet_00101.tsc" in c.files
    assert len(c.files) == 7 and not c.notes
    # two frames in different weeks: one SPK and one CK each
    c = choose_kernels(
        _listings(spk + ["juno_rec_220801_220901_220905.bsp"], ck),
        [_w("2022-07-05T12:00"), _w("2022-08-17T13:16")],
    )
    assert {f for f in c.files if "/spk/" in f} == {
        "JUNO/kernels/spk/juno_rec_220701_220801_220805.bsp",
        "JUNO/kernels/spk/juno_rec_220801_220901_220905.bsp",
    }
    assert len(c.notes) == 1 and "no CK" in c.notes[0]
    # a frame spanning midnight must be covered on both days
    assert "juno_rec_220628_220706" in str(
        choose_kernels(_listings(spk[:2], []), [_w("2022-07-05T23:59:58")]).files
    )
    with pytest.raises(KernelError, match="no LSK"):
        lst = _listings(spk, ck)
        lst["generic_kernels/lsk"] = [ListingEntry("naif0012.tls.lbl", False)]
        choose_kernels(lst, [_w("2022-07-05T12:00")])
