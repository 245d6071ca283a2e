"""Closed loop through SPICE: synthetic kernels -> rendered frame -> navigation and maps.

Synthetic SPK, CK, FK, SCLK, PCK and LSK kernels of a made-up pass are written with
spiceypy's writers; a textured, sunlit oblate Jupiter is rendered through them into
a raw frame with a start-time jitter; then (a) the CK refines the start time and
the frame is mapped, and the map is compared with the texture; (b) without the CK
the attitude is navigated from the limb and terminator and compared with the truth.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from junocam.decode import read_frame
from junocam.framelets import Framelets
from junocam.metadata import Filter, from_website_json
from junocam.output import encode_png
from junocam.planet import photometric_factor
from junocam.planet.pointing import ViewGeometry, view_from_ck
from junocam.planet.projection import MapGrid, project_frame
from junocam.planet.spice import KernelSet, exposure_times, frame_ephemeris
from junocam.simulate import PlanetTexture, SimulationSpec, simulate_planet_frame, website_metadata

sp = pytest.importorskip("spiceypy")

from junocam.planet.simkernels import PassTruth, SyntheticPass, write_pass_kernels  # noqa: E402

#: The true start-time jitter the frame is rendered with (s).
JITTER = 0.007
N_EXPOSURES = 18


@dataclass(frozen=True)
class Loop:
    truth: PassTruth
    texture: PlanetTexture
    true_view: ViewGeometry
    png: Path
    framelets: Framelets


def _start_time(mid_utc: str, spec: SimulationSpec) -> datetime:
    """START_TIME that puts the middle exposure's mid-exposure at ``mid_utc``."""
    probe = from_website_json(website_metadata(spec, spec.true_spin()))
    mid_offset = exposure_times(probe)[(spec.n_exposures - 1) // 2]
    mid = datetime.fromisoformat(mid_utc).replace(tzinfo=UTC)
    return mid - timedelta(seconds=float(mid_offset))


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    root = tmp_path_factory.mktemp("planet_loop")
    kdir = root / "kernels"
    kdir.mkdir()
    pass_ = SyntheticPass()
    truth = write_pass_kernels(kdir, pass_)
    spec = SimulationSpec(
        n_exposures=N_EXPOSURES,
        oversample=2,
        tdi=3,
        full_well_dn=2400.0,
        hot_pixels=0,
        seed=3,
        product_id="JNCS_2026329_99C00001_V01",
    )
    spec = SimulationSpec(**{**spec.__dict__, "start_time": _start_time(pass_.mid_utc, spec)})
    meta = from_website_json(website_metadata(spec, spec.true_spin()))
    eph = frame_ephemeris(meta, truth.kernels, time_offset=JITTER)
    true_view = view_from_ck(eph)
    texture = PlanetTexture.procedural((360, 720), seed=5, n_spots=40)
    sim = simulate_planet_frame(texture, true_view, spec)
    png = root / f"{spec.product_id}-raw.png"
    png.write_bytes(encode_png(sim.strip))
    (root / f"{spec.product_id}.json").write_text(json.dumps(sim.metadata))
    frame = read_frame(png)
    from junocam.maps.frame import linear_framelets

    return Loop(truth, texture, true_view, png, linear_framelets(frame))


def test_synthetic_kernels_agree_with_our_geometry(loop: Loop) -> None:
    """SPICE's own ray-surface intercept (sincpt) agrees with ViewGeometry.surface."""
    frame = read_frame(loop.png)
    eph = frame_ephemeris(frame.meta, loop.truth.kernels, time_offset=JITTER)
    view = view_from_ck(eph)
    k = N_EXPOSURES // 2
    s = np.array([400.0, 814.0, 1200.0])
    line = np.array([20.0, 64.0, 100.0])
    ours, ok = view.surface(k, s, line, Filter.GREEN)
    from junocam.planet.spice import furnished

    with furnished(loop.truth.kernels):
        for j in range(3):
            if not ok[j]:
                continue
            ray = view.camera.pixel_to_ray(s[j : j + 1], line[j : j + 1], Filter.GREEN)[0]
            spoint, _, _ = sp.sincpt(
                "ELLIPSOID",
                "JUPITER",
                float(eph.et[k]),
                "IAU_JUPITER",
                "LT+S",
                "JUNO",
                "JUNO_JUNOCAM",
                ray,
            )
            # sincpt aberration-corrects each ray on its own: a few km at 180 000 km
            assert np.linalg.norm(np.asarray(spoint) - ours[j]) < 15.0
    assert ok.sum() >= 2


def test_frame_sees_the_disc_limb_and_terminator(loop: Loop) -> None:
    g = np.asarray(loop.framelets.band(Filter.GREEN))
    assert g.max() > 500 and (g > 100).mean() > 0.1


def test_ck_navigation_recovers_the_start_time_and_the_map(loop: Loop) -> None:
    from junocam.planet.navigate import navigate
    from junocam.spin import SpinModel

    frame = read_frame(loop.png)
    eph = frame_ephemeris(frame.meta, loop.truth.kernels)  # nominal times, CK attitude
    nav = navigate(loop.framelets, eph, SpinModel.nominal(0.372))
    assert nav.used_ck
    assert abs(nav.time_offset - JITTER) < 0.002, nav.as_dict()
    assert nav.limb_rms_px < 1.0, nav.as_dict()
    # map the frame with the refined geometry and compare with the texture
    grid = MapGrid("equirectangular", 0.25, (720, 1440), lon_left=360.0, lat_top=90.0)
    m = project_frame(loop.framelets, nav.view, grid)
    bp = m.backplanes
    law = photometric_factor(
        np.nan_to_num(bp.mu0), np.nan_to_num(bp.mu), "lambert", min_mu0=0.2, max_gain=10
    )
    good = m.masks[Filter.GREEN] & (law > 0) & (bp.emission_deg < 70)
    assert good.sum() > 20000
    truth = loop.texture.albedo(bp.lat_deg[good], bp.lon_west_deg[good], Filter.GREEN)
    got = m.bands[Filter.GREEN][good] / law[good]
    # radiometry is not the point: fit gain and offset, then compare the pattern
    a, b = np.polyfit(truth, got, 1)
    resid = (got - (a * truth + b)) / a
    rms = float(np.sqrt(np.mean(resid**2)))
    assert rms < 0.03, rms  # albedo units; the texture spans ~0.15-0.95
    # feature positions: every spot seen well lands within one output pixel
    checked = 0
    for f_lat, f_lon in loop.texture.features:
        r = (90.0 - f_lat) / grid.resolution - 0.5
        c = ((360.0 - f_lon) % 360.0) / grid.resolution - 0.5
        r0, c0 = int(round(r)), int(round(c))
        box = (slice(r0 - 12, r0 + 13), slice(c0 - 20, c0 + 21))
        if r0 < 12 or r0 > grid.shape[0] - 13 or c0 < 20 or c0 > grid.shape[1] - 21:
            continue
        if not good[box].all():
            continue
        img = m.bands[Filter.GREEN][box] / law[box]
        ref = loop.texture.albedo(
            bp.lat_deg[box].ravel(), bp.lon_west_deg[box].ravel(), Filter.GREEN
        ).reshape(img.shape)
        dr, dc = _offset(img, ref)
        assert math.hypot(dr, dc) < 1.0, (f_lat, f_lon, dr, dc)
        checked += 1
    assert checked >= 3


def _offset(img: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Sub-pixel shift of ``img`` relative to ``ref`` (phase correlation)."""
    from skimage.registration import phase_cross_correlation

    shift, _, _ = phase_cross_correlation(ref, img, upsample_factor=20, normalization=None)
    return float(shift[0]), float(shift[1])


def test_limb_navigation_without_ck_recovers_the_attitude(loop: Loop) -> None:
    from junocam.geometry import fit_frame_spin
    from junocam.planet.navigate import navigate

    frame = read_frame(loop.png)
    eph = frame_ephemeris(frame.meta, loop.truth.kernels, use_ck=False)
    assert not eph.has_attitude
    fit = fit_frame_spin(loop.framelets, frame.meta.interframe_delay)
    nav = navigate(loop.framelets, eph, fit.spin, fit.camera)
    assert not nav.used_ck
    assert nav.limb_rms_px < 1.0, nav.as_dict()
    # the attitude of every exposure against the truth, split into the turn about
    # the line of sight to Jupiter (roll: only the terminator constrains it) and
    # the rest (where the planet is: the limb pins it)
    roll, cross = [], []
    for i in range(N_EXPOSURES):
        d = nav.view.camera_to_body[i].T @ loop.true_view.camera_to_body[i]
        axis, angle = sp.raxisa(d)
        rv = np.asarray(axis) * angle
        los = nav.view.camera_to_body[i].T @ -nav.view.observer[i]
        los /= np.linalg.norm(los)
        roll.append(math.degrees(abs(rv @ los)))
        cross.append(math.degrees(np.linalg.norm(rv - (rv @ los) * los)))
    total = [math.hypot(a, b) for a, b in zip(roll, cross, strict=True)]
    assert max(total) < 0.05, (max(roll), max(cross), nav.as_dict())
    assert max(cross) < 0.05, (max(cross), nav.as_dict())
    # the turn correction took the parallax out of the overlap-fitted spin
    true_turn = loop.truth.spin_rate * (0.372 + 0.001)
    turn = nav.pointing.spin.turn_per_exposure
    assert abs(turn / true_turn - 1) < abs(fit.spin.turn_per_exposure / true_turn - 1)


def test_ck_without_the_frames_kernel_names_the_missing_frame(loop: Loop) -> None:
    from junocam.errors import KernelError

    frame = read_frame(loop.png)
    no_fk = KernelSet.from_path([p for p in loop.truth.kernels.paths if not p.endswith(".tf")])
    with pytest.raises(KernelError, match="JUNO_JUNOCAM is unknown"):
        frame_ephemeris(frame.meta, no_fk)
    # a CK that does not cover the frame's time is named too
    from dataclasses import replace

    later = timedelta(seconds=1000)  # the synthetic kernels cover 4 minutes
    assert frame.meta.start_time is not None and frame.meta.stop_time is not None
    late = replace(
        frame.meta,
        start_time=frame.meta.start_time + later,
        stop_time=frame.meta.stop_time + later,
    )
    with pytest.raises(KernelError):
        frame_ephemeris(late, loop.truth.kernels)
