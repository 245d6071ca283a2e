"""Spin and timing: where the camera pointed at each exposure of a frame.

Juno spins at about 2 rpm; between exposures the camera turns about the spin
axis, which lies close to the camera's -X (line) direction. Exposure ``i`` of a
frame starts at ``START_TIME + START_TIME_BIAS + i * (INTERFRAME_DELAY +
INTERFRAME_DELTA)`` with START_TIME_BIAS = 0.06188 s and INTERFRAME_DELTA = 0.001 s
(INS-6150#_START_TIME_BIAS, INS-6150#_INTERFRAME_DELTA in the IK ``juno_junocam_v03.ti``).

The spin axis in the camera frame comes from the frames kernel ``juno_v12.tf``
[FK]: the spacecraft +Z axis evaluated in JUNO_JUNOCAM is (-0.999995, 0.002248,
-0.002213), i.e. -X tilted by about 0.13 degrees. The rate is only nominal and the
metadata timing has tens of milliseconds of jitter, so the turn per exposure is
fitted from the image itself (:mod:`junocam.stitch`).

The *sky frame* used by the stitcher is the camera frame at a reference exposure
(by default the middle of the frame). :meth:`SpinModel.rotation` maps a ray in the
camera frame of exposure ``i`` into the sky frame.

Examples
--------
>>> from junocam.spin import SpinModel
>>> spin = SpinModel.nominal(interframe_delay=0.372)
>>> round(spin.turn_per_exposure, 5)
0.07812
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

# INS-6150#_START_TIME_BIAS and _INTERFRAME_DELTA (seconds) of the IK live with the
# metadata's timing helpers; re-exported here for the spin model's users
from .metadata import INTERFRAME_DELTA, START_TIME_BIAS

__all__ = [
    "SpinModel",
    "rotation_matrix",
    "exposure_offsets",
    "START_TIME_BIAS",
    "INTERFRAME_DELTA",
    "NOMINAL_SPIN_RATE",
    "FK_SPIN_AXIS",
]

#: Nominal spin rate, 2 rpm, in radians per second [H17]. The sign is the sense in
#: which the scene moves on the CCD: positive moves the scene towards -Y (from red
#: towards methane), as the real frames show.
NOMINAL_SPIN_RATE = 2.0 * 2.0 * math.pi / 60.0
#: Spacecraft +Z (spin axis) in the JUNO_JUNOCAM frame, from juno_v12.tf [FK, CAMERA.md].
FK_SPIN_AXIS = (-0.999995, 0.002248, -0.002213)


def rotation_matrix(axis: np.ndarray, angle: float | np.ndarray) -> np.ndarray:
    """Right-handed rotation matrices about a unit ``axis`` (Rodrigues' formula).

    Parameters
    ----------
    axis : array_like, shape (3,)
        Rotation axis (normalised here).
    angle : float or numpy.ndarray
        Angle(s) in radians.

    Returns
    -------
    numpy.ndarray
        Shape ``angle.shape + (3, 3)``.

    Examples
    --------
    >>> np.round(rotation_matrix([0, 0, 1], np.pi / 2) @ [1, 0, 0], 12)
    array([0., 1., 0.])
    """
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    t = np.asarray(angle, dtype=np.float64)[..., None, None]
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + np.sin(t) * k + (1.0 - np.cos(t)) * (k @ k)


def exposure_offsets(n_exposures: int, interframe_delay: float) -> np.ndarray:
    """Start time of each exposure in seconds after START_TIME [IK timing model].

    Examples
    --------
    >>> exposure_offsets(3, 0.372)
    array([0.06188, 0.43488, 0.80788])
    """
    i = np.arange(n_exposures, dtype=np.float64)
    return START_TIME_BIAS + i * (interframe_delay + INTERFRAME_DELTA)


@dataclass(frozen=True)
class SpinModel:
    """How the camera turns from one exposure to the next.

    Parameters
    ----------
    turn_per_exposure : float
        Angle (radians) the camera turns about ``axis`` between consecutive exposures;
        ``spin rate * (INTERFRAME_DELAY + INTERFRAME_DELTA)``. About 0.078 rad
        (116 pixels) for JunoCam.
    tilt_y, tilt_z : float
        Small tilt of the spin axis away from the camera's -X axis, as the Y and Z
        components of the (unnormalised) axis ``(-1, tilt_y, tilt_z)``; radians for
        small values. Nominal values from the FK.
    reference_exposure : float
        Exposure index (may be fractional) whose camera frame is the sky frame.
    fitted : bool
        Whether the values were fitted to the image (True) or are nominal (False).

    Examples
    --------
    >>> s = SpinModel(turn_per_exposure=0.078)
    >>> np.allclose(s.rotation(s.reference_exposure), np.eye(3))
    True
    """

    turn_per_exposure: float
    tilt_y: float = FK_SPIN_AXIS[1] / -FK_SPIN_AXIS[0]
    tilt_z: float = FK_SPIN_AXIS[2] / -FK_SPIN_AXIS[0]
    reference_exposure: float = 0.0
    fitted: bool = False

    @classmethod
    def nominal(
        cls,
        interframe_delay: float,
        spin_rate: float = NOMINAL_SPIN_RATE,
        reference_exposure: float = 0.0,
    ) -> SpinModel:
        """Nominal model from the frame's INTERFRAME_DELAY (s) and a spin rate (rad/s).

        Examples
        --------
        >>> round(SpinModel.nominal(0.372).turn_per_exposure * 1480.59, 1)
        115.7
        """
        turn = spin_rate * (interframe_delay + INTERFRAME_DELTA)
        return cls(turn_per_exposure=turn, reference_exposure=reference_exposure)

    @property
    def axis(self) -> np.ndarray:
        """Unit spin axis in the camera frame (close to -X)."""
        a = np.array([-1.0, self.tilt_y, self.tilt_z])
        return a / np.linalg.norm(a)

    def spin_rate(self, interframe_delay: float) -> float:
        """Spin rate in rad/s implied by the turn per exposure.

        Examples
        --------
        >>> round(SpinModel(0.07812).spin_rate(0.372) * 60 / (2 * np.pi), 4)
        2.0
        """
        return self.turn_per_exposure / (interframe_delay + INTERFRAME_DELTA)

    def angles(self, exposures: np.ndarray | float) -> np.ndarray:
        """Turn angle (radians) of each exposure relative to the reference exposure."""
        return (np.asarray(exposures, dtype=np.float64) - self.reference_exposure) * (
            self.turn_per_exposure
        )

    def rotation(self, exposure: float | np.ndarray) -> np.ndarray:
        """Matrix taking camera-frame rays at ``exposure`` into the sky frame.

        Positive turns move the scene towards -Y on the CCD: a fixed sky direction seen
        at line y in exposure i is seen near line ``y - turn * f`` in exposure i + 1.

        Examples
        --------
        >>> s = SpinModel(turn_per_exposure=0.1, tilt_y=0.0, tilt_z=0.0)
        >>> sky = s.rotation(1) @ [0.0, 0.0, 1.0]   # boresight at exposure 1
        >>> bool(sky[1] > 0)   # the later boresight looks further down (+Y) the sky
        True
        """
        # The camera turns about -axis direction so that the scene moves to -Y; we
        # encode that as a rotation of the camera's rays by +angle about the axis.
        return rotation_matrix(self.axis, self.angles(exposure))

    def with_reference(self, reference_exposure: float) -> SpinModel:
        """Copy with another reference exposure."""
        return replace(self, reference_exposure=float(reference_exposure))
