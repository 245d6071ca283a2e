"""Frame metadata: the typed, frozen description of one JunoCam raw product.

The mission website ships a JSON file per image, PDS3 products carry a PVL label;
both become one :class:`FrameMeta`. Values keep SI units: seconds for times and
durations, kilometres for distances, degrees for angles. A value that did not come
from the product but was assumed (a documented default, or supplied by the user on
the command line) is listed by field name in :attr:`FrameMeta.assumed`.

Examples
--------
>>> from junocam.metadata import Filter, FrameMeta, Companding
>>> meta = FrameMeta(product_id="X", filters=(Filter.BLUE, Filter.GREEN, Filter.RED),
...                  lines=768, companding=Companding.SQROOT)
>>> meta.n_exposures
2
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from .errors import MetadataError

__all__ = [
    "Filter",
    "Companding",
    "FrameMeta",
    "parse_quantity",
    "parse_duration",
    "FRAMELET_LINES",
    "LINE_SAMPLES",
]

#: Lines in one full-resolution framelet [IK: INS-6150x_FRAMELET_HEIGHT... / CAMERA.md].
FRAMELET_LINES = 128
#: Samples in one line of a raw product [IK, CAMERA.md].
LINE_SAMPLES = 1648


class Filter(enum.Enum):
    """JunoCam filter stripes, in CCD order from top to bottom [SIS, H17].

    The value is the spelling used in FILTER_NAME of the website JSON and PDS labels.
    """

    METHANE = "METHANE"
    BLUE = "BLUE"
    GREEN = "GREEN"
    RED = "RED"

    @classmethod
    def parse(cls, name: object) -> Filter:
        """Parse a filter name (case-insensitive; ``CH4`` and ``M``/``B``/``G``/``R`` accepted).

        Parameters
        ----------
        name : object
            A filter name such as ``"BLUE"`` or ``"methane"``.

        Returns
        -------
        Filter

        Raises
        ------
        MetadataError
            If the name is not a known filter.

        Examples
        --------
        >>> Filter.parse("red")
        <Filter.RED: 'RED'>
        """
        if isinstance(name, Filter):
            return name
        if not isinstance(name, str):
            raise MetadataError(f"filter name must be a string, got {type(name).__name__}")
        key = name.strip().upper()
        aliases = {"CH4": "METHANE", "M": "METHANE", "B": "BLUE", "G": "GREEN", "R": "RED"}
        key = aliases.get(key, key)
        try:
            return cls(key)
        except ValueError:
            known = ", ".join(f.value for f in cls)
            raise MetadataError(f"unknown filter name {name!r} (known: {known})") from None


class Companding(enum.Enum):
    """How 8-bit samples encode the 12-bit signal (SAMPLE_BIT_MODE_ID) [SIS]."""

    SQROOT = "SQROOT"
    LIN1 = "LIN1"
    LIN8 = "LIN8"
    LIN16 = "LIN16"
    #: Samples are already linear (16-bit RDR products).
    NONE = "NONE"

    @classmethod
    def parse(cls, name: object) -> Companding:
        """Parse a SAMPLE_BIT_MODE_ID value.

        Examples
        --------
        >>> Companding.parse("sqroot")
        <Companding.SQROOT: 'SQROOT'>
        """
        if isinstance(name, Companding):
            return name
        if not isinstance(name, str):
            raise MetadataError(f"SAMPLE_BIT_MODE_ID must be a string, got {type(name).__name__}")
        try:
            return cls(name.strip().upper())
        except ValueError:
            known = ", ".join(c.value for c in cls)
            raise MetadataError(f"unknown SAMPLE_BIT_MODE_ID {name!r} (known: {known})") from None


_QUANTITY = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:<\s*([^>]*?)\s*>)?\s*$"
)

_TIME_UNITS = {"s": 1.0, "sec": 1.0, "seconds": 1.0, "ms": 1e-3, "msec": 1e-3, "us": 1e-6}


def parse_quantity(text: object) -> tuple[float, str | None]:
    """Parse a metadata value such as ``"0.372 <s>"`` into (value, unit).

    Parameters
    ----------
    text : str or number
        The value as found in the JSON; plain numbers have no unit.

    Returns
    -------
    value : float
    unit : str or None

    Raises
    ------
    MetadataError
        If the text is not a number with an optional ``<unit>``.

    Examples
    --------
    >>> parse_quantity("0.372 <s>")
    (0.372, 's')
    >>> parse_quantity(5)
    (5.0, None)
    """
    if isinstance(text, bool):
        raise MetadataError(f"expected a number, got {text!r}")
    if isinstance(text, (int, float)):
        return float(text), None
    if not isinstance(text, str):
        raise MetadataError(f"expected a number with unit, got {type(text).__name__}")
    m = _QUANTITY.match(text)
    if m is None:
        raise MetadataError(f"cannot parse {text!r} as a number with an optional <unit>")
    unit = m.group(2)
    return float(m.group(1)), (unit or None)


def parse_duration(text: object, default_unit: str = "s") -> float:
    """Parse a duration to seconds, honouring its unit (``s`` or ``ms``).

    Examples
    --------
    >>> parse_duration("19.200000 <ms>")
    0.0192
    """
    value, unit = parse_quantity(text)
    unit = (unit or default_unit).strip().lower()
    if unit not in _TIME_UNITS:
        raise MetadataError(f"unknown time unit {unit!r} in {text!r}")
    return round(value * _TIME_UNITS[unit], 12)


@dataclass(frozen=True)
class FrameMeta:
    """Typed metadata of one raw frame.

    Parameters
    ----------
    product_id : str
        For example ``"JNCE_2022186_43C00078_V01"``.
    filters : tuple of Filter
        Filters in readout order (FILTER_NAME order); one framelet each per exposure.
    lines : int
        Image height in lines (LINES).
    line_samples : int
        Image width (LINE_SAMPLES), 1648 for JunoCam.
    companding : Companding
        SAMPLE_BIT_MODE_ID.
    start_time, stop_time : datetime or None
        START_TIME / STOP_TIME, timezone-aware UTC.
    interframe_delay : float or None
        INTERFRAME_DELAY in seconds.
    exposure_duration : float or None
        EXPOSURE_DURATION in seconds.
    tdi_stages : int or None
        JNO:TDI_STAGES_COUNT.
    sampling_factor : int
        1 for full resolution, 2 for 2x2 summed framelets of 64 lines.
    target, title : str or None
        TARGET_NAME and TITLE.
    perijove : int or None
        PJ / ORBIT_NUMBER.
    sub_spacecraft_lat_deg, sub_spacecraft_lon_deg, spacecraft_altitude_km : float or None
        Geometry at one instant of the image, as the website gives it.
    source : str or None
        Path of the metadata file (or ``None`` when all values were supplied).
    assumed : tuple of str
        Names of fields whose value was assumed rather than read from the product.
    extra : Mapping
        Read-only copy of all raw key/value pairs of the metadata source.
    """

    product_id: str
    filters: tuple[Filter, ...]
    lines: int
    companding: Companding
    line_samples: int = LINE_SAMPLES
    start_time: datetime | None = None
    stop_time: datetime | None = None
    interframe_delay: float | None = None
    exposure_duration: float | None = None
    tdi_stages: int | None = None
    sampling_factor: int = 1
    target: str | None = None
    title: str | None = None
    perijove: int | None = None
    sub_spacecraft_lat_deg: float | None = None
    sub_spacecraft_lon_deg: float | None = None
    spacecraft_altitude_km: float | None = None
    source: str | None = None
    assumed: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.filters:
            raise MetadataError("FILTER_NAME lists no filters", path=self.source)
        if len(set(self.filters)) != len(self.filters):
            raise MetadataError(
                f"FILTER_NAME repeats a filter: {[f.value for f in self.filters]}",
                path=self.source,
            )
        if self.sampling_factor not in (1, 2):
            raise MetadataError(
                f"SAMPLING_FACTOR must be 1 or 2, got {self.sampling_factor}", path=self.source
            )
        if self.interframe_delay is not None and not (0.0 < self.interframe_delay < 60.0):
            raise MetadataError(
                f"INTERFRAME_DELAY {self.interframe_delay} s is outside (0, 60) s",
                path=self.source,
            )
        if self.exposure_duration is not None and not (0.0 < self.exposure_duration < 60.0):
            raise MetadataError(
                f"EXPOSURE_DURATION {self.exposure_duration} s is outside (0, 60) s",
                path=self.source,
            )
        if self.lines <= 0 or self.line_samples <= 0:
            raise MetadataError(
                f"LINES={self.lines} and LINE_SAMPLES={self.line_samples} must be positive",
                path=self.source,
            )
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    @property
    def framelet_lines(self) -> int:
        """Lines per framelet: 128, or 64 with 2x2 summing."""
        return FRAMELET_LINES // self.sampling_factor

    @property
    def n_filters(self) -> int:
        """Number of filters read out per exposure."""
        return len(self.filters)

    @property
    def n_exposures(self) -> int:
        """Number of exposures, LINES / framelet lines / filters (floor)."""
        return self.lines // (self.framelet_lines * self.n_filters)

    def is_assumed(self, name: str) -> bool:
        """Whether field ``name`` was assumed rather than read from the product.

        Examples
        --------
        >>> FrameMeta("X", (Filter.RED,), 128, Companding.SQROOT, assumed=("filters",)
        ...           ).is_assumed("filters")
        True
        """
        return name in self.assumed
