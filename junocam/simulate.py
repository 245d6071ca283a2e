"""Forward simulator: render JunoCam raw frames from a known scene.

The simulator uses the very camera and spin models that the stitcher inverts, so
processing a simulated frame and comparing with the truth measures how well the
pipeline recovers geometry and radiometry (closed loop). A scene is a function of
sky-frame direction and band returning radiance in [0, 1]; it is rendered into
every framelet of every exposure (supersampled), scaled to data numbers by the
exposure, given shot and read noise and fixed hot pixels, and companded to 8 bits.
The result is written as a PNG plus website-style JSON metadata, with the true
parameters recorded under the key ``SIMULATION``.

Scenes
------
* :class:`JupiterScene`: a procedural Jupiter-like disc (belts and zones, ovals,
  turbulence, limb darkening, a terminator) at a chosen place on the sky.
* :class:`ImageScene`: any image placed on the sky by gnomonic projection (grey
  images give a neutral scene, identical in every band).

Examples
--------
>>> from junocam.metadata import Filter
>>> from junocam.simulate import JupiterScene, SimulationSpec, simulate_frame
>>> spec = SimulationSpec(filters=(Filter.GREEN,), n_exposures=2, oversample=1)
>>> sim = simulate_frame(JupiterScene(radius_deg=6.0), spec)
>>> sim.strip.shape, sim.strip.dtype
((256, 1648), dtype('uint8'))
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .camera import CameraModel
from .companding import compand
from .errors import GeometryError
from .framelets import DARK_SAMPLES, PHOTOACTIVE_SAMPLES
from .metadata import FRAMELET_LINES, LINE_SAMPLES, Companding, Filter
from .planet.simkernels import PassTruth, SyntheticPass
from .spin import INTERFRAME_DELTA, START_TIME_BIAS, SpinModel

__all__ = [
    "Scene",
    "JupiterScene",
    "ImageScene",
    "SimulationSpec",
    "SimulatedFrame",
    "simulate_frame",
    "render_truth",
    "website_metadata",
    "PlanetTexture",
    "simulate_planet_frame",
    "simulate_pass_frames",
    "LateMissionDegradation",
    "degrade_late_mission",
]


class Scene(Protocol):
    """Radiance of the sky: ``scene(directions, band) -> values in [0, 1]``."""

    def __call__(self, directions: np.ndarray, band: Filter) -> np.ndarray: ...


def _tangent_basis(center: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """East (image right) and north (image up) unit vectors at ``center``."""
    north = up - (up @ center) * center
    if np.linalg.norm(north) < 1e-9:
        north = np.array([1.0, 0.0, 0.0]) - center[0] * center
    north /= np.linalg.norm(north)
    east = np.cross(north, center)
    return east, north


def _unit(v: Any) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(a)
    if not np.isfinite(n) or n == 0:
        raise GeometryError(f"{list(a)} is not a direction")
    return a / n


@dataclass(frozen=True)
class JupiterScene:
    """A procedural Jupiter-like disc on the sky.

    Parameters
    ----------
    center : tuple of 3 float
        Direction of the disc centre in the sky frame (camera frame of the
        reference exposure).
    radius_deg : float
        Angular radius of the disc, degrees.
    pole_angle_deg : float
        Rotation of the planet's north pole from image-up, degrees.
    sub_lat_deg : float
        Latitude of the disc centre (tilts the belts), degrees.
    sun : tuple of 3 float
        Sun direction in disc coordinates (x right, y up, z towards the viewer);
        (0, 0, 1) is full phase.
    limb_darkening : float
        Minnaert-like exponent k of ``mu ** k``.
    seed : int
        Places the ovals and turbulence.
    neutral : bool
        Same radiance in every band (grey planet), for band-registration tests.

    Examples
    --------
    >>> scene = JupiterScene(radius_deg=5.0)
    >>> v = scene(np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), Filter.RED)
    >>> bool(v[0] > 0.1), float(v[1])
    (True, 0.0)
    """

    center: tuple[float, float, float] = (0.0, 0.0, 1.0)
    radius_deg: float = 8.0
    pole_angle_deg: float = 10.0
    sub_lat_deg: float = -20.0
    sun: tuple[float, float, float] = (-0.5, 0.1, 0.86)
    limb_darkening: float = 0.7
    seed: int = 1
    neutral: bool = False

    def _surface(self, directions: np.ndarray) -> tuple[np.ndarray, ...]:
        c = _unit(self.center)
        east, north = _tangent_basis(c, np.array([0.0, -1.0, 0.0]))
        d = np.asarray(directions, dtype=np.float64)
        d = d / np.linalg.norm(d, axis=-1, keepdims=True)
        s = math.sin(math.radians(self.radius_deg))
        x = (d @ east) / s
        y = (d @ north) / s
        r2 = x * x + y * y
        on = (r2 < 1.0) & ((d @ c) > 0)
        z = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
        return x, y, z, on

    def __call__(self, directions: np.ndarray, band: Filter) -> np.ndarray:
        """Radiance in [0, 1] along ``directions`` (..., 3) in ``band``."""
        x, y, z, on = self._surface(directions)
        pa = math.radians(self.pole_angle_deg)
        # rotate into planet coordinates: pole along +y', then tilt by sub-latitude
        xr = math.cos(pa) * x + math.sin(pa) * y
        yr = -math.sin(pa) * x + math.cos(pa) * y
        b = math.radians(self.sub_lat_deg)
        py = math.cos(b) * yr + math.sin(b) * z
        pz = -math.sin(b) * yr + math.cos(b) * z
        lat = np.arcsin(np.clip(py, -1.0, 1.0))
        lon = np.arctan2(xr, pz)
        albedo = self._albedo(lat, lon, Filter.GREEN if self.neutral else band)
        mu = z
        sun = _unit(self.sun)
        mu0 = np.clip(x * sun[0] + y * sun[1] + z * sun[2], 0.0, 1.0)
        # Minnaert-style photometry, softened so the terminator is not a hard edge
        shade = np.power(np.clip(mu0, 1e-6, 1.0), self.limb_darkening) * np.power(
            np.clip(mu, 1e-6, 1.0), self.limb_darkening - 1.0 + 0.3
        )
        val = np.where(on, albedo * np.clip(shade, 0.0, 1.0), 0.0)
        return np.clip(val, 0.0, 1.0).astype(np.float32)

    def _albedo(self, lat: np.ndarray, lon: np.ndarray, band: Filter) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        # belts and zones: sums of latitude harmonics, band-dependent contrast
        phases = rng.uniform(0, 2 * np.pi, 6)
        belts = sum(np.cos(k * 3.0 * lat + phases[k]) / (1.0 + 0.6 * k) for k in range(1, 6))
        colour = {
            Filter.RED: (0.80, 0.16),
            Filter.GREEN: (0.72, 0.20),
            Filter.BLUE: (0.55, 0.24),
            Filter.METHANE: (0.30, 0.10),
        }[band]
        a = colour[0] + colour[1] * 0.5 * belts
        # turbulence: a few oblique waves wrapped by latitude-dependent shear
        turb = np.zeros_like(lat)
        for _ in range(8):
            kx, ky = rng.uniform(4, 18), rng.uniform(8, 40)
            ph = rng.uniform(0, 2 * np.pi)
            shear = rng.uniform(-3, 3)
            turb += np.sin(kx * lon + ky * lat + shear * np.sin(3 * lat) + ph)
        a = a + 0.035 * turb
        # ovals (storms): bright or red, Gaussian in (lat, lon)
        for _ in range(7):
            la, lo = rng.uniform(-1.1, 1.1), rng.uniform(-1.2, 1.2)
            sl, so = rng.uniform(0.03, 0.08), rng.uniform(0.05, 0.15)
            amp = rng.uniform(-0.25, 0.25)
            if band is Filter.BLUE:
                amp *= 1.5 if amp < 0 else 0.8
            g = np.exp(-(((lat - la) / sl) ** 2) - (((lon - lo) / so) ** 2))
            a = a + amp * g
        return np.clip(a, 0.02, 1.0)


@dataclass(frozen=True, eq=False)
class ImageScene:
    """An image placed on the sky by gnomonic (pinhole) projection.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) grey or (H, W, 3) RGB float in [0, 1]; grey is the same in every band.
    center : tuple of 3 float
        Sky direction of the image centre.
    fov_deg : float
        Angular width of the image, degrees.
    up : tuple of 3 float
        Sky direction of the image's up.

    Examples
    --------
    >>> sc = ImageScene(np.ones((10, 10)), fov_deg=1.0)
    >>> sc(np.array([[0.0, 0.0, 1.0]]), Filter.BLUE)
    array([1.], dtype=float32)
    """

    image: np.ndarray
    center: tuple[float, float, float] = (0.0, 0.0, 1.0)
    fov_deg: float = 40.0
    up: tuple[float, float, float] = (0.0, -1.0, 0.0)
    channels: dict[Filter, int] = field(
        default_factory=lambda: {Filter.RED: 0, Filter.GREEN: 1, Filter.BLUE: 2, Filter.METHANE: 0}
    )

    def __call__(self, directions: np.ndarray, band: Filter) -> np.ndarray:
        """Bilinear radiance of the image along ``directions``; 0 outside."""
        from scipy import ndimage

        img = np.asarray(self.image, dtype=np.float32)
        chan = img if img.ndim == 2 else img[..., self.channels[band]]
        h, w = chan.shape
        c = _unit(self.center)
        east, north = _tangent_basis(c, _unit(self.up))
        d = np.asarray(directions, dtype=np.float64)
        dz = d @ c
        f = (w / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            col = (w - 1) / 2.0 + f * (d @ east) / dz
            row = (h - 1) / 2.0 - f * (d @ north) / dz
        ok = (dz > 0) & (col >= 0) & (col <= w - 1) & (row >= 0) & (row <= h - 1)
        out = np.zeros(d.shape[:-1], np.float32)
        out[ok] = ndimage.map_coordinates(chan, [row[ok], col[ok]], order=1, mode="nearest")
        return out


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate.

    Parameters
    ----------
    filters : tuple of Filter
        Readout order (RGB by default).
    n_exposures : int
        Exposures in the frame.
    interframe_delay : float
        INTERFRAME_DELAY written to the metadata, seconds.
    turn_per_exposure : float or None
        True turn between exposures, radians (default: a spin of 1.987 rpm, close
        to what the real frames fit).
    tilt_y, tilt_z : float
        True spin-axis tilt (see :class:`~junocam.spin.SpinModel`).
    tdi : int
        TDI stages; the exposure is ``tdi * 3.2 ms``.
    full_well_dn : float
        Linear DN (12-bit scale) of radiance 1 at this exposure in the green band.
    band_gain : tuple of 4 float
        Relative sensitivity of the methane, blue, green and red bands. The default
        follows the community band weights (Gill: R 0.902, G 1, B 1.888, i.e. blue
        about half as sensitive as green [CAMERA.md]) and a dim methane band.
    read_noise_dn, dark_dn : float
        Gaussian read noise and dark level, DN.
    shot_noise : bool
        Add Poisson-like shot noise (gain 1 e-/DN approximation).
    hot_pixels : int
        Number of fixed hot pixels per band framelet position.
    oversample : int
        Sub-pixel samples per axis used when rendering.
    seed : int
        Noise seed.
    start_time : datetime
        START_TIME written to the metadata.
    product_id : str
        PRODUCT_ID written to the metadata.
    target_name : str
        TARGET_NAME written to the metadata (the body the frame shows).
    """

    filters: tuple[Filter, ...] = (Filter.BLUE, Filter.GREEN, Filter.RED)
    n_exposures: int = 8
    interframe_delay: float = 0.372
    turn_per_exposure: float | None = None
    tilt_y: float = -0.0025
    tilt_z: float = -0.002
    tdi: int = 3
    full_well_dn: float = 2000.0
    band_gain: tuple[float, float, float, float] = (0.35, 0.53, 1.0, 1.11)
    read_noise_dn: float = 1.5
    dark_dn: float = 2.0
    shot_noise: bool = True
    hot_pixels: int = 20
    oversample: int = 2
    seed: int = 0
    start_time: datetime = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    product_id: str = "JNCS_2026329_00C00001_V01"
    target_name: str = "JUPITER"

    def true_spin(self) -> SpinModel:
        """The spin model the frame is rendered with (reference: middle exposure)."""
        turn = self.turn_per_exposure
        if turn is None:
            turn = 1.987 * 2 * math.pi / 60 * (self.interframe_delay + INTERFRAME_DELTA)
        return SpinModel(
            turn_per_exposure=turn,
            tilt_y=self.tilt_y,
            tilt_z=self.tilt_z,
            reference_exposure=(self.n_exposures - 1) / 2.0,
        )


@dataclass(frozen=True, eq=False)
class SimulatedFrame:
    """A rendered raw frame.

    Attributes
    ----------
    strip : numpy.ndarray
        uint8 (n_exposures * n_filters * 128, 1648), SQROOT companded.
    metadata : dict
        Website-style JSON metadata, with the truth under ``"SIMULATION"``.
    spin : SpinModel
        The true spin model.
    linear : numpy.ndarray
        float32 linear DN before noise and companding (for checks).
    """

    strip: np.ndarray
    metadata: dict[str, Any]
    spin: SpinModel
    linear: np.ndarray


def _framelet_rays(camera: CameraModel, band: Filter, oversample: int) -> np.ndarray:
    """Camera rays of every photoactive pixel's sub-samples: (k, 128, 1608, 3)."""
    offs = (np.arange(oversample) + 0.5) / oversample - 0.5
    lines = np.arange(FRAMELET_LINES, dtype=np.float64)
    samples = np.arange(DARK_SAMPLES, DARK_SAMPLES + PHOTOACTIVE_SAMPLES, dtype=np.float64)
    rays = []
    for dl in offs:
        for ds in offs:
            ray = camera.pixel_to_ray(samples[None, :] + ds, lines[:, None] + dl, band)
            rays.append(ray / np.linalg.norm(ray, axis=-1, keepdims=True))
    return np.stack(rays)


def simulate_frame(
    scene: Scene | Callable[[np.ndarray, Filter], np.ndarray],
    spec: SimulationSpec = SimulationSpec(),
    camera: CameraModel | None = None,
) -> SimulatedFrame:
    """Render a raw JunoCam frame of ``scene``.

    Parameters
    ----------
    scene : Scene
        Radiance in [0, 1] as a function of sky direction and band.
    spec : SimulationSpec
        Frame layout, true geometry, exposure and noise.
    camera : CameraModel, optional
        Defaults to the IK model.

    Returns
    -------
    SimulatedFrame

    Examples
    --------
    Any function of direction and band is a scene; a uniform sky of radiance 0.5
    shows the band gains in the linear DN:

    >>> def uniform(directions, band):
    ...     return np.full(directions.shape[:-1], 0.5, np.float32)
    >>> sim = simulate_frame(uniform, SimulationSpec(n_exposures=1, oversample=1))
    >>> sim.metadata["LINES"], sim.metadata["FILTER_NAME"]
    (384, ['BLUE', 'GREEN', 'RED'])
    >>> sim.linear[0, :, 64, 800].tolist()
    [530.0, 1000.0, 1110.0]
    """
    if spec.n_exposures < 1:
        raise GeometryError(f"n_exposures must be at least 1, got {spec.n_exposures}")
    if spec.oversample < 1:
        raise GeometryError(f"oversample must be at least 1, got {spec.oversample}")
    camera = camera or CameraModel()
    spin = spec.true_spin()
    rng = np.random.default_rng(spec.seed)
    n_f = len(spec.filters)
    linear = np.zeros((spec.n_exposures, n_f, FRAMELET_LINES, LINE_SAMPLES), np.float32)
    photo = slice(DARK_SAMPLES, DARK_SAMPLES + PHOTOACTIVE_SAMPLES)
    for k, band in enumerate(spec.filters):
        rays = _framelet_rays(camera, band, spec.oversample)
        for i in range(spec.n_exposures):
            sky = rays @ spin.rotation(i).T
            gain = spec.band_gain[list(Filter).index(band)]
            linear[i, k, :, photo] = scene(sky, band).mean(axis=0) * spec.full_well_dn * gain
    strip = _expose(linear, spec, rng)
    meta = website_metadata(spec, spin)
    return SimulatedFrame(strip=strip, metadata=meta, spin=spin, linear=linear)


def _expose(linear: np.ndarray, spec: SimulationSpec, rng: np.random.Generator) -> np.ndarray:
    """Dark level, shot and read noise, fixed hot pixels and SQROOT companding."""
    n_f = linear.shape[1]
    signal = linear + spec.dark_dn
    if spec.shot_noise:
        signal = signal + rng.standard_normal(signal.shape).astype(np.float32) * np.sqrt(
            np.maximum(signal, 0.0)
        )
    signal += rng.standard_normal(signal.shape).astype(np.float32) * spec.read_noise_dn
    # fixed hot pixels: the same CCD positions in every exposure
    for k in range(n_f):
        ls = rng.integers(0, FRAMELET_LINES, spec.hot_pixels)
        ss = rng.integers(DARK_SAMPLES, DARK_SAMPLES + PHOTOACTIVE_SAMPLES, spec.hot_pixels)
        signal[:, k, ls, ss] += rng.uniform(300, 1500, spec.hot_pixels).astype(np.float32)
    return compand(signal.reshape(-1, LINE_SAMPLES), Companding.SQROOT)


def website_metadata(spec: SimulationSpec, spin: SpinModel) -> dict[str, Any]:
    """Website-style JSON metadata of a simulated frame, truth under ``SIMULATION``.

    Examples
    --------
    >>> spec = SimulationSpec(n_exposures=2)
    >>> website_metadata(spec, spec.true_spin())["INTERFRAME_DELAY"]
    '0.372 <s>'
    """
    lines = spec.n_exposures * len(spec.filters) * FRAMELET_LINES
    stop = spec.start_time + timedelta(
        seconds=START_TIME_BIAS + spec.n_exposures * (spec.interframe_delay + INTERFRAME_DELTA)
    )
    fmt = "%Y-%m-%dT%H:%M:%S.%f"
    return {
        "PRODUCT_ID": spec.product_id,
        "FILE_NAME": f"{spec.product_id}-raw.png",
        "INSTRUMENT_ID": "JNC",
        "TARGET_NAME": spec.target_name,
        "TITLE": "Simulated frame (junocam simulate)",
        "PJ": "0",
        "START_TIME": spec.start_time.strftime(fmt)[:-3],
        "STOP_TIME": stop.strftime(fmt)[:-3],
        "IMAGE_TIME": spec.start_time.strftime(fmt)[:-3],
        "INTERFRAME_DELAY": f"{spec.interframe_delay:.3f} <s>",
        "EXPOSURE_DURATION": f"{spec.tdi * 3.2:.6f} <ms>",
        "JNO:TDI_STAGES_COUNT": spec.tdi,
        "FILTER_NAME": [f.value for f in spec.filters],
        "LINES": lines,
        "LINE_SAMPLES": LINE_SAMPLES,
        "SAMPLE_BIT_MODE_ID": "SQROOT",
        "SAMPLING_FACTOR": 1,
        "SIMULATION": {
            "turn_per_exposure_rad": spin.turn_per_exposure,
            "tilt_y_rad": spin.tilt_y,
            "tilt_z_rad": spin.tilt_z,
            "reference_exposure": spin.reference_exposure,
            "full_well_dn": spec.full_well_dn,
            "band_gain": dict(zip([f.value for f in Filter], spec.band_gain, strict=True)),
            "read_noise_dn": spec.read_noise_dn,
            "hot_pixels": spec.hot_pixels,
            "seed": spec.seed,
            "software": "junocam simulate",
        },
    }


def render_truth(
    scene: Scene | Callable[[np.ndarray, Filter], np.ndarray],
    grid: Any,
    band: Filter,
    oversample: int = 2,
) -> np.ndarray:
    """Render the scene directly on an output grid (what a perfect stitch would give).

    Parameters
    ----------
    scene : Scene
    grid : CylinderGrid or PerspectiveGrid
        Must be built for the true spin model (same sky frame).
    band : Filter
    oversample : int
        Sub-pixel samples per axis.

    Returns
    -------
    numpy.ndarray
        float32 radiance in [0, 1], the grid's shape.
    """
    h, w = grid.shape
    offs = (np.arange(oversample) + 0.5) / oversample - 0.5
    acc = np.zeros((h, w), np.float32)
    r = np.arange(h, dtype=np.float64)[:, None]
    c = np.arange(w, dtype=np.float64)[None, :]
    for dr in offs:
        for dc in offs:
            acc += scene(grid.rays_at(r + dr, c + dc), band)
    return acc / (oversample * oversample)


def metadata_json(meta: dict[str, Any]) -> str:
    """The metadata as pretty JSON text (as the website writes it)."""
    return json.dumps(meta, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True, eq=False)
class PlanetTexture:
    """Jupiter's albedo as an equirectangular map, and its photometric law.

    Parameters
    ----------
    rgb : numpy.ndarray
        float32 (rows, cols, 3) albedo in [0, 1] for red, green and blue. Rows run
        from latitude +90 (top) to -90 (planetographic), columns from west longitude
        360 (left) to 0, pixel centres half a pixel in (the layout of an
        equirectangular :class:`junocam.planet.projection.MapGrid` with ``lon_left=360``).
    methane : float
        Albedo of the methane band relative to the mean of the others.
    minnaert_k : float
        Minnaert exponent of the surface (1 = Lambert).
    features : tuple of (lat, lon_west)
        Positions (degrees) of distinct spots, for position checks.
    """

    rgb: np.ndarray
    methane: float = 0.3
    minnaert_k: float = 1.0
    features: tuple[tuple[float, float], ...] = ()

    @property
    def resolution(self) -> float:
        """Degrees per texture pixel."""
        return 180.0 / self.rgb.shape[0]

    def albedo(self, lat_deg: np.ndarray, lon_west_deg: np.ndarray, band: Filter) -> np.ndarray:
        """Bilinear albedo at planetographic ``lat_deg`` and west longitude ``lon_west_deg``.

        Examples
        --------
        >>> t = PlanetTexture(np.full((18, 36, 3), 0.5, np.float32))
        >>> float(t.albedo(np.array([10.0]), np.array([350.0]), Filter.RED)[0])
        0.5
        """
        from scipy import ndimage

        res = self.resolution
        row = (90.0 - np.asarray(lat_deg, np.float64)) / res - 0.5
        col = np.mod(360.0 - np.asarray(lon_west_deg, np.float64), 360.0) / res - 0.5
        if band is Filter.METHANE:
            img = self.rgb.mean(axis=2) * self.methane
        else:
            img = self.rgb[..., {Filter.RED: 0, Filter.GREEN: 1, Filter.BLUE: 2}[band]]
        # wrap in longitude by padding one column each side; clamp at the poles
        padded = np.concatenate([img[:, -1:], img, img[:, :1]], axis=1)
        return ndimage.map_coordinates(
            padded, [np.clip(row, 0, img.shape[0] - 1), col + 1.0], order=1, mode="nearest"
        ).astype(np.float32)

    @classmethod
    def procedural(
        cls, shape: tuple[int, int] = (360, 720), seed: int = 0, n_spots: int = 12
    ) -> PlanetTexture:
        """A Jupiter-like map: zonal belts and zones, turbulence and bright/dark ovals.

        Examples
        --------
        >>> t = PlanetTexture.procedural((90, 180), n_spots=3)
        >>> t.rgb.shape, len(t.features)
        ((90, 180, 3), 3)
        """
        from scipy import ndimage

        rng = np.random.default_rng(seed)
        rows, cols = shape
        lat = 90.0 - (np.arange(rows) + 0.5) * 180.0 / rows
        lon = 360.0 - (np.arange(cols) + 0.5) * 360.0 / cols
        la, lo = np.meshgrid(lat, lon, indexing="ij")
        belts = 0.5 + 0.22 * np.sin(np.radians(la) * 9.0) + 0.08 * np.sin(np.radians(la) * 23.0)
        noise = ndimage.gaussian_filter(rng.standard_normal(shape), (1.5, 4.0), mode="wrap")
        noise /= noise.std() + 1e-12
        grey = belts + 0.06 * noise * (1 + np.cos(np.radians(la) * 9.0))
        rgb = np.stack([grey * 1.0, grey * 0.9, grey * 0.75], axis=-1)
        features = []
        for k in range(n_spots):
            f_lat = float(rng.uniform(-70, 70))
            f_lon = float(rng.uniform(0, 360))
            size = float(rng.uniform(1.5, 3.0))  # degrees
            d_lon = (lo - f_lon + 180.0) % 360.0 - 180.0
            d = np.hypot((la - f_lat) / size, d_lon * np.cos(np.radians(f_lat)) / (1.6 * size))
            bump = np.exp(-0.5 * d**2)
            tint = np.array([1.0, 0.95, 0.9]) if k % 2 == 0 else np.array([0.5, 0.35, 0.3])
            level = 0.95 if k % 2 == 0 else 0.15
            rgb = rgb * (1 - bump[..., None]) + bump[..., None] * level * tint
            features.append((f_lat, f_lon))
        return cls(np.clip(rgb, 0.0, 1.0).astype(np.float32), features=tuple(features))

    @classmethod
    def volcanic(
        cls, shape: tuple[int, int] = (360, 720), seed: int = 0, n_spots: int = 24
    ) -> PlanetTexture:
        """An Io-like map: sulphur-yellow plains, mottling, dark paterae and pale frost.

        Not Io's real surface: a texture with Io's colours and distinct, randomly
        placed dark and bright spots (``features``) for closed-loop position checks.

        Examples
        --------
        >>> t = PlanetTexture.volcanic((90, 180), n_spots=4)
        >>> t.rgb.shape, len(t.features), bool(t.rgb[..., 0].mean() > t.rgb[..., 2].mean())
        ((90, 180, 3), 4, True)
        """
        from scipy import ndimage

        rng = np.random.default_rng(seed)
        rows, cols = shape
        lat = 90.0 - (np.arange(rows) + 0.5) * 180.0 / rows
        lon = 360.0 - (np.arange(cols) + 0.5) * 360.0 / cols
        la, lo = np.meshgrid(lat, lon, indexing="ij")
        coarse = ndimage.gaussian_filter(rng.standard_normal(shape), (6.0, 12.0), mode="wrap")
        fine = ndimage.gaussian_filter(rng.standard_normal(shape), (1.2, 2.4), mode="wrap")
        coarse /= coarse.std() + 1e-12
        fine /= fine.std() + 1e-12
        grey = 0.62 + 0.08 * coarse + 0.04 * fine
        # reddish polar regions, yellow-white equatorial plains
        red_poles = np.clip((np.abs(la) - 40.0) / 40.0, 0.0, 1.0)
        rgb = np.stack(
            [grey * (1.0 - 0.15 * red_poles), grey * (0.88 - 0.25 * red_poles), grey * 0.45],
            axis=-1,
        )
        features = []
        for k in range(n_spots):
            f_lat = float(rng.uniform(-60, 60))
            f_lon = float(rng.uniform(0, 360))
            size = float(rng.uniform(1.5, 3.0))  # degrees
            d_lon = (lo - f_lon + 180.0) % 360.0 - 180.0
            d = np.hypot((la - f_lat) / size, d_lon * np.cos(np.radians(f_lat)) / size)
            bump = np.exp(-0.5 * d**2)
            if k % 3 == 2:  # pale SO2 frost
                colour = np.array([0.92, 0.9, 0.8])
            else:  # dark patera floor, with a reddish halo
                colour = np.array([0.12, 0.08, 0.06])
                halo = np.exp(-0.5 * (d / 2.5) ** 2) * (1 - bump)
                rgb = rgb * (1 - 0.35 * halo[..., None]) + 0.35 * halo[..., None] * np.array(
                    [0.65, 0.3, 0.15]
                )
            rgb = rgb * (1 - bump[..., None]) + bump[..., None] * colour
            features.append((f_lat, f_lon))
        return cls(np.clip(rgb, 0.0, 1.0).astype(np.float32), features=tuple(features))


def simulate_planet_frame(
    texture: PlanetTexture,
    view: Any,
    spec: SimulationSpec = SimulationSpec(),
) -> SimulatedFrame:
    """Render a raw frame of a textured, sunlit body seen through ``view``.

    The body is ``view.body`` (Jupiter's oblate spheroid, or a moon's ellipsoid).

    Every framelet pixel's ray (``spec.oversample``^2 sub-samples) is intersected with
    the spheroid at its exposure's position and attitude; the albedo is lit by the
    texture's Minnaert law from the Sun direction; the rest is :func:`simulate_frame`'s
    exposure model (band gains, noise, hot pixels, SQROOT companding).

    Parameters
    ----------
    texture : PlanetTexture
    view : junocam.planet.pointing.ViewGeometry
        Per-exposure geometry (e.g. from SPICE with a CK); its exposure count wins
        over ``spec.n_exposures``.
    spec : SimulationSpec
        Filters, timing written to the metadata, exposure and noise. Its spin
        fields are not used (the view carries the attitude).

    Returns
    -------
    SimulatedFrame
        ``spin`` is the spec's nominal model (the truth is the view).
    """
    from dataclasses import replace as _replace

    from .planet.photometry import photometric_factor
    from .planet.spheroid import intersect, planetographic, surface_normal

    n_exp = view.n_exposures
    spec = _replace(spec, n_exposures=n_exp)
    rng = np.random.default_rng(spec.seed)
    linear = np.zeros((n_exp, len(spec.filters), FRAMELET_LINES, LINE_SAMPLES), np.float32)
    photo = slice(DARK_SAMPLES, DARK_SAMPLES + PHOTOACTIVE_SAMPLES)
    for k, band in enumerate(spec.filters):
        rays = _framelet_rays(view.camera, band, spec.oversample)
        gain = spec.band_gain[list(Filter).index(band)]
        for i in range(n_exp):
            d = rays @ view.camera_to_body[i].T
            pts, hit = intersect(view.observer[i], d, view.body)
            # only the rays that meet the body are lit: most of a moon's framelets,
            # and the sky beside Jupiter's limb, need no surface geometry
            surf = pts[hit]
            lat, lon = planetographic(surf, view.body)
            n = surface_normal(surf, view.body)
            mu0 = n @ view.sun[i]
            to_obs = view.observer[i] - surf
            mu = np.einsum("...i,...i->...", n, to_obs) / np.linalg.norm(to_obs, axis=-1)
            law = photometric_factor(
                mu0, mu, "minnaert", k=texture.minnaert_k, min_mu0=1e-6, max_gain=1e6
            )
            alb = texture.albedo(np.degrees(lat), np.degrees(lon), band)
            radiance = np.zeros(hit.shape, np.float32)
            radiance[hit] = alb * law
            linear[i, k, :, photo] = radiance.mean(axis=0) * spec.full_well_dn * gain
    strip = _expose(linear, spec, rng)
    spin = spec.true_spin()
    return SimulatedFrame(
        strip=strip, metadata=website_metadata(spec, spin), spin=spin, linear=linear
    )


def simulate_pass_frames(
    out_dir: str | Path,
    spec: SyntheticPass | None = None,
    *,
    offsets_s: tuple[float, ...] = (0.0,),
    gains: tuple[float, ...] | None = None,
    texture: PlanetTexture | None = None,
    frame: SimulationSpec | None = None,
    time_error_s: float = 0.0,
) -> tuple[PassTruth, list[Path]]:
    """Write a synthetic pass: kernels in ``out_dir/kernels``, raw frames in ``out_dir``.

    Each frame is centred ``offsets_s`` seconds after ``spec.mid_utc`` (a multiple of
    the spin period plus a little sweeps Jupiter again, further along); the body is
    ``spec.target`` (e.g. Io for :data:`~junocam.planet.simkernels.IO_FLYBY`), written
    as the frames' TARGET_NAME. They are rendered
    with :func:`junocam.simulate.simulate_planet_frame` through the CK attitude and
    written as a website-style ``-raw.png`` with its JSON metadata.

    Parameters
    ----------
    out_dir : path
    spec : SyntheticPass
    offsets_s : tuple of float
        Frame centres relative to ``spec.mid_utc`` (s).
    gains : tuple of float, optional
        Exposure factor of each frame (default 1).
    texture : PlanetTexture, optional
        Default: a procedural one.
    frame : SimulationSpec, optional
        Filters, exposures, noise (default: 16 RGB exposures).
    time_error_s : float
        The frames are rendered this much later than their metadata says (jitter).

    Returns
    -------
    (PassTruth, list of Path)

    Examples
    --------
    Two one-exposure green frames, one spin period (and a little) apart:

    >>> import tempfile
    >>> spec = SimulationSpec(filters=(Filter.GREEN,), n_exposures=1, oversample=1)
    >>> truth, pngs = simulate_pass_frames(tempfile.mkdtemp(), offsets_s=(0.0, 31.7),
    ...                                    texture=PlanetTexture.procedural((90, 180)),
    ...                                    frame=spec)
    >>> [p.name for p in pngs]
    ['JNCS_2026329_99C00001_V01-raw.png', 'JNCS_2026329_99C00002_V01-raw.png']
    >>> sorted(p.name for p in pngs[0].parent.glob("*.json"))   # their metadata
    ['JNCS_2026329_99C00001_V01.json', 'JNCS_2026329_99C00002_V01.json']
    >>> truth.kernels.kinds()
    ['.bc', '.bsp', '.tf', '.tls', '.tpc', '.tsc']
    """
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from .metadata import from_website_json
    from .output import encode_png
    from .planet.pointing import view_from_ck
    from .planet.simkernels import write_pass_kernels
    from .planet.spice import exposure_times, frame_ephemeris

    spec = spec or SyntheticPass()
    out = Path(out_dir)
    (out / "kernels").mkdir(parents=True, exist_ok=True)
    truth = write_pass_kernels(out / "kernels", spec)
    texture = texture or PlanetTexture.procedural((360, 720), seed=9, n_spots=30)
    base = frame or SimulationSpec(n_exposures=16, oversample=1, hot_pixels=0, seed=4)
    probe = from_website_json(website_metadata(base, base.true_spin()))
    centre = float(exposure_times(probe)[(base.n_exposures - 1) // 2])
    t_mid = datetime.fromisoformat(spec.mid_utc).replace(tzinfo=UTC)
    paths = []
    for k, dt in enumerate(offsets_s):
        g = 1.0 if gains is None else gains[k]
        one = replace(
            base,
            start_time=t_mid + timedelta(seconds=dt - centre),
            full_well_dn=base.full_well_dn * g,
            product_id=f"JNCS_2026329_99C{k + 1:05d}_V01",
            seed=base.seed + k,
            target_name=spec.target,
        )
        meta = from_website_json(website_metadata(one, one.true_spin()))
        view = view_from_ck(frame_ephemeris(meta, truth.kernels, time_offset=time_error_s))
        sim = simulate_planet_frame(texture, view, one)
        png = out / f"{one.product_id}-raw.png"
        png.write_bytes(encode_png(sim.strip))
        (out / f"{one.product_id}.json").write_text(metadata_json(sim.metadata))
        paths.append(png)
    return truth, paths


@dataclass(frozen=True)
class LateMissionDegradation:
    """How radiation has degraded a late-mission raw frame (PJ50 onward).

    The defaults are the levels measured on a real PJ68 RGB frame of December 2024
    (6.4 ms, TDI 2) in the 8-bit companded strip [CAMERA.md "Known artefacts"]: a
    sky background of about 7 DN in blue, 8 in green and 9-10 in red; about 150
    pixels per framelet above 40 DN, up to 140-218 DN; a few bright column streaks
    over part of a framelet's height; one hot column near the left edge with a
    median of about 115 DN. Blue, green and red had lost about 64%, 47% and 23% of
    their sensitivity by PJ60.

    Attributes
    ----------
    background_dn : dict of Filter -> float
        Sky background per band, companded DN.
    background_noise_dn : float
        Noise of the background (companded DN, 1 sigma).
    hot_fixed, hot_random : int
        Hot pixels per framelet fixed on the CCD stripe, and charged-particle hits
        that land anywhere (per framelet).
    hot_dn : (float, float)
        Range of their values, companded DN.
    streaks : int
        Bright column streaks per stripe, each over part of the framelet height.
    streak_dn : (float, float)
        Range of the streaks' excess, companded DN (mostly below 40: the ~150
        pixels above 40 DN are the hot pixels and hits).
    hot_column_sample, hot_column_dn : int, float
        The hot column's sample and median level (companded DN).
    sensitivity : dict of Filter -> float
        Remaining sensitivity per band (signal factor).
    """

    background_dn: Mapping[Filter, float] = field(
        default_factory=lambda: {
            Filter.BLUE: 7.0,
            Filter.GREEN: 8.0,
            Filter.RED: 9.5,
            Filter.METHANE: 8.0,
        }
    )
    background_noise_dn: float = 1.5
    hot_fixed: int = 100
    hot_random: int = 50
    hot_dn: tuple[float, float] = (40.0, 218.0)
    streaks: int = 3
    streak_dn: tuple[float, float] = (12.0, 35.0)
    hot_column_sample: int = 30
    hot_column_dn: float = 115.0
    sensitivity: Mapping[Filter, float] = field(
        default_factory=lambda: {
            Filter.BLUE: 0.36,
            Filter.GREEN: 0.53,
            Filter.RED: 0.77,
            Filter.METHANE: 0.8,
        }
    )


def degrade_late_mission(
    strip: np.ndarray,
    filters: Sequence[Filter],
    degradation: LateMissionDegradation | None = None,
    *,
    seed: int = 0,
    companding: Companding = Companding.SQROOT,
) -> np.ndarray:
    """A raw strip as the radiation-damaged camera of the late mission would record it.

    Works in linear DN (the damage adds charge; the 8-bit levels of
    :class:`LateMissionDegradation` are converted through the companding): the
    signal is scaled by each band's remaining sensitivity, then the background (on
    the photoactive samples: it is what the sky shows, and the masked dark columns
    do not), its noise, hot pixels fixed on each filter stripe, random particle
    hits, column streaks and a hot column are added, and the result is companded
    again.

    Parameters
    ----------
    strip : numpy.ndarray
        uint8 companded raw strip (framelets in readout order).
    filters : sequence of Filter
        Readout order of the framelets.
    degradation : LateMissionDegradation, optional
    seed : int
    companding : Companding

    Returns
    -------
    numpy.ndarray
        uint8 strip of the same shape.

    Examples
    --------
    >>> clean = np.zeros((384 * 2, 1648), np.uint8)
    >>> bad = degrade_late_mission(clean, (Filter.BLUE, Filter.GREEN, Filter.RED), seed=1)
    >>> [int(np.median(bad[k * 128:(k + 1) * 128, 40:1600])) for k in range(3)]
    [7, 8, 10]
    >>> int((bad[:128, 23:1631] > 40).sum()) >= 100, int(np.median(bad[:, 30]))
    (True, 115)
    """
    from .companding import decompand

    d = degradation or LateMissionDegradation()
    rng = np.random.default_rng(seed)
    lin = decompand(np.asarray(strip), companding).astype(np.float32)
    lines = FRAMELET_LINES
    n = lin.shape[0] // lines
    photo = np.arange(DARK_SAMPLES, DARK_SAMPLES + PHOTOACTIVE_SAMPLES)

    def lin_of(dn: float | np.ndarray) -> np.ndarray:
        code = np.clip(np.round(np.asarray(dn, np.float64)), 0, 255).astype(np.uint8)
        return decompand(code, companding).astype(np.float32)

    stripe_rng = {f: np.random.default_rng(seed * 1000 + list(Filter).index(f)) for f in filters}
    fixed = {
        f: (
            r.integers(0, lines, d.hot_fixed),
            r.choice(photo, d.hot_fixed),
            r.uniform(*d.hot_dn, d.hot_fixed),
        )
        for f, r in stripe_rng.items()
    }
    streak = {
        f: [
            (
                int(r.choice(photo)),
                int(r.integers(0, lines // 2)),
                int(r.integers(lines // 4, lines)),
                float(r.uniform(*d.streak_dn)),
            )
            for _ in range(d.streaks)
        ]
        for f, r in stripe_rng.items()
    }
    for k in range(n):
        band = filters[k % len(filters)]
        fl = lin[k * lines : (k + 1) * lines]
        fl *= d.sensitivity.get(band, 1.0)
        bg_dn = d.background_dn.get(band, 8.0)
        # the floor measured in the sky: the masked dark columns do not show it, so
        # subtracting their level (black_level) leaves it in
        noisy = bg_dn + rng.normal(0.0, d.background_noise_dn, (lines, photo.size))
        fl[:, photo] += lin_of(noisy) - lin_of(0.0)
        rows, cols, vals = fixed[band]
        fl[rows, cols] = np.maximum(fl[rows, cols], lin_of(vals))
        hits = rng.integers(0, lines, d.hot_random), rng.choice(photo, d.hot_random)
        fl[hits] = np.maximum(fl[hits], lin_of(rng.uniform(*d.hot_dn, d.hot_random)))
        for col, top, length, level in streak[band]:
            fl[top : top + length, col] += lin_of(level) - lin_of(0.0)
        column = d.hot_column_dn + rng.normal(0.0, 3.0, lines)
        fl[:, d.hot_column_sample] = np.maximum(fl[:, d.hot_column_sample], lin_of(column))
    return compand(lin, companding)
