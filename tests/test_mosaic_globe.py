"""Mosaics, globe renders and fly-by animations (issue: citizen-science showpieces)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from junocam.cli import main
from junocam.errors import OutputError
from junocam.maps.flyby import encode_movie, flyby_views
from junocam.maps.globe import GlobeView, render_globe
from junocam.metadata import Filter
from junocam.output import write_png
from junocam.planet import photometric_factor, surface_point
from junocam.planet.projection import MapGrid
from junocam.simulate import PlanetTexture

sp = pytest.importorskip("spiceypy")

from junocam.simulate import simulate_pass_frames  # noqa: E402

#: Frame B comes one spin period (1.99 rpm) and 1.5 s after frame A: the camera sweeps
#: Jupiter again, 18 degrees of spin later, so the two footprints overlap in part.
PERIOD = 60.0 / 1.99
GAIN_B = 1.3


@dataclass(frozen=True)
class Pass:
    kernels: object
    texture: PlanetTexture
    frames: tuple[Path, Path]


@pytest.fixture(scope="module")
def two_frames(tmp_path_factory: pytest.TempPathFactory) -> Pass:
    texture = PlanetTexture.procedural((360, 720), seed=9, n_spots=30)
    truth, paths = simulate_pass_frames(
        tmp_path_factory.mktemp("mosaic"),
        offsets_s=(0.0, PERIOD + 1.5),
        gains=(1.0, GAIN_B),
        texture=texture,
    )
    return Pass(truth.kernels, texture, (paths[0], paths[1]))


def test_mosaic_matches_gains_and_reproduces_the_texture(two_frames: Pass) -> None:
    from junocam.maps.mosaic import MosaicOptions, mosaic_frames
    from junocam.pipeline import Pipeline

    raw = Pipeline(["stitch", ("compose", {"normalize": "full_scale"})], name="linear")
    mopts = MosaicOptions(
        out_dir=Path("."), projection="equirectangular", resolution=0.25, mode="ck"
    )
    mosaic, _, records, _ = mosaic_frames(list(two_frames.frames), two_frames.kernels, raw, mopts)
    # the second frame was exposed 1.3 times longer: its gain comes out near 1/1.3
    g = mosaic.gains[Filter.GREEN]
    assert g[0] == 1.0 and g[1] == pytest.approx(1 / GAIN_B, rel=0.03), g
    assert (mosaic.coverage == 2).sum() > 5000  # the frames overlap
    assert set(np.unique(mosaic.source)) >= {0, 1}
    # against the texture where well lit and well seen
    bp = mosaic.backplanes
    law = photometric_factor(
        np.nan_to_num(bp.mu0), np.nan_to_num(bp.mu), "lambert", min_mu0=0.2, max_gain=10
    )
    good = mosaic.masks[Filter.GREEN] & (law > 0) & (bp.emission_deg < 70)
    truth = two_frames.texture.albedo(bp.lat_deg[good], bp.lon_west_deg[good], Filter.GREEN)
    got = mosaic.bands[Filter.GREEN][good] / law[good]
    a, b = np.polyfit(truth, got, 1)
    rms = float(np.sqrt(np.mean(((got - (a * truth + b)) / a) ** 2)))
    assert rms < 0.03, rms
    # the seam: where both frames overlap, the blend differs from the truth no more
    # than elsewhere
    both = good & (mosaic.coverage == 2)
    one = good & (mosaic.coverage == 1)
    err = (
        np.abs(
            mosaic.bands[Filter.GREEN] / np.where(law > 0, law, 1)
            - (a * two_frames.texture.albedo(bp.lat_deg, bp.lon_west_deg, Filter.GREEN) + b)
        )
        / a
    )
    assert np.mean(err[both]) < 1.5 * np.mean(err[one]) + 0.005
    assert all("gains" in r for r in records)


def test_gains_equalise_frames_without_fitting_are_off(two_frames: Pass) -> None:
    from junocam.maps.mosaic import MosaicOptions, mosaic_frames
    from junocam.pipeline import Pipeline

    raw = Pipeline(["stitch", ("compose", {"normalize": "full_scale"})], name="linear")
    mopts = MosaicOptions(
        out_dir=Path("."), projection="equirectangular", resolution=0.5, mode="ck", fit_gains=False
    )
    mosaic, *_ = mosaic_frames(list(two_frames.frames), two_frames.kernels, raw, mopts)
    assert mosaic.gains[Filter.GREEN] == [1.0, 1.0]


def test_globe_puts_a_known_feature_at_the_predicted_pixel() -> None:
    grid = MapGrid("equirectangular", 0.25, (720, 1440))
    lat, lon = grid.latlon()
    f_lat, f_lon = -32.0, 71.0
    d = np.hypot(lat - f_lat, ((lon - f_lon + 180) % 360 - 180) * np.cos(np.radians(f_lat)))
    img = np.where(d < 1.0, 1.0, 0.2).astype(np.float32)
    view = GlobeView(-20.0, 60.0, 3.0, fov_deg=50.0, size=600, roll_deg=15.0)
    rgb, hit = render_globe(img, grid, view)
    want_r, want_c = view.project(surface_point(math.radians(f_lat), math.radians(f_lon)))
    bright = rgb[..., 0] > 0.6
    r, c = np.nonzero(bright)
    assert bright.sum() > 20
    assert abs(r.mean() - want_r) < 1.0 and abs(c.mean() - want_c) < 1.0
    # lighting from the feature's side keeps it bright; from the far side it is dark
    lit, _ = render_globe(img, grid, view, sun=(f_lat, f_lon))
    dark, _ = render_globe(img, grid, view, sun=(-f_lat, (f_lon + 180) % 360))
    assert lit[bright, 0].mean() > 0.8 and dark[bright, 0].mean() < 0.1
    assert hit.sum() > 0.2 * hit.size
    stars, _ = render_globe(img, grid, view, background="stars")
    assert (stars[~hit] > 0).any() and not (rgb[~hit] > 0).any()


def test_animation_writes_the_expected_number_of_frames(tmp_path: Path) -> None:
    import imageio.v3 as iio

    positions = [
        surface_point(math.radians(-40 + 10 * k), math.radians(100 + 15 * k)) * 2.5
        for k in range(3)
    ]
    views = flyby_views(positions, steps=5, size=48)
    assert len(views) == 2 * 5 + 1
    grid = MapGrid("equirectangular", 2.0, (90, 180))
    img = np.random.default_rng(0).uniform(0, 1, (90, 180, 3)).astype(np.float32)
    frames = [render_globe(img, grid, v)[0] for v in views]
    gif = encode_movie(tmp_path / "flyby.gif", frames, fps=10)
    back = iio.imread(gif, index=None)
    assert back.shape[0] == len(views) and back.shape[1:3] == (48, 48)
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        with pytest.raises(OutputError, match="ffmpeg"):
            encode_movie(tmp_path / "flyby.mp4", frames)
    with pytest.raises(OutputError, match="gif or .mp4"):
        encode_movie(tmp_path / "flyby.avi", frames)


def test_globe_cli_reads_a_map_and_its_sidecar(tmp_path: Path) -> None:
    grid = MapGrid("equirectangular", 2.0, (90, 180))
    img = np.full((90, 180, 3), 0.5, np.float32)
    write_png(tmp_path / "m.png", img, bits=8)
    (tmp_path / "m.json").write_text(json.dumps({"grid": grid.to_dict()}))
    out = tmp_path / "g.png"
    res = CliRunner().invoke(
        main, ["globe", str(tmp_path / "m.png"), "--view", "10,20", "--size", "64", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 100
    (tmp_path / "m.json").unlink()
    res = CliRunner().invoke(
        main, ["globe", str(tmp_path / "m.png"), "--view", "10,20", "-o", str(out)]
    )
    assert res.exit_code == 1 and "m.json is missing" in res.output
    res = CliRunner().invoke(
        main, ["globe", str(tmp_path / "m.png"), "--view", "100,20", "-o", str(out)]
    )
    assert res.exit_code == 2


def test_globe_has_no_seam_at_the_map_edge_meridian() -> None:
    """Regression: the 0/360 meridian of a full-circle map lies half a pixel beyond the
    first and last columns; the coverage mask must be read there like the colours."""
    grid = MapGrid("equirectangular", 0.3, (300, 1200), lon_left=360.0, lat_top=0.0)
    img = np.full((300, 1200, 3), 0.5, np.float32)
    rgb, hit = render_globe(
        img, grid, GlobeView(-80.0, 0.0, 3.0, size=200), mask=np.ones((300, 1200), bool)
    )
    south = hit.copy()
    south[:40] = False  # keep clear of the map's northern edge (latitude 0)
    assert np.all(rgb[south, 0] > 0.45)


def test_wrap_padding_of_full_circle_maps() -> None:
    from junocam.maps.frame import wrap_padded

    g = MapGrid("equirectangular", 0.5, (100, 720))
    wide, pad = wrap_padded(g, 32)
    lat, lon = wide.latlon()
    base_lat, base_lon = g.latlon()
    np.testing.assert_allclose(lon[:, pad:-pad], base_lon)
    np.testing.assert_allclose(lon[:, :pad], base_lon[:, -pad:])  # the other side repeats
    part = MapGrid("equirectangular", 0.5, (100, 100), lon_left=200.0)
    assert wrap_padded(part) == (part, 0)


def test_mosaic_and_animate_commands(two_frames: Pass, tmp_path: Path) -> None:
    import imageio.v3 as iio

    frames = [str(p) for p in two_frames.frames]
    kernels = ["--kernels", str(Path(two_frames.kernels.paths[0]).parent)]
    res = CliRunner().invoke(
        main,
        [
            "mosaic",
            *frames,
            *kernels,
            "--navigate",
            "ck",
            "--projection",
            "equirectangular",
            "--resolution",
            "0.5",
            "-p",
            "raw",
            "-o",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    side = json.loads((tmp_path / "mosaic-equirectangular-raw.json").read_text())
    assert [f["product_id"] for f in side["frames"]] == [p.name[:25] for p in two_frames.frames]
    assert side["frames"][1]["gains"]["GREEN"] == pytest.approx(1 / GAIN_B, rel=0.03)
    for name in ("coverage", "source"):
        assert (tmp_path / f"mosaic-equirectangular-{name}.png").stat().st_size > 100
    planes = np.load(tmp_path / "mosaic-equirectangular-backplanes.npz")
    assert planes["coverage"].max() == 2
    # a frame that cannot be read is left out, named, and makes the exit status 1
    junk = tmp_path / "JNCE_2022186_43C00099_V01-raw.png"
    junk.write_bytes(b"not a png")
    res = CliRunner().invoke(
        main,
        [
            "mosaic",
            *frames,
            str(junk),
            *kernels,
            "--navigate",
            "ck",
            "--projection",
            "equirectangular",
            "--resolution",
            "1.0",
            "-p",
            "raw",
            "--name",
            "partial",
            "-o",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 1 and "43C00099" in res.output and "left out" in res.output
    side = json.loads((tmp_path / "partial-equirectangular-raw.json").read_text())
    assert sum("error" in f for f in side["frames"]) == 1
    movie = tmp_path / "fly.gif"
    res = CliRunner().invoke(
        main,
        [
            "animate",
            *frames,
            *kernels,
            "--navigate",
            "ck",
            "--steps",
            "3",
            "--size",
            "48",
            "--resolution",
            "1.0",
            "-o",
            str(movie),
        ],
    )
    assert res.exit_code == 0, res.output
    assert iio.imread(movie, index=None).shape[0] == 3 + 1
    res = CliRunner().invoke(main, ["animate", *frames, *kernels, "-o", str(tmp_path / "x.avi")])
    assert res.exit_code == 2


def test_quality_weight_prefers_the_closer_and_more_direct_view() -> None:
    from junocam.maps.blend import quality_weight
    from junocam.planet import Backplanes
    from junocam.planet.projection import MapResult

    grid = MapGrid("equirectangular", 1.0, (60, 60))
    seen = np.zeros((60, 60), bool)
    seen[10:50, 10:50] = True

    def result(emission: float, range_km: float) -> MapResult:
        full = np.full((60, 60), 0.0, np.float32)
        bp = Backplanes(full, full, full, np.full((60, 60), emission, np.float32), full)
        return MapResult(
            grid,
            {Filter.GREEN: full},
            {Filter.GREEN: seen},
            bp,
            np.zeros((60, 60), np.int16),
            np.full((60, 60), range_km, np.float32),
        )

    near = quality_weight(result(0.0, 50000.0), Filter.GREEN)
    far = quality_weight(result(0.0, 100000.0), Filter.GREEN)
    oblique = quality_weight(result(60.0, 50000.0), Filter.GREEN)
    assert near[30, 30] / far[30, 30] == pytest.approx(4.0)  # half the range: 1/4 the pixel area
    assert oblique[30, 30] / near[30, 30] == pytest.approx(0.25)  # cos(60)^2
    assert near[10, 30] < 0.01 * near[30, 30] and near[0, 0] == 0.0  # feathered edge, unseen
