"""Synthetic SPICE kernels for a made-up Juno pass (closed-loop tests and demos).

:func:`write_pass_kernels` writes, with spiceypy's own writers, everything SPICE
needs to describe a short stretch of a Juno-like pass near Jupiter:

* a leapseconds kernel (the TAI-UTC offset in force since 2017, 37 s);
* a planetary constants kernel for Jupiter (radii, pole and prime meridian of the
  IAU 2009 model, without the small nutation terms);
* a frames kernel defining JUNO_SPACECRAFT (a CK frame) and JUNO_JUNOCAM fixed to
  it, with the spin axis (spacecraft +Z) along the camera's FK direction;
* a spacecraft clock kernel (65536 ticks a second, zero at J2000);
* an SPK (type 9) with Juno on a two-body path about Jupiter, Jupiter at 5.2 AU
  from the Sun, and the Sun;
* a CK (type 3) with the spacecraft spinning at a fixed rate about a fixed axis,
  phased so the camera looks at Jupiter mid-frame.

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

__all__ = [
    "SyntheticPass",
    "PassTruth",
    "write_pass_kernels",
    "camera_to_spacecraft",
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
    files["pck"].write_text(_PCK.format(a=JUPITER.a, b=JUPITER.b, c=JUPITER.c))
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
        to_body = np.array(sp.pxform("J2000", "IAU_JUPITER", mid))
        foot = surface_point(
            math.radians(spec.sub_lat_deg), math.radians(spec.sub_lon_west_deg), JUPITER
        )
        r_body = foot + spec.altitude_km * surface_normal(foot, JUPITER)
        r0 = to_body.T @ r_body  # Juno relative to Jupiter, J2000
        pole = to_body.T @ np.array([0.0, 0.0, 1.0])
        v_dir = _unit(np.cross(pole, r0))
        state0 = np.concatenate([r0, spec.speed_km_s * v_dir])
        epochs = mid + np.arange(-spec.span_s / 2, spec.span_s / 2 + 1e-9, 2.0)
        juno = np.array([sp.prop2b(GM_JUPITER, state0, float(t - mid)) for t in epochs])
        # the Sun seen from Jupiter at the requested phase from the line to Juno
        u_obs = _unit(r0)
        w = _unit(np.cross(u_obs, pole))
        sun_dir = (
            math.cos(math.radians(spec.phase_deg)) * u_obs
            + math.sin(math.radians(spec.phase_deg)) * w
        )
        jup_pos = -5.2 * AU_KM * sun_dir
        jup_vel = 13.0 * _unit(np.cross(pole, jup_pos))
        # the Sun's light takes 43 minutes to Jupiter: cover a day for those two
        long_epochs = mid + np.arange(-86400.0, 86400.0 + 1.0, 3600.0)
        jupiter = np.array(
            [np.concatenate([jup_pos + jup_vel * (t - mid), jup_vel]) for t in long_epochs]
        )
        sun = np.zeros_like(jupiter)
        handle = sp.spkopn(str(files["spk"]), "junocam synthetic", 0)
        try:
            first, last = float(epochs[0]), float(epochs[-1])
            sp.spkw09(handle, -61, 599, "J2000", first, last, "JUNO", 7, len(epochs), juno, epochs)
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
