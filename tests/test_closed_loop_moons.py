"""Closed loops of moon flybys (issue 16 points 2-4): Io like PJ57, Ganymede like PJ34.

Synthetic kernels (LSK, PCK with the moon's IAU rotation, FK, SCLK, SPK with Juno
about the moon and the moon about Jupiter, CK) are written with spiceypy's writers;
a textured, sunlit moon is rendered through them; then

* the spin fitted from the overlaps alone reads the flyby's parallax as turn, and
  the plain stitch warns about it (point 3);
* navigation without a CK fits the full limb (the spin axis' tilts from the FK) and is
  compared with the CK truth (point 2, 4); one frame leaves the roll about the line of
  sight loose, a second frame two spins later tied to the same spin axis pins it;
* the frame is mapped with the navigated geometry (per-exposure SPK positions) and
  the texture's spots are found where they belong (point 4).

Small frames (one green band, 16 exposures, two per pass) and a coarse map keep it fast.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from conftest import moon_flyby_frames

from junocam.decode import read_frame
from junocam.framelets import Framelets
from junocam.metadata import Filter
from junocam.planet import photometric_factor
from junocam.planet.pointing import ViewGeometry, view_from_ck
from junocam.planet.projection import MapGrid, project_frame
from junocam.simulate import PlanetTexture

sp = pytest.importorskip("spiceypy")

from junocam.planet.simkernels import (  # noqa: E402
    GANYMEDE_FLYBY,
    IO_FLYBY,
    PassTruth,
    SyntheticPass,
)
from junocam.planet.spice import frame_ephemeris  # noqa: E402

N_EXPOSURES = 16
#: Map resolution of the position check, degrees per pixel.
MAP_RES = 0.5


@dataclass(frozen=True)
class Flyby:
    name: str
    spec: SyntheticPass
    truth: PassTruth
    texture: PlanetTexture
    true_view: ViewGeometry
    png: Path
    framelets: Framelets
    #: a second frame of the pass, two spins later (where the sweep crosses the moon
    #: again): the line of sight has turned 23 (Io) or 10 (Ganymede) degrees
    later: Path


def _make(root: Path, name: str, spec: SyntheticPass) -> Flyby:
    from junocam.maps.frame import linear_framelets

    truth, (png, later), texture = moon_flyby_frames(root / name, spec, N_EXPOSURES, (0, 2))
    raw = read_frame(png)
    true_view = view_from_ck(frame_ephemeris(raw.meta, truth.kernels))
    return Flyby(name, spec, truth, texture, true_view, png, linear_framelets(raw), later)


@pytest.fixture(scope="module", params=["io", "ganymede"])
def flyby(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Flyby:
    spec = {"io": IO_FLYBY, "ganymede": GANYMEDE_FLYBY}[request.param]
    return _make(tmp_path_factory.mktemp("moons"), request.param, spec)


@pytest.fixture(scope="module")
def fitted(flyby: Flyby) -> object:
    from junocam.geometry import fit_frame_spin

    frame = read_frame(flyby.png)
    return fit_frame_spin(flyby.framelets, frame.meta.interframe_delay)


@pytest.fixture(scope="module")
def navigated(flyby: Flyby, fitted: object) -> tuple[object, object]:
    from junocam.planet.navigate import navigate

    frame = read_frame(flyby.png)
    eph = frame_ephemeris(frame.meta, flyby.truth.kernels, use_ck=False)
    fit = fitted
    return fit, navigate(flyby.framelets, eph, fit.spin, fit.camera)  # type: ignore[attr-defined]


def test_the_frame_shows_the_whole_lit_disc_of_the_target(flyby: Flyby) -> None:
    frame = read_frame(flyby.png)
    assert frame.meta.target == flyby.spec.target
    eph = frame_ephemeris(frame.meta, flyby.truth.kernels)
    assert eph.target.name == flyby.spec.target
    dist = np.linalg.norm(eph.observer, axis=1) - eph.body.a
    assert np.all(np.abs(dist - flyby.spec.altitude_km) < 200.0)
    g = np.asarray(flyby.framelets.band(Filter.GREEN))
    # dark sky in the first and last exposures: the disc is inside the sweep
    assert g[0].max() < 50 and g[-1].max() < 50
    assert (g > 100).mean() > 0.1


def test_geometry_report_names_the_moon_and_lists_jupiter(flyby: Flyby) -> None:
    from junocam.planet.spice import geometry_report

    frame = read_frame(flyby.png)
    rep = geometry_report(frame.meta, flyby.truth.kernels)
    assert rep["target"]["name"] == flyby.spec.target
    assert rep["target"]["frame"] == f"IAU_{flyby.spec.target}"
    mid = rep["mid"]["sub_spacecraft"]
    assert abs(mid["lat_deg"] - flyby.spec.sub_lat_deg) < 0.5
    assert abs(mid["alt_km"] - flyby.spec.altitude_km) < 50
    (jupiter,) = rep["bodies"]
    assert jupiter["name"] == "JUPITER"
    # the synthetic pass puts Jupiter 90 degrees from the Sun line, out of the swath
    assert jupiter["in_view"] is False and jupiter["exposures"] == []


def test_spin_only_fit_absorbs_the_parallax_and_the_stitch_warns(
    flyby: Flyby, fitted: object
) -> None:
    """Point 3: the overlap fit reads the flyby's parallax as extra turn."""
    from junocam.geometry import GeometryOptions, stitch_frame
    from junocam.spinfit import JunoCamWarning

    fit = fitted
    true_turn = flyby.truth.spin_rate * (0.372 + 0.001)
    excess = fit.spin.turn_per_exposure / true_turn - 1
    assert excess > 0.01, excess
    frame = read_frame(flyby.png)
    with pytest.warns(JunoCamWarning, match="parallax"):
        stitch_frame(
            flyby.framelets,
            frame.meta.interframe_delay,
            GeometryOptions(scale=0.25),
            spin_fit=fit,  # type: ignore[arg-type]
        )


def _attitude_errors(
    flyby: Flyby, nav: object, true_view: ViewGeometry | None = None
) -> tuple[float, float]:
    """Largest error (degrees) about the line of sight (roll) and across it."""
    truth = true_view or flyby.true_view
    roll, cross = [], []
    for i in range(N_EXPOSURES):
        d = nav.view.camera_to_body[i].T @ truth.camera_to_body[i]  # type: ignore[attr-defined]
        axis, angle = sp.raxisa(d)
        rv = np.asarray(axis) * angle
        los = nav.view.camera_to_body[i].T @ -nav.view.observer[i]  # type: ignore[attr-defined]
        los /= np.linalg.norm(los)
        roll.append(math.degrees(abs(rv @ los)))
        cross.append(math.degrees(np.linalg.norm(rv - (rv @ los) * los)))
    return max(roll), max(cross)


def test_navigation_without_ck_finds_the_moon_and_the_turn(flyby: Flyby, navigated: tuple) -> None:
    """Point 2: the full limb pins where the moon is; the parallax leaves the turn."""
    _, nav = navigated
    assert not nav.used_ck
    assert nav.limb_rms_px < 0.5, nav.as_dict()
    assert nav.n_limb > 1000, nav.as_dict()
    _, cross = _attitude_errors(flyby, nav)
    assert cross < 0.05, (cross, nav.as_dict())
    # the turn correction took the parallax out of the overlap-fitted spin
    true_turn = flyby.truth.spin_rate * (0.372 + 0.001)
    turn = nav.pointing.spin.turn_per_exposure
    assert abs(turn / true_turn - 1) < 0.002, turn / true_turn


def test_navigated_map_puts_the_spots_where_they_belong(flyby: Flyby, navigated: tuple) -> None:
    """Point 4's map half without a CK: the texture's spots within half an output pixel."""
    _, nav = navigated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        offsets = _spot_offsets(flyby, nav.view)
    assert len(offsets) >= 3 and max(offsets) < 0.5, offsets


@dataclass(frozen=True)
class Pair:
    """Both frames of a pass: their inputs, alone and tied navigations, true views."""

    frames: tuple  # of NavFrame
    alone: tuple  # of Navigation
    tied: tuple  # of Navigation
    truths: tuple  # of ViewGeometry


@pytest.fixture(scope="module")
def pair(flyby: Flyby, fitted: object, navigated: tuple) -> Pair:
    from junocam.geometry import fit_frame_spin
    from junocam.maps.frame import linear_framelets
    from junocam.planet.navigate import NavFrame, navigate, navigate_jointly

    _, nav = navigated
    raw = read_frame(flyby.png)
    later = read_frame(flyby.later)
    later_framelets = linear_framelets(later)
    fits = (fitted, fit_frame_spin(later_framelets, later.meta.interframe_delay))
    frames = tuple(
        NavFrame(fl, frame_ephemeris(r.meta, flyby.truth.kernels, use_ck=False), f.spin, f.camera)  # type: ignore[attr-defined]
        for r, fl, f in zip((raw, later), (flyby.framelets, later_framelets), fits, strict=True)
    )
    f = frames[1]
    alone = (nav, navigate(f.framelets, f.ephemeris, f.spin, f.camera))
    tied = navigate_jointly(frames, navigations=alone)
    truths = (flyby.true_view, view_from_ck(frame_ephemeris(later.meta, flyby.truth.kernels)))
    return Pair(frames, alone, tied, truths)


def test_navigation_without_ck_recovers_the_roll(flyby: Flyby, pair: Pair) -> None:
    """Point 4: two frames of the flyby tied to one spin axis pin each frame's roll
    about the line of sight, which one frame of a round moon leaves loose."""
    for nav, truth in zip(pair.tied, pair.truths, strict=True):
        roll, cross = _attitude_errors(flyby, nav, truth)
        assert max(roll, cross) < 0.05, (roll, cross, nav.as_dict())
    for single, tied in zip(pair.alone, pair.tied, strict=True):
        # the tie costs the limb nothing (the frames do share one axis) and narrows
        # the attitude's uncertainty
        assert tied.limb_rms_px < single.limb_rms_px + 0.05
        assert tied.attitude_sigma_deg < single.attitude_sigma_deg
    # and the map of the tied navigation puts the spots where they belong
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        offsets = _spot_offsets(flyby, pair.tied[0].view)
    assert len(offsets) >= 3 and max(offsets) < 0.5, offsets
    # what the tie adds: these frames alone miss their roll by tenths of a degree
    rolls = [_attitude_errors(flyby, n, t)[0] for n, t in zip(pair.alone, pair.truths, strict=True)]
    assert max(rolls) > 0.1, rolls


def test_frames_that_do_not_share_a_spin_axis_are_refused(flyby: Flyby, pair: Pair) -> None:
    """A frame whose spin axis differs from the others' is refused once the frames can
    tell: with two frames each one's roll can take up any turn of the axis between
    them, so here the later frame comes twice, once with its inertial frame turned
    (as if Juno had tilted its spin axis by a degree): the same line of sight, so no
    roll can hide the turn, and tying them would misplace their limbs."""
    from junocam.errors import GeometryError
    from junocam.planet.navigate import NavFrame, navigate, navigate_jointly
    from junocam.spin import rotation_matrix

    if flyby.name != "io":
        pytest.skip("the check is the same for both passes: run once")
    first, later = pair.frames
    nav = pair.alone[0]
    eph = later.ephemeris
    # the same pictures, but the later one's inertial frame turned by one degree (as if
    # Juno had tilted its spin axis between them) about the direction across both the
    # axis and the line of sight: no roll of either frame can take that up
    mid = N_EXPOSURES // 2
    sight = -(eph.j2000_to_body[mid].T @ eph.observer[mid])
    axis = nav.pointing.reference_to_j2000 @ nav.pointing.spin.axis
    tilt = np.cross(axis, sight)
    turn = rotation_matrix(tilt / np.linalg.norm(tilt), math.radians(1.0))
    turned = replace(eph, j2000_to_body=eph.j2000_to_body @ turn)
    moved = NavFrame(later.framelets, turned, later.spin, later.camera)
    alone = navigate(moved.framelets, turned, moved.spin, moved.camera)
    with pytest.raises(GeometryError, match="spin axis|not trustworthy"):
        navigate_jointly([first, later, moved], navigations=[nav, pair.alone[1], alone])


def _offset(img: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    from skimage.registration import phase_cross_correlation

    shift, _, _ = phase_cross_correlation(ref, img, upsample_factor=20, normalization=None)
    return float(shift[0]), float(shift[1])


def _spot_offsets(flyby: Flyby, view: ViewGeometry) -> list[float]:
    """Map the frame through ``view`` and measure each well-seen spot's offset (px)."""
    grid = MapGrid(
        "equirectangular",
        MAP_RES,
        (int(180 / MAP_RES), int(360 / MAP_RES)),
        lon_left=360.0,
        lat_top=90.0,
        body=view.body,
    )
    m = project_frame(flyby.framelets, view, grid)
    bp = m.backplanes
    law = photometric_factor(
        np.nan_to_num(bp.mu0), np.nan_to_num(bp.mu), "lambert", min_mu0=0.2, max_gain=10
    )
    good = m.masks[Filter.GREEN] & (law > 0) & (bp.emission_deg < 60)
    out = []
    for f_lat, f_lon in flyby.texture.features:
        r0 = int(round((90.0 - f_lat) / MAP_RES - 0.5))
        c0 = int(round(((360.0 - f_lon) % 360.0) / MAP_RES - 0.5))
        box = (slice(r0 - 12, r0 + 13), slice(c0 - 16, c0 + 17))
        if r0 < 12 or r0 > grid.shape[0] - 13 or c0 < 16 or c0 > grid.shape[1] - 17:
            continue
        if not good[box].all():
            continue
        img = m.bands[Filter.GREEN][box] / law[box]
        ref = flyby.texture.albedo(
            bp.lat_deg[box].ravel(), bp.lon_west_deg[box].ravel(), Filter.GREEN
        ).reshape(img.shape)
        out.append(math.hypot(*_offset(img, ref)))
    return out


def test_map_with_the_ck_puts_the_spots_where_they_belong(flyby: Flyby) -> None:
    """Point 4's map half: the moon's frame and rotation, every exposure at its SPK
    position (a close flyby keeps its shape)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        offsets = _spot_offsets(flyby, flyby.true_view)
    assert len(offsets) >= 3, offsets
    assert max(offsets) < 0.5, offsets


def _kernels_without_ck(flyby: Flyby, folder: Path) -> Path:
    """The pass's kernels less its CK (what a user without pointing kernels has)."""
    folder.mkdir(exist_ok=True)
    for p in flyby.truth.kernels.paths:
        if not p.endswith(".bc"):
            (folder / Path(p).name).symlink_to(p)
    return folder


def test_geometry_navigate_gives_the_attitude_for_the_bodies_in_view(
    flyby: Flyby, tmp_path: Path
) -> None:
    """Point 2: without a CK, ``geometry --navigate`` fits the attitude to the limb and
    says which bodies the frame sees (none here: Jupiter is 90 degrees off the swath)."""
    import json

    from click.testing import CliRunner

    from junocam.cli.app import main

    if flyby.name != "io":
        pytest.skip("the CLI path is the same for both passes: run once")
    plain = _kernels_without_ck(flyby, tmp_path / "k")
    args = ["geometry", str(flyby.png), "--kernels", str(plain)]
    without = json.loads(CliRunner().invoke(main, args).output)
    assert without["attitude"] is None and without["bodies"][0]["in_view"] is None
    res = CliRunner().invoke(main, [*args, "--navigate"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["attitude"] == "given"
    (jupiter,) = rep["bodies"]
    assert jupiter["in_view"] is False and jupiter["exposures"] == []
    with_ck = CliRunner().invoke(
        main,
        ["geometry", str(flyby.png), "--kernels", str(flyby.truth.kernels.source), "--navigate"],
    )
    assert json.loads(with_ck.output)["attitude"] == "ck"


def test_geometry_report_lists_a_body_in_view_of_a_given_attitude(flyby: Flyby) -> None:
    """A camera turned onto Jupiter at one exposure (away from it at the others) sees
    Jupiter there and only there."""
    from junocam.planet.spice import geometry_report

    if flyby.name != "io":
        pytest.skip("one pass is enough for the attitude bookkeeping")
    frame = read_frame(flyby.png)
    rep = geometry_report(frame.meta, flyby.truth.kernels)
    k = 5
    for p in flyby.truth.kernels.paths:
        sp.furnsh(p)
    try:
        et = sp.str2et(rep["exposures"][k]["utc"])
        pos, _ = sp.spkpos("JUPITER", et, "J2000", "LT+S", "JUNO")
    finally:
        sp.kclear()
    z = np.asarray(pos) / np.linalg.norm(pos)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    towards = np.stack([x, np.cross(z, x), z], axis=1)  # camera axes as J2000 columns
    away = towards @ np.diag([1.0, -1.0, -1.0])
    cam = np.stack([towards if i == k else away for i in range(N_EXPOSURES)])
    rep = geometry_report(frame.meta, flyby.truth.kernels, camera_to_j2000=cam)
    (jupiter,) = rep["bodies"]
    assert rep["attitude"] == "given"
    assert jupiter["in_view"] is True and jupiter["exposures"] == [k]


def test_map_mosaic_and_geometry_tie_a_flybys_frames_to_one_spin_axis(
    flyby: Flyby, pair: Pair, tmp_path: Path
) -> None:
    """``junocam map A B``, ``mosaic A B`` and ``geometry A B --navigate`` without a CK
    navigate a flyby's frames together; the outputs record it and the attitude is the
    joint fit's."""
    import json

    from click.testing import CliRunner

    from junocam.cli.app import main

    if flyby.name != "io":
        pytest.skip("the CLI path is the same for both passes: run once")
    plain = _kernels_without_ck(flyby, tmp_path / "k")
    frames = [str(flyby.png), str(flyby.later), "--kernels", str(plain)]
    small = ["--resolution", "2", "-p", "raw"]
    # one geometry cache: the commands after the first reuse the frames' navigations
    runner = CliRunner(env={"JUNOCAM_CACHE_DIR": str(tmp_path / "cache")})
    out = tmp_path / "maps"
    res = runner.invoke(
        main, ["map", *frames, *small, "--projection", "orthographic", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert res.output.count("one spin axis with 1 more frames") == 2, res.output
    sidecars = sorted(out.glob("*.json"))
    assert len(sidecars) == 2
    for path, tied in zip(sidecars, pair.tied, strict=True):
        nav = json.loads(path.read_text())["geometry"]["navigation"]
        assert nav["tied_frames"] == 2
        got = np.array(nav["reference_to_j2000"])
        assert np.allclose(got, tied.pointing.reference_to_j2000, atol=1e-7)

    res = runner.invoke(main, ["geometry", *frames, "--navigate"])
    assert res.exit_code == 0, res.output
    decoder, text, reports = json.JSONDecoder(), res.output.strip(), []
    while text:
        rep, end = decoder.raw_decode(text)
        reports.append(rep)
        text = text[end:].strip()
    assert [r["tied_frames"] for r in reports] == [2, 2]
    assert [r["attitude"] for r in reports] == ["given", "given"]

    res = runner.invoke(main, ["mosaic", *frames, *small, "-o", str(tmp_path / "mosaic")])
    assert res.exit_code == 0, res.output
    (sidecar,) = (tmp_path / "mosaic").glob("*.json")
    record = json.loads(sidecar.read_text())
    navs = [f["navigation"] for f in record["frames"]]
    assert [n["tied_frames"] for n in navs] == [2, 2]
