"""Target bodies: Jupiter and its Galilean moons as SPICE and the maps name them.

A :class:`Target` carries what the geometry needs about the body a frame looks at:
its NAIF name and id, its IAU body-fixed frame, its reference ellipsoid and the
latitude/longitude convention its maps use. The SPICE layer replaces the radii by
the loaded PCK's (``BODYnnn_RADII`` through ``bodvrd``); the constants here are used
without kernels and come from the NAIF PCK ``pck00010.tpc`` (IAU WGCCRE 2009 report,
Archinal et al. 2011, Celest. Mech. Dyn. Astr. 109, 101-135).

Conventions (IAU WGCCRE; the USGS Astrogeology maps of these bodies follow them)
------------------------------------------------------------------------------------
* Every body here rotates prograde, so its *planetographic* longitude is measured
  positive to the **west**, 0-360 degrees, and the latitude is planetographic (the
  angle of the surface normal to the equator). That is the convention of the
  JunoCam metadata, of Jupiter maps and of the Galileo/Voyager maps of the moons.
* Jupiter's longitude is System III (1965.0), the radio rotation period, and its
  ellipsoid is the 1-bar level.
* The Galilean moons rotate synchronously: the IAU prime meridians are tied to the
  mean sub-Jupiter direction and to a surface feature -- Io: 0 deg W faces Jupiter on
  average; Europa: the crater Cilix at 182 deg W; Ganymede: the crater Anat at
  128 deg W; Callisto: the crater Saga at 326 deg W. Io and Europa are triaxial in the
  PCK (long axis towards Jupiter), so their planetographic and planetocentric
  latitudes differ by up to 0.3 and 0.05 degree; Ganymede and Callisto are spheres.

Examples
--------
>>> from junocam.planet.targets import target_named
>>> io = target_named("io")
>>> io.name, io.naif_id, io.frame, io.ellipsoid.radii.tolist()
('IO', 501, 'IAU_IO', [1829.4, 1819.4, 1815.7])
>>> io.convention
'planetographic latitude, west-positive longitude 0-360 deg (IAU WGCCRE)'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import GeometryError
from .spheroid import JUPITER, Ellipsoid

__all__ = ["Target", "TARGETS", "JUPITER_TARGET", "target_named", "target_of"]

_CONVENTION = "planetographic latitude, west-positive longitude 0-360 deg (IAU WGCCRE)"

#: The kind of kernel that gives each body's position, for error messages.
_PLANET_SPK = "a planetary ephemeris SPK (e.g. de440s.bsp, or the Juno SPK, which carries 599)"
_MOON_SPK = "a satellite ephemeris SPK of Jupiter's moons (e.g. jup365.bsp)"


@dataclass(frozen=True)
class Target:
    """A target body.

    Parameters
    ----------
    name : str
        NAIF name (upper case), as in TARGET_NAME.
    naif_id : int
        NAIF integer id (599 Jupiter, 501-504 the Galilean moons).
    frame : str
        IAU body-fixed frame (``IAU_<NAME>``).
    ellipsoid : Ellipsoid
        Reference radii (km): pck00010.tpc unless read from the loaded PCK.
    gm_km3_s2 : float
        Gravitational parameter (km^3/s^2, NAIF gm_de431.tpc), for synthetic orbits.
    longitude_system : str
        What longitude 0 is (e.g. System III, or the IAU prime meridian feature).
    spk_kind : str
        The kind of SPK that gives the body's position (for error messages).

    Examples
    --------
    >>> JUPITER_TARGET.as_dict()["longitude"]
    'west-positive, 0-360 deg'
    """

    name: str
    naif_id: int
    frame: str
    ellipsoid: Ellipsoid
    gm_km3_s2: float
    longitude_system: str
    spk_kind: str

    @property
    def convention(self) -> str:
        """The latitude/longitude convention of this body's coordinates and maps."""
        return _CONVENTION

    @property
    def mean_radius(self) -> float:
        """Mean of the three radii (km)."""
        return float(np.mean(self.ellipsoid.radii))

    def with_radii(self, radii: Any) -> Target:
        """A copy with the radii (km) of a loaded PCK.

        Examples
        --------
        >>> target_named("GANYMEDE").with_radii([2631.0, 2631.0, 2631.0]).ellipsoid.a
        2631.0
        """
        return replace(self, ellipsoid=Ellipsoid(*(float(r) for r in radii)))

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly description (name, id, frame, radii, convention)."""
        return {
            "name": self.name,
            "naif_id": self.naif_id,
            "frame": self.frame,
            "radii_km": self.ellipsoid.radii.tolist(),
            "latitude": "planetographic",
            "longitude": "west-positive, 0-360 deg",
            "longitude_system": self.longitude_system,
            "convention": self.convention,
        }


#: Jupiter: System III, the 1-bar ellipsoid (BODY599_RADII).
JUPITER_TARGET = Target(
    "JUPITER", 599, "IAU_JUPITER", JUPITER, 126686534.9, "System III (1965.0)", _PLANET_SPK
)

#: The bodies known by name; radii from pck00010.tpc, GM from gm_de431.tpc.
TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        JUPITER_TARGET,
        Target(
            "IO",
            501,
            "IAU_IO",
            Ellipsoid(1829.4, 1819.4, 1815.7),
            5959.916,
            "IAU: 0 deg W is the mean sub-Jupiter meridian",
            _MOON_SPK,
        ),
        Target(
            "EUROPA",
            502,
            "IAU_EUROPA",
            Ellipsoid(1562.6, 1560.3, 1559.5),
            3202.739,
            "IAU: crater Cilix at 182 deg W",
            _MOON_SPK,
        ),
        Target(
            "GANYMEDE",
            503,
            "IAU_GANYMEDE",
            Ellipsoid(2631.2, 2631.2, 2631.2),
            9887.834,
            "IAU: crater Anat at 128 deg W",
            _MOON_SPK,
        ),
        Target(
            "CALLISTO",
            504,
            "IAU_CALLISTO",
            Ellipsoid(2410.3, 2410.3, 2410.3),
            7179.289,
            "IAU: crater Saga at 326 deg W",
            _MOON_SPK,
        ),
    )
}


def target_named(name: str) -> Target:
    """The :class:`Target` of a NAIF name (any case).

    Raises
    ------
    GeometryError
        For a name that is not one of :data:`TARGETS`.

    Examples
    --------
    >>> target_named("Europa").naif_id
    502
    >>> target_named("Amalthea")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    junocam.errors.GeometryError: unknown target 'Amalthea': choose one of JUPITER, IO, ...
    """
    key = name.strip().upper()
    if key not in TARGETS:
        raise GeometryError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
    return TARGETS[key]


def target_of(metadata_target: str | None) -> Target:
    """The target of a frame from its TARGET_NAME; Jupiter when absent or not a body.

    TARGET_NAME can name things that are no body (``SKY``, ``CALIBRATION``); JunoCam
    frames of those still show Jupiter when they show anything, so they map to it.

    Examples
    --------
    >>> target_of("GANYMEDE").name, target_of(None).name, target_of("SKY").name
    ('GANYMEDE', 'JUPITER', 'JUPITER')
    """
    if metadata_target is None:
        return JUPITER_TARGET
    return TARGETS.get(metadata_target.strip().upper(), JUPITER_TARGET)
