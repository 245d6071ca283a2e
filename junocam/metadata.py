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
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from .errors import MetadataError, MissingMetadataError

__all__ = [
    "Filter",
    "Companding",
    "FrameMeta",
    "parse_quantity",
    "parse_duration",
    "from_website_json",
    "from_pds3_label",
    "assumed_meta",
    "guess_filters",
    "NOMINAL_INTERFRAME_DELAY",
    "exposure_start_time",
    "product_id_from_filename",
    "DEFAULT_FILTERS",
    "START_TIME_BIAS",
    "INTERFRAME_DELTA",
    "FRAMELET_LINES",
    "LINE_SAMPLES",
]

#: Lines in one full-resolution framelet [IK: INS-6150x_FRAMELET_HEIGHT... / CAMERA.md].
FRAMELET_LINES = 128
#: Samples in one line of a raw product [IK, CAMERA.md].
LINE_SAMPLES = 1648

#: The interframe delay assumed for a frame without metadata, s. Real frames have
#: 0.370-0.378 s (about 0.37 to 0.38 s [CAMERA.md]; 0.372 s on the PJ43 frames'
#: website metadata); the spin fit determines the turn per exposure from the
#: framelets' overlaps anyway, so a wrong guess costs only the first iteration.
NOMINAL_INTERFRAME_DELAY = 0.372
#: START_TIME and STOP_TIME must fall in these years (Juno launched in 2011).
_FIRST_YEAR, _LAST_YEAR = 2000, 2100


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


# every repetition here is followed by a character it cannot match, so a failed
# match is linear: the former ``<\s*([^>]*?)\s*>`` took 63 s on "1 <" and 4,000 spaces
_QUANTITY = re.compile(r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(?:\s*<([^>]*)>)?")

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
    m = _QUANTITY.fullmatch(text.strip())
    if m is None:
        raise MetadataError(f"cannot parse {text!r} as a number with an optional <unit>")
    unit = (m.group(2) or "").strip()
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
        self._check_times_and_geometry()
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def _check_times_and_geometry(self) -> None:
        """Refuse times outside the mission's era, a stop before the start, and
        non-finite or impossible geometry values."""
        for name, t in (("START_TIME", self.start_time), ("STOP_TIME", self.stop_time)):
            if t is not None and not (_FIRST_YEAR <= t.year <= _LAST_YEAR):
                raise MetadataError(
                    f"{name} {t.isoformat()} is outside the years {_FIRST_YEAR}-{_LAST_YEAR}",
                    path=self.source,
                )
        if self.start_time is not None and self.stop_time is not None:
            if self.stop_time < self.start_time:
                raise MetadataError(
                    f"STOP_TIME {self.stop_time.isoformat()} is before START_TIME "
                    f"{self.start_time.isoformat()}",
                    path=self.source,
                )
        checks = (
            ("SUB_SPACECRAFT_LATITUDE", self.sub_spacecraft_lat_deg, -90.0, 90.0),
            ("SUB_SPACECRAFT_LONGITUDE", self.sub_spacecraft_lon_deg, -360.0, 360.0),
            ("SPACECRAFT_ALTITUDE", self.spacecraft_altitude_km, 0.0, 1e9),
        )
        for name, value, low, high in checks:
            if value is not None and not (low <= value <= high):  # NaN fails too
                raise MetadataError(
                    f"{name} {value} is outside [{low:g}, {high:g}]", path=self.source
                )

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


# ---------------------------------------------------------------------------
# Timing constants [IK juno_junocam_v03.ti, CAMERA.md "Timing"]

#: Seconds between START_TIME and the start of the first exposure [IK].
START_TIME_BIAS = 0.06188
#: Seconds added to INTERFRAME_DELAY between consecutive exposures [IK].
INTERFRAME_DELTA = 0.001


def exposure_start_time(meta: FrameMeta, index: int) -> datetime:
    """Start time of exposure ``index`` (counting from 0), from the IK timing rule.

    ``START_TIME + START_TIME_BIAS + index * (INTERFRAME_DELAY + INTERFRAME_DELTA)``
    [IK, CAMERA.md]. About 20 ms of jitter remains in real data.

    Parameters
    ----------
    meta : FrameMeta
        Needs ``start_time`` and ``interframe_delay``.
    index : int
        Exposure number; negative numbers count from the end.

    Returns
    -------
    datetime
        Timezone-aware UTC.

    Raises
    ------
    MissingMetadataError
        If START_TIME or INTERFRAME_DELAY is unknown.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> m = FrameMeta("X", (Filter.RED,), 256, Companding.SQROOT, interframe_delay=0.37,
    ...               start_time=datetime(2022, 1, 1, tzinfo=timezone.utc))
    >>> exposure_start_time(m, 1).isoformat()
    '2022-01-01T00:00:00.432880+00:00'
    """
    if meta.start_time is None:
        raise MissingMetadataError("START_TIME is unknown", path=meta.source)
    if meta.interframe_delay is None:
        raise MissingMetadataError("INTERFRAME_DELAY is unknown", path=meta.source)
    n = meta.n_exposures
    if index < 0:
        index += n
    step = meta.interframe_delay + INTERFRAME_DELTA
    return meta.start_time + timedelta(seconds=START_TIME_BIAS + index * step)


# ---------------------------------------------------------------------------
# Field parsers shared by the website JSON and PDS3 label readers


def _field(source: str | None, name: str, parse: Callable[[Any], Any], value: Any) -> Any:
    """Run ``parse(value)``; turn any failure into a MetadataError naming the field."""
    try:
        return parse(value)
    except MetadataError as err:
        raise MetadataError(f"{name}: {err.message}", path=source) from None
    except (TypeError, ValueError, OverflowError) as err:
        raise MetadataError(f"{name}: cannot parse {value!r} ({err})", path=source) from None


def _parse_time(value: Any) -> datetime:
    """Parse a UTC time such as ``2022-07-05T12:13:37.407`` (or day-of-year form)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip().removesuffix("Z").removesuffix("z")
        if re.match(r"^\d{4}-\d{3}T", text):
            fmt = "%Y-%jT%H:%M:%S.%f" if "." in text else "%Y-%jT%H:%M:%S"
            dt = datetime.strptime(text, fmt)
        else:
            dt = datetime.fromisoformat(text)
    else:
        raise MetadataError(f"expected a time string, got {type(value).__name__}")
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _parse_int(value: Any) -> int:
    """Parse an integer given as int or decimal string (not bool, not fractional)."""
    if isinstance(value, bool):
        raise MetadataError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise MetadataError(f"expected an integer, got {value!r}")


def _parse_float(value: Any) -> float:
    """Parse a plain number (int, float or numeric string, unit ignored)."""
    if _is_pvl_quantity(value):
        value = value.value
    return parse_quantity(value)[0]


def _parse_km(value: Any) -> float:
    """Parse a distance to kilometres (``"269171.4 <km>"``; unitless means km)."""
    unit: str | None
    if _is_pvl_quantity(value):
        number, unit = float(value.value), str(value.units)
    else:
        number, unit = parse_quantity(value)
    scale = {None: 1.0, "km": 1.0, "m": 1e-3}
    key = None if unit is None else unit.strip().lower()
    if key not in scale:
        raise MetadataError(f"unknown distance unit {unit!r}")
    return number * scale[key]


def _duration(default_unit: str) -> Callable[[Any], float]:
    """A duration parser (JSON ``"0.372 <s>"`` or pvl Quantity) with a default unit."""

    def parse(value: Any) -> float:
        if _is_pvl_quantity(value):
            value = f"{value.value} <{value.units}>"
        return parse_duration(value, default_unit=default_unit)

    return parse


def _parse_filters(value: Any) -> tuple[Filter, ...]:
    """Parse FILTER_NAME: a list/tuple of names (or one name) into Filters."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise MetadataError(f"expected a list of filter names, got {type(value).__name__}")
    return tuple(Filter.parse(v) for v in value)


def _parse_str(value: Any) -> str:
    if not isinstance(value, str):
        raise MetadataError(f"expected a string, got {type(value).__name__}")
    return value.strip()


def _is_pvl_quantity(value: Any) -> bool:
    return hasattr(value, "value") and hasattr(value, "units") and isinstance(value, tuple)


def _product_id(data: Mapping[str, Any], source: str | None) -> str:
    """PRODUCT_ID, else FILE_NAME without extension and ``-raw`` suffix."""
    if "PRODUCT_ID" in data:
        return _field(source, "PRODUCT_ID", _parse_str, data["PRODUCT_ID"])
    if "FILE_NAME" in data:
        name = _field(source, "FILE_NAME", _parse_str, data["FILE_NAME"])
        return product_id_from_filename(name)
    raise MetadataError("neither PRODUCT_ID nor FILE_NAME is present", path=source)


def product_id_from_filename(name: str | os.PathLike[str]) -> str:
    """Product id from a file name: strip folders, extension and a ``-raw`` suffix.

    Examples
    --------
    >>> product_id_from_filename("raw/JNCE_2022186_43C00078_V01-raw.png")
    'JNCE_2022186_43C00078_V01'
    """
    stem = os.path.basename(os.fspath(name))
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    for suffix in ("-raw", "_raw", "-RAW"):
        stem = stem.removesuffix(suffix)
    return stem


def _optional(
    data: Mapping[str, Any], source: str | None, parse: Callable[[Any], Any], *names: str
) -> Any:
    """Parse the first present, non-placeholder field of ``names``; None if none is."""
    for name in names:
        if name in data and data[name] not in (None, "", "N/A", "UNK", "NULL"):
            return _field(source, name, parse, data[name])
    return None


def from_website_json(
    data: Mapping[str, Any], source: str | os.PathLike[str] | None = None
) -> FrameMeta:
    """Build :class:`FrameMeta` from the mission website's ``*-Metadata.json`` content.

    Parameters
    ----------
    data : Mapping
        The decoded JSON object.
    source : str or os.PathLike, optional
        Path of the JSON file, used in error messages and recorded in ``source``.

    Returns
    -------
    FrameMeta
        Times as timezone-aware UTC datetimes, durations in seconds, PJ as int.
        A missing SAMPLE_BIT_MODE_ID is assumed to be ``SQROOT`` (as every website raw
        PNG is) and a missing LINE_SAMPLES 1648; both are then listed in ``assumed``.

    Raises
    ------
    MetadataError
        If FILTER_NAME, LINES (or FILE_RECORDS) or the product id are missing, or a
        field has the wrong type or cannot be parsed; the message names the field.

    Examples
    --------
    >>> meta = from_website_json({"PRODUCT_ID": "JNCE_2022186_43C00078_V01",
    ...     "FILTER_NAME": ["BLUE", "GREEN", "RED"], "LINES": 4608,
    ...     "INTERFRAME_DELAY": "0.372 <s>", "EXPOSURE_DURATION": "19.200000 <ms>",
    ...     "START_TIME": "2022-07-05T12:13:37.407", "PJ": "43"})
    >>> meta.n_exposures, meta.interframe_delay, meta.exposure_duration, meta.perijove
    (12, 0.372, 0.0192, 43)
    >>> meta.assumed
    ('companding', 'line_samples')
    """
    src = None if source is None else os.fspath(source)
    if not isinstance(data, Mapping):
        raise MetadataError(f"metadata must be a JSON object, got {type(data).__name__}", path=src)
    assumed: list[str] = []
    if "FILTER_NAME" not in data:
        raise MetadataError(
            "FILTER_NAME is missing: cannot tell which bands the strip holds", path=src
        )
    filters = _field(src, "FILTER_NAME", _parse_filters, data["FILTER_NAME"])
    lines = _optional(data, src, _parse_int, "LINES", "FILE_RECORDS")
    if lines is None:
        raise MetadataError("LINES is missing", path=src)
    line_samples = _optional(data, src, _parse_int, "LINE_SAMPLES")
    if line_samples is None:
        line_samples = LINE_SAMPLES
        assumed.append("line_samples")
    companding = _optional(data, src, Companding.parse, "SAMPLE_BIT_MODE_ID")
    if companding is None:
        companding = Companding.SQROOT
        assumed.insert(0, "companding")
    return _build(
        src,
        data,
        product_id=_product_id(data, src),
        filters=filters,
        lines=lines,
        line_samples=line_samples,
        companding=companding,
        assumed=tuple(assumed),
    )


def _build(src: str | None, data: Mapping[str, Any], **known: Any) -> FrameMeta:
    """Parse the optional fields common to JSON and PVL and construct FrameMeta."""
    sampling = _optional(data, src, _parse_int, "SAMPLING_FACTOR")
    try:
        return FrameMeta(
            start_time=_optional(data, src, _parse_time, "START_TIME"),
            stop_time=_optional(data, src, _parse_time, "STOP_TIME"),
            interframe_delay=_optional(data, src, _duration("s"), "INTERFRAME_DELAY"),
            exposure_duration=_optional(data, src, _duration("ms"), "EXPOSURE_DURATION"),
            tdi_stages=_optional(data, src, _parse_int, "JNO:TDI_STAGES_COUNT"),
            sampling_factor=1 if sampling is None else sampling,
            target=_optional(data, src, _parse_str, "TARGET_NAME"),
            title=_optional(data, src, _parse_str, "TITLE"),
            perijove=_optional(data, src, _parse_int, "PJ", "ORBIT_NUMBER"),
            sub_spacecraft_lat_deg=_optional(data, src, _parse_float, "SUB_SPACECRAFT_LATITUDE"),
            sub_spacecraft_lon_deg=_optional(data, src, _parse_float, "SUB_SPACECRAFT_LONGITUDE"),
            spacecraft_altitude_km=_optional(data, src, _parse_km, "SPACECRAFT_ALTITUDE"),
            source=src,
            extra=dict(data),
            **known,
        )
    except MetadataError as err:
        raise MetadataError(err.message, path=src) from None


def from_pds3_label(
    label: Mapping[str, Any] | str | bytes, source: str | os.PathLike[str] | None = None
) -> FrameMeta:
    """Build :class:`FrameMeta` from a PDS3 EDR/RDR label.

    Parameters
    ----------
    label : Mapping or str or bytes
        A label already parsed by :func:`pvl.load` / :func:`pvl.loads`, or its text.
    source : str or os.PathLike, optional
        Path of the label file, for messages and ``source``.

    Returns
    -------
    FrameMeta
        LINES and LINE_SAMPLES come from the ``IMAGE`` object. 16-bit samples (RDR)
        are already linear, so their companding is ``Companding.NONE`` whatever
        SAMPLE_BIT_MODE_ID says; 8-bit samples use SAMPLE_BIT_MODE_ID (assumed
        ``SQROOT`` when absent, and listed in ``assumed``).

    Raises
    ------
    MetadataError
        If the text is not valid PVL, the IMAGE object or FILTER_NAME is missing,
        or a value cannot be parsed; the message names the field.

    Examples
    --------
    >>> meta = from_pds3_label('''PRODUCT_ID = "JNCE_2017038_04C00586_V01"
    ... FILTER_NAME = ('BLUE', 'GREEN', 'RED')
    ... INTERFRAME_DELAY = 0.376 <s>
    ... OBJECT = IMAGE
    ...   LINES = 3072
    ...   LINE_SAMPLES = 1648
    ...   SAMPLE_BITS = 8
    ... END_OBJECT = IMAGE
    ... END''')
    >>> meta.n_exposures, meta.interframe_delay, meta.companding.value
    (8, 0.376, 'SQROOT')
    """
    src = None if source is None else os.fspath(source)
    if isinstance(label, (str, bytes)):
        label = _loads_pvl(label, src)
    if not isinstance(label, Mapping):
        raise MetadataError(f"label must be a mapping, got {type(label).__name__}", path=src)
    image = label.get("IMAGE")
    if not isinstance(image, Mapping):
        raise MetadataError("the label has no IMAGE object", path=src)
    if "FILTER_NAME" not in label:
        raise MetadataError(
            "FILTER_NAME is missing: cannot tell which bands the strip holds", path=src
        )
    filters = _field(src, "FILTER_NAME", _parse_filters, label["FILTER_NAME"])
    if "LINES" not in image:
        raise MetadataError("IMAGE.LINES is missing", path=src)
    lines = _field(src, "IMAGE.LINES", _parse_int, image["LINES"])
    line_samples = _field(
        src, "IMAGE.LINE_SAMPLES", _parse_int, image.get("LINE_SAMPLES", LINE_SAMPLES)
    )
    bits = _field(src, "IMAGE.SAMPLE_BITS", _parse_int, image.get("SAMPLE_BITS", 8))
    assumed: list[str] = []
    if bits == 16:
        companding = Companding.NONE
    elif bits == 8:
        companding = _optional(label, src, Companding.parse, "SAMPLE_BIT_MODE_ID")
        if companding is None:
            companding = Companding.SQROOT
            assumed.append("companding")
    else:
        raise MetadataError(f"IMAGE.SAMPLE_BITS is {bits}; only 8 and 16 are supported", path=src)
    if "LINE_SAMPLES" not in image:
        assumed.append("line_samples")
    data = dict(label)
    return _build(
        src,
        data,
        product_id=_product_id(data, src),
        filters=filters,
        lines=lines,
        line_samples=line_samples,
        companding=companding,
        assumed=tuple(assumed),
    )


def _import_pvl() -> Any:
    """Import pvl, silencing the deprecation notices it emits about itself on import."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", ImportWarning)
        import pvl
    return pvl


def _safe_pvl_parser() -> Any:
    """pvl's permissive OmniParser, stopped where it would loop forever.

    pvl 1.3's OmniParser recovery hook asks to keep parsing without consuming a
    token for input such as ``A = 1`` followed by a line `` = "x"``, so
    ``pvl.loads`` never returns. This subclass raises instead when the hook makes
    no progress.
    """
    pvl = _import_pvl()

    class SafeOmniParser(pvl.parser.OmniParser):  # type: ignore[name-defined]
        def parse_module_post_hook(self, module: Any, tokens: Any) -> tuple[Any, bool]:
            before = (len(module), _peek_pos(tokens))
            module, keep = super().parse_module_post_hook(module, tokens)
            if keep and (len(module), _peek_pos(tokens)) == before:
                raise ValueError("unexpected '=' where a parameter name was expected")
            return module, keep

    return SafeOmniParser()


def _peek_pos(tokens: Any) -> int | None:
    """Position of the next token of a pvl token generator, without consuming it."""
    try:
        token = next(tokens)
    except StopIteration:
        return None
    tokens.send(token)
    return getattr(token, "pos", None)


#: The largest PDS3 label text pvl is given, in characters. A JunoCam EDR label is
#: about 2.5 KB (JNCE_2017038_04C00586_V01.LBL: 2,556 bytes); this leaves room for
#: long DESCRIPTION texts while bounding pvl's character-by-character lexer.
MAX_LABEL_CHARS = 1 << 16
#: The most words and symbols (``=``, brackets, commas) a label may have outside
#: quoted text and comments. pvl's permissive parser tries every date and time
#: format on each unquoted word: measured here at 0.2-0.6 ms per token whatever the
#: label's shape, so 2,000 tokens parse in 0.2-1.2 s (1.9 s with a 60 KB comment),
#: while a corrupt label of 32 KB of ``A=B`` lines took 15 s. The JunoCam label
#: above has 150.
MAX_LABEL_TOKENS = 2000
# an unclosed quote or comment runs to the end, so no text is scanned twice
_PVL_QUOTED_OR_COMMENT = re.compile(r"\"[^\"]*\"?|'[^']*'?|/\*(?:.*?\*/|.*)", re.DOTALL)
_PVL_TOKEN = re.compile(r"[^\s=(){},<>\"'/]+|[=(){},<>]")


def _check_label_size(text: str, src: str | None) -> None:
    """Refuse, before parsing, a label too large for pvl to parse in a second or two."""
    if len(text) > MAX_LABEL_CHARS:
        raise MetadataError(
            f"the PDS3 label is {len(text)} characters long, more than the "
            f"{MAX_LABEL_CHARS} allowed (a JunoCam label is about 2,500); refused before "
            "parsing",
            path=src,
        )
    tokens = sum(1 for _ in _PVL_TOKEN.finditer(_PVL_QUOTED_OR_COMMENT.sub(" ", text)))
    if tokens > MAX_LABEL_TOKENS:
        raise MetadataError(
            f"the PDS3 label has {tokens} words and symbols outside quoted text and "
            f"comments, more than the {MAX_LABEL_TOKENS} allowed (a JunoCam label has "
            "about 150); refused before parsing",
            path=src,
        )


def _loads_pvl(text: str | bytes, src: str | None) -> Mapping[str, Any]:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    _check_label_size(text, src)
    pvl = _import_pvl()
    try:
        return pvl.loads(text, parser=_safe_pvl_parser())
    except Exception as err:  # pvl raises several exception types (LexerError, ...)
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MetadataError(f"malformed PVL label: {first}", path=src) from None


#: Filters assumed for a strip without metadata whose height fits them.
DEFAULT_FILTERS = (Filter.BLUE, Filter.GREEN, Filter.RED)
#: All four filters in readout order (the CCD's stripes top to bottom but methane first).
ALL_FILTERS = (Filter.METHANE, Filter.BLUE, Filter.GREEN, Filter.RED)


def guess_filters(
    lines: int, product_id: str | None = None, pixels: Any = None
) -> tuple[Filter, ...] | None:
    """The filters of a raw strip without metadata, from its name, height and framelets.

    1. The product id's letter after the perijove number says what the product is:
       ``C`` a colour (BLUE, GREEN, RED) strip, ``M`` a methane one
       (``JNCE_2022186_43M00081_V01``).
    2. Otherwise the height allows RGB (a multiple of 3 x 128 lines), all four bands
       (4 x 128) or one band. When more than one fits and the pixels are given, the
       framelets decide: each filter's framelets come from its own stripe of the CCD,
       so their fixed pattern (hot columns, TDI streaks) repeats with the period of
       the band count. The lag at which consecutive framelets' column patterns
       correlate best is the number of bands (1: a single band, taken as METHANE).
       On the real PJ36-PJ44 frames the lag-3 correlation of RGB strips is 0.41-0.49
       against 0.25-0.34 at the other lags, and methane strips peak at lag 1.
    3. Else RGB when the height fits, as the website's strips mostly are.

    Returns None when nothing fits (a height that is no multiple of 384 lines and
    no telling name): the caller must ask for the filters.

    Examples
    --------
    >>> [f.value for f in guess_filters(1536, "JNCE_2022186_43M00081_V01")]
    ['METHANE']
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> stripes = rng.normal(0, 3, (3, 1648))                # each band's column pattern
    >>> rgb = np.concatenate([np.tile(stripes[k % 3], (128, 1)) for k in range(12)]) + 40
    >>> [f.value for f in guess_filters(1536, "x", rgb)]
    ['BLUE', 'GREEN', 'RED']
    >>> one = np.tile(stripes[0], (1536, 1)) + 40            # one stripe only
    >>> [f.value for f in guess_filters(1536, "x", one)]
    ['METHANE']
    >>> guess_filters(1664, "x") is None
    True
    """
    import re

    import numpy as np

    rgb = lines > 0 and lines % (FRAMELET_LINES * 3) == 0
    four = lines > 0 and lines % (FRAMELET_LINES * 4) == 0
    m = re.search(r"_\d{2}([A-Z])\d{5}", product_id or "")
    if m and m.group(1) == "C" and rgb:
        return DEFAULT_FILTERS
    if m and m.group(1) == "M":
        return (Filter.METHANE,)
    if pixels is not None and lines % FRAMELET_LINES == 0 and lines >= 8 * FRAMELET_LINES:
        lag = _fixed_pattern_lags(np.asarray(pixels), lines // FRAMELET_LINES)
        for period, ok, flt in ((3, rgb, DEFAULT_FILTERS), (4, four, ALL_FILTERS)):
            if ok and lag[period] == max(lag.values()) and lag[period] > lag[1] + 0.05:
                return flt
        if lag[1] >= max(lag.values()) - 0.03:
            # no band period: one band, and methane-only is the one-band product
            return (Filter.METHANE,)
    return DEFAULT_FILTERS if rgb else None


def _fixed_pattern_lags(pixels: Any, n: int) -> dict[int, float]:
    """Mean correlation of framelets' column patterns at lags 1-4 (see guess_filters)."""
    import numpy as np
    from scipy import ndimage

    fl = np.asarray(pixels, np.float32).reshape(n, FRAMELET_LINES, -1)[:, :, 23:1631]
    prof = np.median(fl, axis=1)
    hp = prof - ndimage.median_filter(prof, size=(1, 9))
    hp -= hp.mean(axis=1, keepdims=True)
    hp /= np.linalg.norm(hp, axis=1, keepdims=True) + 1e-9
    return {lag: float(np.mean(np.sum(hp[:-lag] * hp[lag:], axis=1))) for lag in (1, 2, 3, 4)}


def assumed_meta(
    lines: int,
    filters: Sequence[Filter | str] | None = None,
    interframe_delay: float | None = None,
    source: str | os.PathLike[str] | None = None,
    pixels: Any = None,
) -> FrameMeta:
    """Metadata for a raw PNG that comes without any metadata file.

    Everything except ``lines`` is assumed and listed in ``assumed``: the product id
    (from the file name), the filters (given, or guessed by :func:`guess_filters`
    from the name, the height and the framelets), SQROOT companding (as on the
    mission website), the 1648-sample width, and the interframe delay (given, or
    :data:`NOMINAL_INTERFRAME_DELAY`: the spin fit measures the turn per exposure).

    Parameters
    ----------
    lines : int
        Image height.
    filters : sequence of Filter or str, optional
        Filters in readout order, for example from ``--filters``.
    interframe_delay : float, optional
        Seconds between exposures, for example from ``--interframe-delay``.
    source : str or os.PathLike, optional
        The image path; gives the product id and is used in messages.
    pixels : numpy.ndarray, optional
        The raw strip, for guessing the filters from its framelets.

    Returns
    -------
    FrameMeta

    Raises
    ------
    MissingMetadataError
        If no filters are given and the height is not a whole number of RGB
        exposures (3 x 128 lines).

    Examples
    --------
    >>> m = assumed_meta(6912, source="JNCE_2021246_36C00061_V01-raw.png")
    >>> m.product_id, [f.value for f in m.filters], m.n_exposures
    ('JNCE_2021246_36C00061_V01', ['BLUE', 'GREEN', 'RED'], 18)
    >>> m.assumed, m.interframe_delay
    (('product_id', 'filters', 'companding', 'line_samples', 'interframe_delay'), 0.372)
    """
    src = None if source is None else os.fspath(source)
    pid = product_id_from_filename(src) if src else "unknown"
    if filters is None:
        block = FRAMELET_LINES * len(DEFAULT_FILTERS)
        guess = guess_filters(lines, pid, pixels)
        if guess is None:
            raise MissingMetadataError(
                f"no metadata, and the height {lines} is not a multiple of {block} lines "
                "(an RGB strip), so the filters cannot be assumed: give the metadata "
                "file or the filters",
                path=src,
            )
        flt = guess
    else:
        flt = _field(src, "filters", _parse_filters, list(filters))
    assumed = ["product_id", "filters", "companding", "line_samples", "interframe_delay"]
    if interframe_delay is None:
        interframe_delay = NOMINAL_INTERFRAME_DELAY
    try:
        return FrameMeta(
            product_id=pid,
            filters=flt,
            lines=lines,
            companding=Companding.SQROOT,
            interframe_delay=interframe_delay,
            source=None,
            assumed=tuple(assumed),
        )
    except MetadataError as err:
        raise MetadataError(err.message, path=src) from None
