"""The frame-geometry cache: hits give the same geometry without navigating again,
every input and option is in the key, and a broken entry is recomputed, not fatal."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from junocam.cli import main
from junocam.decode import RawFrame, read_frame
from junocam.maps import frame as frame_mod
from junocam.maps.cache import GeometryCache, default_cache_root, geometry_key
from junocam.maps.frame import frame_geometry
from junocam.metadata import from_website_json
from junocam.output import encode_png
from junocam.planet.pointing import view_from_ck
from junocam.planet.spice import KernelSet, frame_ephemeris
from junocam.simulate import (
    PlanetTexture,
    SimulationSpec,
    simulate_planet_frame,
    website_metadata,
)

pytest.importorskip("spiceypy")

from junocam.planet.simkernels import write_pass_kernels  # noqa: E402


@pytest.fixture(scope="module")
def sim_pass(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A one-exposure frame of a synthetic pass rendered 15 ms late, and its kernels
    (with a CK: the navigation refines the start time on the limb)."""
    root = tmp_path_factory.mktemp("pass")
    (root / "kernels").mkdir()
    truth = write_pass_kernels(root / "kernels")
    spec = SimulationSpec(n_exposures=1, oversample=1, product_id="JNCS_2026329_99C00001_V01")
    meta = from_website_json(website_metadata(spec, spec.true_spin()))
    late = view_from_ck(frame_ephemeris(meta, truth.kernels, time_offset=0.015))
    sim = simulate_planet_frame(PlanetTexture.procedural((90, 180)), late, spec)
    png = root / f"{spec.product_id}-raw.png"
    png.write_bytes(encode_png(sim.strip))
    (root / f"{spec.product_id}.json").write_text(json.dumps(sim.metadata))
    return truth, png


def _no_navigation(*args: object, **kwargs: object) -> None:
    raise AssertionError("navigated although the geometry was cached")


def _same_geometry(a: frame_mod.FrameGeometry, b: frame_mod.FrameGeometry) -> None:
    assert json.dumps(a.as_dict()) == json.dumps(b.as_dict())  # NaN-safe
    for name in ("observer", "camera_to_body", "sun"):
        np.testing.assert_array_equal(getattr(a.view, name), getattr(b.view, name))
    assert a.view.camera == b.view.camera and a.view.body == b.view.body
    assert a.navigation is not None and b.navigation is not None
    np.testing.assert_array_equal(a.ephemeris.et, b.ephemeris.et)


def test_default_root_follows_the_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("JUNOCAM_CACHE_DIR", str(tmp_path))
    assert default_cache_root() == tmp_path
    assert GeometryCache().folder == tmp_path / "geometry"


def test_a_hit_gives_the_same_geometry_without_navigating(
    sim_pass, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    truth, png = sim_pass
    frame = read_frame(png)
    cache = GeometryCache(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one exposure: no spin to fit
        first = frame_geometry(frame, truth.kernels, cache=cache)
    assert first.navigation is not None and first.navigation.used_ck
    (entry,) = cache.folder.glob("*.npz")
    assert entry.stat().st_size < 100_000  # small: numbers, not images
    monkeypatch.setattr(frame_mod, "navigate", _no_navigation)
    monkeypatch.setattr(frame_mod, "fit_frame_spin", _no_navigation)
    again = frame_geometry(frame, truth.kernels, cache=cache)
    _same_geometry(first, again)
    # another mode or offset is another entry: computed, so navigating is needed
    with pytest.raises(AssertionError, match="navigated"):
        frame_geometry(frame, truth.kernels, cache=cache, time_offset=0.001)
    with pytest.raises(AssertionError, match="navigated"):
        frame_geometry(frame, truth.kernels, cache=cache, mode="limb")


def test_the_key_covers_pixels_metadata_kernels_and_options(sim_pass, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    truth, png = sim_pass
    frame = read_frame(png)
    key = geometry_key(frame, truth.kernels)
    moved = RawFrame(frame.pixels.copy(), frame.meta, path="elsewhere/copy.png")
    assert geometry_key(moved, truth.kernels) == key  # same content, another place
    pixels = frame.pixels.copy()
    pixels[0, 0] ^= 1
    assert geometry_key(RawFrame(pixels, frame.meta), truth.kernels) != key
    later = frame.meta.__class__(**{**frame.meta.__dict__, "interframe_delay": 0.5})
    assert geometry_key(RawFrame(frame.pixels, later), truth.kernels) != key
    assert geometry_key(frame, truth.kernels, mode="limb") != key
    assert geometry_key(frame, truth.kernels, time_offset=0.01) != key
    # a kernel file rewritten (new modification time) invalidates the entry
    copies = tmp_path / "k"
    copies.mkdir()
    for p in truth.kernels.paths:
        (copies / Path(p).name).write_bytes(Path(p).read_bytes())
    ks = KernelSet.from_path(str(copies))
    k1 = geometry_key(frame, ks)
    victim = copies / Path(truth.kernels.paths[0]).name
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert geometry_key(frame, ks) != k1


def test_a_corrupted_entry_is_recomputed_with_a_warning(sim_pass, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    truth, png = sim_pass
    frame = read_frame(png)
    cache = GeometryCache(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = frame_geometry(frame, truth.kernels, cache=cache)
    (entry,) = cache.folder.glob("*.npz")
    for garbage in (b"not an npz", entry.read_bytes()[:200]):
        entry.write_bytes(garbage)
        with pytest.warns(RuntimeWarning, match="unreadable geometry cache entry"):
            again = frame_geometry(frame, truth.kernels, cache=cache)
        _same_geometry(first, again)
    # the recomputed entry replaced the broken one
    assert cache.load(entry.stem) is not None


def test_an_entry_never_unpickles(tmp_path: Path) -> None:
    cache = GeometryCache(tmp_path)
    cache.folder.mkdir(parents=True)
    obj = np.array([{"x": 1}], dtype=object)
    with open(cache.path("ef" * 32), "wb") as fh:
        np.savez(fh, __meta__=obj)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert cache.load("ef" * 32) is None


def test_map_command_reuses_the_geometry_and_no_cache_bypasses_it(
    sim_pass, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    truth, png = sim_pass
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("JUNOCAM_CACHE_DIR", str(cache_dir))
    kernels = [a for p in truth.kernels.paths for a in ("--kernels", p)]

    def run(out: Path, *extra: str) -> dict:
        args = ["map", str(png), *kernels, "--projection", "polar", "--resolution", "1"]
        res = CliRunner().invoke(main, [*args, *extra, "-p", "raw", "-o", str(out)])
        assert res.exit_code == 0, res.output
        (side,) = out.glob("*.json")
        return json.loads(side.read_text())

    cold = run(tmp_path / "a")
    assert len(list((cache_dir / "geometry").glob("*.npz"))) == 1
    monkeypatch.setattr(frame_mod, "navigate", _no_navigation)
    warm = run(tmp_path / "b")
    assert json.dumps(warm["geometry"]) == json.dumps(cold["geometry"])
    assert warm["grid"] == cold["grid"]
    a = (tmp_path / "a" / Path(cold["outputs"][0]).name).read_bytes()
    assert (tmp_path / "b" / Path(warm["outputs"][0]).name).read_bytes() == a
    # --no-cache navigates (the patched navigation fails the frame) and stores nothing
    res = CliRunner().invoke(
        main,
        ["map", str(png), *kernels, "--no-cache", "-p", "raw", "-o", str(tmp_path / "c")],
    )
    assert res.exit_code != 0
    assert len(list((cache_dir / "geometry").glob("*.npz"))) == 1


def test_benchmark_runner_times_a_cold_and_a_warm_map(sim_pass, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from benchmarks.runner import bench_map

    truth, png = sim_pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = bench_map(png, truth.kernels, tmp_path, projection="polar", resolution=1.0)
    assert "error" not in m, m
    assert m["cold_s"] > 0 and m["warm_s"] > 0 and m["grid"][0] > 10
    assert len(list((tmp_path / "geometry-cache" / "geometry").glob("*.npz"))) == 1
    assert list((tmp_path / "map-out").iterdir()) == []  # outputs cleaned up
    bad = bench_map(tmp_path / "missing-raw.png", truth.kernels, tmp_path)
    assert "does not exist" in bad["error"]


def test_mosaic_reuses_the_cached_geometry(sim_pass, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from junocam.maps.mosaic import MosaicOptions, mosaic_frames
    from junocam.pipeline import Pipeline

    truth, png = sim_pass
    cache = GeometryCache(tmp_path)
    mopts = MosaicOptions(tmp_path, resolution=2.0, cache=cache)
    pipe = Pipeline(["stitch", "compose"], name="plain")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = mosaic_frames([png], truth.kernels, pipe, mopts)
    monkeypatch.setattr(frame_mod, "navigate", _no_navigation)
    again = mosaic_frames([png], truth.kernels, pipe, mopts)
    assert json.dumps(again[2]) == json.dumps(first[2])  # per-frame records
    np.testing.assert_array_equal(again[1].rgb, first[1].rgb)


def test_a_value_that_cannot_be_stored_only_warns(tmp_path: Path) -> None:
    cache = GeometryCache(tmp_path)
    with pytest.warns(RuntimeWarning, match="could not write"):
        value, hit = cache.get_or_compute("aa" * 32, lambda: (object(),))
    assert not hit and len(value) == 1
    assert not cache.path("aa" * 32).exists()
