"""Synthetic SPICE kernels for a made-up Juno pass (closed-loop tests and demos).

:func:`write_pass_kernels` writes, with spiceypy's own writers, everything SPICE
needs to describe a short stretch of a Juno-like pass near Jupiter:

* a leapseconds kernel (the TAI-UTC offset in force since 2017, 37 s);
* a planetary constants kernel for Jupiter (radii, pole and prime meridian of the
  IAU 2009 model, without the small nutation terms);
* a frames kernel defining JUNO_SPACECRAFT (a CK frame) and JUNO_JUNOCAM fixed to
  it, with the spin axis (spacecraft +Z) along the camera's FK direction;
* a spacecraft clock kernel (65536 ticks a second, zero at J2000);
* an SPK (type 9) with Juno on a two-body path about the target (Jupiter, or one
  of the Galilean moons, itself on a two-body orbit about Jupiter), Jupiter at
  5.2 AU from the Sun, and the Sun;
* a CK (type 3) with the spacecraft spinning at a fixed rate about a fixed axis,
  phased so the camera looks at the target's centre mid-frame.

``SyntheticPass(target="IO", ...)`` makes a moon flyby: the PCK adds the moon's
radii and its IAU rotation model (pck00010.tpc, without the nutation terms) and the
SPK the moon's orbit, so frames, navigation and maps of a moon close the loop the
same way (:data:`IO_FLYBY` and :data:`GANYMEDE_FLYBY` are PJ57- and PJ34-like).

The geometry is invented but realistic: altitudes of 10^4-10^5 km, speeds of tens
of km/s, 2 rpm, a chosen solar phase angle. The truth (spin axis, rate, phase,
time jitter) is returned for checks.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from junocam.planet.simkernels import SyntheticPass, write_pass_kernels
>>> folder = Path(tempfile.mkdtemp())
>>> truth = write_pass_kernels(folder, SyntheticPass())
>>> sorted(p.suffix for p in folder.iterdir())
['.bc', '.bsp', '.tf', '.tls', '.tpc', '.tsc']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..spin import FK_SPIN_AXIS, rotation_matrix
from .spheroid import JUPITER, surface_normal, surface_point
from .spice import KernelSet, furnished, require_spiceypy
from .targets import target_named

__all__ = [
    "SyntheticPass",
    "PassTruth",
    "write_pass_kernels",
    "camera_to_spacecraft",
    "IO_FLYBY",
    "GANYMEDE_FLYBY",
]

#: Jupiter's GM (km^3/s^2), for the two-body path [NAIF gm_de431.tpc: 126686534.9].
GM_JUPITER = 126686534.9
AU_KM = 149597870.7

_LSK = """KPL/LSK
Synthetic leapseconds kernel written by junocam (valid after 2017-01-01).
\\begindata
DELTET/DELTA_T_A = 32.184
DELTET/K = 1.657D-3
DELTET/EB = 1.671D-2
DELTET/M = ( 6.239996D0 1.99096871D-7 )
DELTET/DELTA_AT = ( 37, @2017-JAN-1 )
\\begintext
"""

# IAU 2009 rotation model of Jupiter (as in pck00010.tpc), without nutation terms.
_PCK = """KPL/PCK
Synthetic Jupiter constants written by junocam.
\\begindata
BODY599_RADII = ( {a} {b} {c} )
BODY599_POLE_RA = ( 268.056595 -0.006499 0. )
BODY599_POLE_DEC = ( 64.495303 0.002413 0. )
BODY599_PM = ( 284.95 870.5360000 0. )
BODY599_LONG_AXIS = ( 0. )
\\begintext
"""

# IAU 2009 rotation models of the Galilean moons (pck00010.tpc) without the
# nutation/precession terms: pole RA, pole Dec, prime meridian (deg, deg/century, deg/day).
_MOON_ROTATION = {
    501: ((268.05, -0.009), (64.50, 0.003), (200.39, 203.4889538)),
    502: ((268.08, -0.009), (64.51, 0.003), (36.022, 101.3747235)),
    503: ((268.20, -0.009), (64.57, 0.003), (44.064, 50.3176081)),
    504: ((268.72, -0.009), (64.83, 0.003), (259.51, 21.5710715)),
}

_MOON_PCK = """
\\begindata
BODY{n}_RADII = ( {a} {b} {c} )
BODY{n}_POLE_RA = ( {ra0} {ra1} 0. )
BODY{n}_POLE_DEC = ( {de0} {de1} 0. )
BODY{n}_PM = ( {pm0} {pm1} 0. )
BODY{n}_LONG_AXIS = ( 0. )
\\begintext
"""

#: Mean orbital radius about Jupiter (km) of each moon, for its synthetic orbit.
_MOON_ORBIT_KM = {501: 421700.0, 502: 671034.0, 503: 1070412.0, 504: 1882709.0}

_SCLK = """KPL/SCLK
Synthetic Juno clock written by junocam: 65536 ticks a second, zero at J2000 TDB.
\\begindata
SCLK_KERNEL_ID = ( @2026-01-01/00:00:00 )
SCLK_DATA_TYPE_61 = ( 1 )
SCLK01_TIME_SYSTEM_61 = ( 1 )
SCLK01_N_FIELDS_61 = ( 2 )
SCLK01_MODULI_61 = ( 4294967296 65536 )
SCLK01_OFFSETS_61 = ( 0 0 )
SCLK01_OUTPUT_DELIM_61 = ( 1 )
SCLK_PARTITION_START_61 = ( 0.0 )
SCLK_PARTITION_END_61 = ( 2.8147497671065E+14 )
SCLK01_COEFFICIENTS_61 = ( 0.0 0.0 1.0 )
\\begintext
"""

_FK = """KPL/FK
Synthetic Juno frames written by junocam.
\\begindata
FRAME_JUNO_SPACECRAFT = -61000
FRAME_-61000_NAME = 'JUNO_SPACECRAFT'
FRAME_-61000_CLASS = 3
FRAME_-61000_CLASS_ID = -61000
FRAME_-61000_CENTER = -61
CK_-61000_SCLK = -61
CK_-61000_SPK = -61
FRAME_JUNO_JUNOCAM = -61500
FRAME_-61500_NAME = 'JUNO_JUNOCAM'
FRAME_-61500_CLASS = 4
FRAME_-61500_CLASS_ID = -61500
FRAME_-61500_CENTER = -61
TKFRAME_-61500_RELATIVE = 'JUNO_SPACECRAFT'
TKFRAME_-61500_SPEC = 'MATRIX'
TKFRAME_-61500_MATRIX = ( {matrix} )
\\begintext
"""


def camera_to_spacecraft() -> np.ndarray:
    """Rotation from JUNO_JUNOCAM to JUNO_SPACECRAFT used by the synthetic FK.

    Spacecraft +Z (the spin axis) is the FK's spin axis in the camera frame
    (:data:`junocam.spin.FK_SPIN_AXIS`); spacecraft +X is the boresight made
    perpendicular to it.

    Examples
    --------
    >>> m = camera_to_spacecraft()
    >>> np.round(m @ np.array(FK_SPIN_AXIS) / np.linalg.norm(FK_SPIN_AXIS), 9).tolist()
    [0.0, 0.0, 1.0]
    """
    a = np.array(FK_SPIN_AXIS, dtype=np.float64)
    a /= np.linalg.norm(a)
    x = np.array([0.0, 0.0, 1.0]) - a[2] * a
    x /= np.linalg.norm(x)
    y = np.cross(a, x)
    return np.stack([x, y, a])  # rows: spacecraft axes in camera coordinates


@dataclass(frozen=True)
class SyntheticPass:
    """A made-up stretch of a Juno pass.

    Parameters
    ----------
    mid_utc : str
        UTC of the frame's middle (the camera looks at Jupiter's centre then).
    span_s : float
        Kernel coverage, seconds, centred on ``mid_utc``.
    sub_lat_deg, sub_lon_west_deg : float
        Sub-spacecraft point (planetographic, System III west) at ``mid_utc``.
    altitude_km : float
        Height above the 1-bar spheroid at ``mid_utc``.
    speed_km_s : float
        Speed relative to Jupiter.
    spin_rpm : float
        Spin rate.
    axis_tilt_deg : float
        Angle between the spin axis and the perpendicular to the line of sight to
        Jupiter's centre (the camera then sweeps a little off the centre).
    phase_deg : float
        Solar phase angle of Jupiter's centre seen from Juno.
    target : str
        The body flown past (``JUPITER``, ``IO``, ``EUROPA``, ``GANYMEDE``,
        ``CALLISTO``); the sub-spacecraft point, altitude, speed and phase are then
        relative to it.
    """

    mid_utc: str = "2026-11-25T12:00:00"
    span_s: float = 240.0
    sub_lat_deg: float = -40.0
    sub_lon_west_deg: float = 120.0
    altitude_km: float = 110000.0
    speed_km_s: float = 32.0
    spin_rpm: float = 1.99
    axis_tilt_deg: float = 2.0
    phase_deg: float = 45.0
    target: str = "JUPITER"


@dataclass(frozen=True)
class PassTruth:
    """What :func:`write_pass_kernels` made.

    Attributes
    ----------
    kernels : KernelSet
    mid_et : float
        ET of ``mid_utc``.
    spin_axis : numpy.ndarray
        Spin axis in J2000.
    spin_rate : float
        rad/s.
    """

    kernels: KernelSet
    mid_et: float
    spin_axis: np.ndarray
    spin_rate: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly copy."""
        return {
            "kernels": list(self.kernels.paths),
            "mid_et": self.mid_et,
            "spin_axis_j2000": self.spin_axis.tolist(),
            "spin_rate_rad_s": self.spin_rate,
        }


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


#: A PJ57-like Io flyby (2023-12-30: JunoCam imaged Io from about 1,500 km):
#: Juno 2,340 km above Io at 30 km/s relative, the Sun 40 degrees from Juno.
IO_FLYBY = SyntheticPass(
    sub_lat_deg=-10.0,
    sub_lon_west_deg=330.0,
    altitude_km=2340.0,
    speed_km_s=30.0,
    axis_tilt_deg=0.0,
    phase_deg=40.0,
    target="IO",
)

#: A PJ34-like Ganymede flyby (2021-06-07, closest approach about 1,046 km at 18.5 km/s
#: relative): the frame is taken a few minutes after closest approach, 3,500 km up,
#: where Ganymede's disc (51 degrees) fits JunoCam's 58-degree swath.
GANYMEDE_FLYBY = SyntheticPass(
    sub_lat_deg=20.0,
    sub_lon_west_deg=150.0,
    altitude_km=3500.0,
    speed_km_s=18.5,
    axis_tilt_deg=0.0,
    phase_deg=50.0,
    target="GANYMEDE",
)


def write_pass_kernels(folder: str | Path, spec: SyntheticPass = SyntheticPass()) -> PassTruth:
    """Write LSK, PCK, FK, SCLK, SPK and CK kernels of a synthetic pass into ``folder``.

    Parameters
    ----------
    folder : path
        An existing, empty-ish directory (files of the same names are replaced).
    spec : SyntheticPass

    Returns
    -------
    PassTruth

    Examples
    --------
    >>> import tempfile
    >>> from junocam.metadata import assumed_meta
    >>> truth = write_pass_kernels(tempfile.mkdtemp(), SyntheticPass(altitude_km=80000.0))
    >>> round(truth.spin_rate, 4), truth.kernels.kinds()
    (0.2084, ['.bc', '.bsp', '.tf', '.tls', '.tpc', '.tsc'])

    The kernels work like real ones, e.g. for the sub-spacecraft point at mid-pass:

    >>> from junocam.planet.spice import sub_spacecraft
    >>> p = sub_spacecraft(assumed_meta(384), truth.kernels, np.array([truth.mid_et]))[0]
    >>> round(p["lat_deg"], 2), round(p["lon_west_deg"], 2), round(p["alt_km"], -2)
    (-40.0, 120.0, 80000.0)
    """
    sp = require_spiceypy()
    out = Path(folder)
    files = {
        "lsk": out / "synthetic.tls",
        "pck": out / "synthetic.tpc",
        "fk": out / "synthetic_juno.tf",
        "sclk": out / "synthetic_juno.tsc",
        "spk": out / "synthetic_juno.bsp",
        "ck": out / "synthetic_juno.bc",
    }
    for p in files.values():
        p.unlink(missing_ok=True)
    files["lsk"].write_text(_LSK)
    target = target_named(spec.target)
    body = target.ellipsoid
    pck = _PCK.format(a=JUPITER.a, b=JUPITER.b, c=JUPITER.c)
    if target.naif_id != 599:
        (ra0, ra1), (de0, de1), (pm0, pm1) = _MOON_ROTATION[target.naif_id]
        pck += _MOON_PCK.format(
            n=target.naif_id, a=body.a, b=body.b, c=body.c,
            ra0=ra0, ra1=ra1, de0=de0, de1=de1, pm0=pm0, pm1=pm1,
        )  # fmt: skip
    files["pck"].write_text(pck)
    files["sclk"].write_text(_SCLK)
    m = camera_to_spacecraft()
    # TKFRAME matrices rotate vectors from the defined frame into the RELATIVE one
    # and are listed column by column
    # (one number a line: text kernel lines stop at 132 characters)
    numbers = "\n".join(f"{v:.15f}" for v in m.ravel(order="F"))
    files["fk"].write_text(_FK.format(matrix=numbers))
    text = KernelSet.from_path([files["lsk"], files["pck"], files["fk"], files["sclk"]])
    with furnished(text):
        mid = float(sp.str2et(spec.mid_utc))
        to_body = np.array(sp.pxform("J2000", target.frame, mid))
        foot = surface_point(
            math.radians(spec.sub_lat_deg), math.radians(spec.sub_lon_west_deg), body
        )
        r_body = foot + spec.altitude_km * surface_normal(foot, body)
        r0 = to_body.T @ r_body  # Juno relative to the target, J2000
        pole = to_body.T @ np.array([0.0, 0.0, 1.0])
        v_dir = _unit(np.cross(pole, r0))
        state0 = np.concatenate([r0, spec.speed_km_s * v_dir])
        # a close flyby changes fast: sample Juno's path densely there
        step = 2.0 if target.naif_id == 599 else 0.5
        epochs = mid + np.arange(-spec.span_s / 2, spec.span_s / 2 + 1e-9, step)
        juno = np.array([sp.prop2b(target.gm_km3_s2, state0, float(t - mid)) for t in epochs])
        # the Sun seen from Jupiter at the requested phase from the line to Juno
        u_obs = _unit(r0)
        w = _unit(np.cross(u_obs, pole))
        sun_dir = (
            math.cos(math.radians(spec.phase_deg)) * u_obs
            + math.sin(math.radians(spec.phase_deg)) * w
        )
        # the Sun's light takes 43 minutes to Jupiter: cover a day for those two
        long_epochs = mid + np.arange(-86400.0, 86400.0 + 1.0, 3600.0)
        moon_pos = np.zeros(3)
        if target.naif_id != 599:
            # the moon on a circular orbit in Jupiter's equator, Jupiter to the side
            # of the line of sight (so it does not hide the Sun)
            radius = _MOON_ORBIT_KM[target.naif_id]
            out_dir = _unit(np.cross(pole, sun_dir))
            moon_pos = radius * out_dir
            moon0 = np.concatenate(
                [moon_pos, math.sqrt(GM_JUPITER / radius) * _unit(np.cross(pole, moon_pos))]
            )
            moon_epochs = mid + np.arange(-spec.span_s / 2 - 60, spec.span_s / 2 + 61, 5.0)
            moon = np.array([sp.prop2b(GM_JUPITER, moon0, float(t - mid)) for t in moon_epochs])
        jup_pos = -5.2 * AU_KM * sun_dir - moon_pos
        jup_vel = 13.0 * _unit(np.cross(pole, jup_pos))
        jupiter = np.array(
            [np.concatenate([jup_pos + jup_vel * (t - mid), jup_vel]) for t in long_epochs]
        )
        sun = np.zeros_like(jupiter)
        handle = sp.spkopn(str(files["spk"]), "junocam synthetic", 0)
        try:
            first, last = float(epochs[0]), float(epochs[-1])
            sp.spkw09(
                handle, -61, target.naif_id, "J2000", first, last, "JUNO", 7, len(epochs),
                juno, epochs,
            )  # fmt: skip
            if target.naif_id != 599:
                m0, m1 = float(moon_epochs[0]), float(moon_epochs[-1])
                sp.spkw09(
                    handle, target.naif_id, 599, "J2000", m0, m1, target.name, 7,
                    len(moon_epochs), moon, moon_epochs,
                )  # fmt: skip
            a, b, n = float(long_epochs[0]), float(long_epochs[-1]), len(long_epochs)
            sp.spkw09(handle, 599, 0, "J2000", a, b, "JUPITER", 3, n, jupiter, long_epochs)
            sp.spkw09(handle, 10, 0, "J2000", a, b, "SUN", 3, n, sun, long_epochs)
        finally:
            sp.spkcls(handle)
        # attitude: spin about a fixed axis nearly perpendicular to the line of sight,
        # phased so the boresight points at Jupiter's centre at mid_utc
        look = _unit(-r0)
        axis = _unit(np.cross(look, v_dir))
        axis = rotation_matrix(v_dir, math.radians(spec.axis_tilt_deg)) @ axis
        rate = spec.spin_rpm * 2.0 * math.pi / 60.0
        bore_sc = m @ np.array([0.0, 0.0, 1.0])  # boresight in spacecraft axes
        bore_perp = _unit(bore_sc - bore_sc[2] * np.array([0.0, 0.0, 1.0]))
        look_perp = _unit(look - (look @ axis) * axis)
        sc_basis = np.stack(
            [np.array([0.0, 0.0, 1.0]), bore_perp, np.cross([0.0, 0.0, 1.0], bore_perp)], axis=1
        )
        j_basis = np.stack([axis, look_perp, np.cross(axis, look_perp)], axis=1)
        s_mid = j_basis @ sc_basis.T  # spacecraft -> J2000 at mid
        times = mid + np.arange(-spec.span_s / 2, spec.span_s / 2 + 1e-9, 0.25)
        quats, avvs, ticks = [], [], []
        for t in times:
            s_t = rotation_matrix(axis, rate * (t - mid)) @ s_mid
            quats.append(sp.m2q(np.ascontiguousarray(s_t.T)))  # the CK stores J2000 -> spacecraft
            avvs.append(axis * rate)
            ticks.append(sp.sce2c(-61, float(t)))
        # the SCLK kernel must be loaded to encode the CK's times
        handle = sp.ckopn(str(files["ck"]), "junocam synthetic", 0)
        try:
            sp.ckw03(
                handle,
                ticks[0],
                ticks[-1],
                -61000,
                "J2000",
                True,
                "JUNO SPIN",
                len(ticks),
                np.array(ticks),
                np.array(quats),
                np.array(avvs),
                1,
                np.array([ticks[0]]),
            )
        finally:
            sp.ckcls(handle)
    return PassTruth(KernelSet.from_path(out), mid, axis, rate)


def sweep_crossings(
    folder: str | Path, spec: SyntheticPass, spins: tuple[int, ...] = (0,)
) -> tuple[float, ...]:
    """When the camera's sweep crosses the target's centre, near whole spins from mid-pass.

    At ``mid_utc`` the boresight points at the target's centre; ``n`` spins later it
    points the same way in space, but Juno has moved and the line of sight to the
    target has turned in the plane of the sweep. This finds, for each ``n`` of
    ``spins``, the time (seconds from ``mid_utc``) when the boresight crosses the
    target's centre again: frames centred there (``simulate_pass_frames``'
    ``offsets_s``) see the target in the middle of their swath, as a flyby's later
    frames do.

    Parameters
    ----------
    folder : path
        Where to write the pass' kernels (as :func:`write_pass_kernels`).
    spec : SyntheticPass
    spins : tuple of int
        Whole spins from mid-pass (negative: before).

    Returns
    -------
    tuple of float
        Seconds from ``mid_utc``, one per spin count.

    Examples
    --------
    >>> import tempfile
    >>> t = sweep_crossings(tempfile.mkdtemp(), IO_FLYBY, (0, 2))
    >>> t[0], round(t[1], 1)   # Io's line of sight turns against the spin
    (0.0, 58.4)
    """
    sp = require_spiceypy()
    Path(folder).mkdir(parents=True, exist_ok=True)
    truth = write_pass_kernels(folder, spec)
    name = target_named(spec.target).name
    axis = truth.spin_axis
    out = []
    with furnished(truth.kernels):

        def sight(t: float) -> np.ndarray:
            p = np.array(sp.spkpos(name, t, "J2000", "NONE", "JUNO")[0])
            return _unit(p - (p @ axis) * axis)

        ref = sight(truth.mid_et)
        for n in spins:
            dt = n * 2.0 * math.pi / truth.spin_rate
            for _ in range(8):  # the line of sight turns slowly: a fixed point converges
                s = sight(truth.mid_et + dt)
                turned = math.atan2(float(np.cross(ref, s) @ axis), float(ref @ s))
                dt = n * 2.0 * math.pi / truth.spin_rate + turned / truth.spin_rate
            out.append(float(dt))
    return tuple(out)
