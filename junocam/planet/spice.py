"""SPICE kernels: where Juno was, where the Sun was and (with a CK) where JunoCam pointed.

This is the only module that talks to the NAIF SPICE toolkit (through ``spiceypy``,
the optional extra ``junocam[spice]``). It turns a frame's metadata and a set of
kernels into an :class:`Ephemeris`: small arrays per exposure that the pure
geometry code (:mod:`junocam.planet`, :mod:`junocam.planet.navigate`,
:mod:`junocam.planet.projection`) uses without SPICE.

SPICE keeps its kernel pool in process-global state and is not thread-safe, so
kernels are loaded only inside :func:`furnished`, which holds a lock, clears the
pool, loads exactly the given kernels and clears them again on exit. Parallel work
uses processes (``junocam batch`` does), each loading its own kernels. Nothing is
ever downloaded.

Timing follows the IK (``juno_junocam_v03.ti``): exposure ``i`` starts at
``START_TIME + START_TIME_BIAS + i * (INTERFRAME_DELAY + INTERFRAME_DELTA)`` and its
geometry is evaluated at mid-exposure, ``EXPOSURE_DURATION / 2`` later, with
light-time and stellar-aberration correction (``LT+S``), as ISIS does.

Examples
--------
>>> from junocam.planet.spice import KernelSet
>>> KernelSet.from_path("/no/such/folder")            # doctest: +ELLIPSIS
Traceback (most recent call last):
...
junocam.errors.KernelError: /no/such/folder: kernel path does not exist
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeometryError, KernelError, MissingEphemerisError, MissingMetadataError
from ..metadata import INTERFRAME_DELTA, START_TIME_BIAS, FrameMeta
from .spheroid import Ellipsoid, planetographic
from .targets import JUPITER_TARGET, TARGETS, Target, target_named, target_of

__all__ = [
    "KernelSet",
    "Ephemeris",
    "furnished",
    "exposure_times",
    "frame_ephemeris",
    "sub_spacecraft",
    "geometry_report",
    "require_spiceypy",
    "resolve_target",
    "JUNO",
    "JUPITER_NAME",
    "CAMERA_FRAME",
]

#: NAIF names used throughout [NAIF IDs: Juno -61, Jupiter 599; FK juno_v12.tf].
JUNO = "JUNO"
JUPITER_NAME = "JUPITER"
BODY_FRAME = "IAU_JUPITER"
CAMERA_FRAME = "JUNO_JUNOCAM"
#: Aberration correction of every observer-target vector (light time + stellar).
ABCORR = "LT+S"

# Load order: time and constants first, then frames, then data kernels, so a text
# kernel never needs a binary one and later files override earlier ones as SPICE
# intends (a reconstructed SPK after a predicted one of the same name sorts later).
_KIND_ORDER = {
    ".tls": 0,
    ".tpc": 1,
    ".tf": 2,
    ".ti": 3,
    ".tsc": 4,
    ".bpc": 5,
    ".bsp": 6,
    ".bc": 7,
}
_TRANSFER = {".xc", ".xsp", ".xpc"}
_META = {".tm", ".mk"}

_LOCK = threading.RLock()


def require_spiceypy() -> Any:
    """Import ``spiceypy`` or raise a :class:`KernelError` saying how to get it.

    Examples
    --------
    >>> require_spiceypy().__name__
    'spiceypy'
    """
    try:
        import spiceypy
    except ImportError:
        raise KernelError("SPICE geometry needs spiceypy: pip install 'junocam[spice]'") from None
    return spiceypy


@dataclass(frozen=True)
class KernelSet:
    """The kernel files to load, in load order.

    Parameters
    ----------
    paths : tuple of str
        Kernel files (or one meta-kernel) in the order SPICE loads them.
    source : str
        What the user gave (a folder or a meta-kernel), for messages.
    skipped : tuple of (str, str)
        Files in a folder that were not loaded and why (e.g. transfer format).

    Examples
    --------
    >>> ks = KernelSet(paths=("a.tls", "b.bsp"), source="kernels/")
    >>> ks.kinds()
    ['.bsp', '.tls']
    """

    paths: tuple[str, ...]
    source: str
    skipped: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def from_path(
        cls, path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
    ) -> KernelSet:
        """Kernels from a folder (every kernel in it, sorted by kind), a meta-kernel,
        a single kernel file, or a list of any of these.

        Raises
        ------
        KernelError
            If a path does not exist or holds no kernel.
        """
        if isinstance(path, (list, tuple)):
            sets = [cls.from_path(p) for p in path]
            paths = tuple(p for s in sets for p in s.paths)
            return cls(
                _sorted(paths),
                ", ".join(s.source for s in sets),
                tuple(x for s in sets for x in s.skipped),
            )
        p = Path(path)  # type: ignore[arg-type]  # one path here: sequences returned above
        if not p.exists():
            raise KernelError("kernel path does not exist", path=str(p))
        if p.is_dir():
            found: list[str] = []
            skipped: list[tuple[str, str]] = []
            for f in sorted(p.iterdir()):
                ext = f.suffix.lower()
                if not f.is_file():
                    continue
                if ext in _KIND_ORDER:
                    found.append(str(f))
                elif ext in _TRANSFER:
                    skipped.append(
                        (str(f), "SPICE transfer format; convert it with NAIF's tobin first")
                    )
                elif ext in _META:
                    skipped.append((str(f), "meta-kernel inside a folder; pass it directly"))
            if not found:
                raise KernelError(
                    "no SPICE kernels (.tls .tpc .tf .ti .tsc .bpc .bsp .bc) in this folder",
                    path=str(p),
                )
            return cls(_sorted(tuple(found)), str(p), tuple(skipped))
        ext = p.suffix.lower()
        if ext in _TRANSFER:
            raise KernelError(
                "SPICE transfer-format kernel; convert it with NAIF's tobin first", path=str(p)
            )
        if ext not in _KIND_ORDER and not _is_meta_kernel(p):
            raise KernelError(
                "not a SPICE kernel or meta-kernel (unknown extension and no KERNELS_TO_LOAD)",
                path=str(p),
            )
        return cls((str(p),), str(p))

    def kinds(self) -> list[str]:
        """Sorted distinct file extensions (``.tm`` for a meta-kernel)."""
        return sorted({Path(p).suffix.lower() for p in self.paths})


def _sorted(paths: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(paths, key=lambda s: (_KIND_ORDER.get(Path(s).suffix.lower(), -1), s)))


def _is_meta_kernel(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return b"KERNELS_TO_LOAD" in head and b"\\begindata" in head


def _spice_message(err: Exception) -> str:
    """The short SPICE error plus the first sentence of the long one."""
    short = getattr(err, "short", "") or ""
    long = " ".join((getattr(err, "long", "") or str(err)).split())
    first = re.split(r"(?<=[.])\s", long, maxsplit=1)[0]
    return f"{short} {first}".strip()


@contextlib.contextmanager
def furnished(kernels: KernelSet) -> Iterator[Any]:
    """Load ``kernels`` into SPICE for the duration of the block; yield ``spiceypy``.

    Holds a process-wide lock (SPICE is not thread-safe) and clears the kernel pool
    before and after, so nothing loaded by earlier calls leaks into this one.

    Raises
    ------
    KernelError
        If spiceypy is missing or a kernel cannot be loaded (named in the message).

    Examples
    --------
    Synthetic kernels of a made-up pass stand in for real ones here:

    >>> import tempfile
    >>> from junocam.planet.simkernels import write_pass_kernels
    >>> folder = tempfile.mkdtemp()
    >>> truth = write_pass_kernels(folder)
    >>> ks = KernelSet.from_path(folder)
    >>> with furnished(ks) as sp:
    ...     et = sp.str2et("2026-11-25T12:00:00")
    ...     radii = sp.bodvrd("JUPITER", "RADII", 3)[1]
    >>> round(et, 3), radii.tolist()
    (848880069.183, [71492.0, 71492.0, 66854.0])
    >>> require_spiceypy().ktotal("ALL")   # nothing stays loaded after the block
    0
    """
    sp = require_spiceypy()
    with _LOCK:
        sp.kclear()
        try:
            for path in kernels.paths:
                try:
                    sp.furnsh(path)
                except sp.utils.exceptions.SpiceyError as err:
                    raise KernelError(
                        f"SPICE cannot load this kernel: {_spice_message(err)}", path=path
                    ) from None
            yield sp
        finally:
            sp.kclear()


@dataclass(frozen=True)
class Ephemeris:
    """Geometry of every exposure of a frame, in Jupiter's body-fixed frame.

    All arrays have one row per exposure; positions in km, times in TDB seconds past
    J2000 (SPICE ET), at mid-exposure.

    Attributes
    ----------
    product_id : str
    et : numpy.ndarray, shape (n,)
        Mid-exposure epochs.
    utc : tuple of str
        The same epochs as ISO UTC strings (ms precision).
    observer : numpy.ndarray, shape (n, 3)
        Juno's position relative to Jupiter's centre in IAU_JUPITER at the epoch the
        light left Jupiter (light-time and aberration corrected).
    observer_velocity : numpy.ndarray, shape (n, 3)
        Its rate of change, km/s (from the SPK, in the same frame).
    sun : numpy.ndarray, shape (n, 3)
        Unit vector from Jupiter's centre to the Sun, IAU_JUPITER.
    j2000_to_body : numpy.ndarray, shape (n, 3, 3)
        Rotation from J2000 to IAU_JUPITER at the light-time corrected epoch.
    camera_to_j2000 : numpy.ndarray, shape (n, 3, 3) or None
        JunoCam's attitude from a CK, when one was loaded.
    camera_rate : numpy.ndarray, shape (n, 3) or None
        The camera's angular velocity in J2000 (rad/s), from the CK.
    body : Ellipsoid
        The target's radii from the PCK.
    target : Target
        The body the geometry is relative to (default Jupiter); "Jupiter" and
        IAU_JUPITER above read as this body and its IAU frame.
    """

    product_id: str
    et: np.ndarray
    utc: tuple[str, ...]
    observer: np.ndarray
    observer_velocity: np.ndarray
    sun: np.ndarray
    j2000_to_body: np.ndarray
    camera_to_j2000: np.ndarray | None
    camera_rate: np.ndarray | None
    body: Ellipsoid
    target: Target = JUPITER_TARGET

    @property
    def n_exposures(self) -> int:
        """Number of exposures."""
        return int(self.et.size)

    @property
    def has_attitude(self) -> bool:
        """Whether a CK supplied the camera attitude."""
        return self.camera_to_j2000 is not None

    def shifted(self, dt: float) -> Ephemeris:
        """First-order copy for epochs ``dt`` seconds later (dt of milliseconds).

        The observer moves by its velocity and a CK attitude turns by its angular
        velocity; Jupiter's own rotation in a few ms (< 1e-6 rad) is neglected.

        Examples
        --------
        >>> e = Ephemeris("X", np.zeros(1), ("",), np.array([[1e5, 0, 0]]),
        ...               np.array([[0, 10.0, 0]]), np.array([[1.0, 0, 0]]),
        ...               np.eye(3)[None], None, None, Ellipsoid(1, 1, 1))
        >>> e.shifted(0.5).observer.tolist()
        [[100000.0, 5.0, 0.0]]
        """
        from ..spin import rotation_matrix

        cam = self.camera_to_j2000
        if cam is not None and self.camera_rate is not None:
            w = self.camera_rate
            rate = np.linalg.norm(w, axis=1)
            axes = np.where(rate[:, None] > 0, w / np.maximum(rate, 1e-300)[:, None], [0, 0, 1.0])
            turn = np.stack([rotation_matrix(a, r * dt) for a, r in zip(axes, rate, strict=True)])
            cam = turn @ cam
        return Ephemeris(
            product_id=self.product_id,
            et=self.et + dt,
            utc=self.utc,
            observer=self.observer + self.observer_velocity * dt,
            observer_velocity=self.observer_velocity,
            sun=self.sun,
            j2000_to_body=self.j2000_to_body,
            camera_to_j2000=cam,
            camera_rate=self.camera_rate,
            body=self.body,
            target=self.target,
        )


def exposure_times(meta: FrameMeta, offset: float = 0.0) -> np.ndarray:
    """Mid-exposure times in seconds after START_TIME for every exposure [IK].

    ``START_TIME_BIAS + i * (INTERFRAME_DELAY + INTERFRAME_DELTA) +
    EXPOSURE_DURATION / 2 + offset``.

    Raises
    ------
    MissingMetadataError
        If INTERFRAME_DELAY is unknown.

    Examples
    --------
    >>> from junocam.metadata import Companding, Filter
    >>> m = FrameMeta("X", (Filter.RED,), 256, Companding.SQROOT, interframe_delay=0.372,
    ...               exposure_duration=0.0192)
    >>> exposure_times(m).round(5).tolist()
    [0.07148, 0.44448]
    """
    if meta.interframe_delay is None:
        raise MissingMetadataError("INTERFRAME_DELAY is unknown", path=meta.source)
    half = 0.5 * (meta.exposure_duration or 0.0)
    i = np.arange(meta.n_exposures, dtype=np.float64)
    return START_TIME_BIAS + i * (meta.interframe_delay + INTERFRAME_DELTA) + half + offset


def _start_et(sp: Any, meta: FrameMeta) -> float:
    if meta.start_time is None:
        raise MissingMetadataError(
            "START_TIME is unknown: SPICE geometry needs it", path=meta.source
        )
    t = meta.start_time
    text = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}"
    return float(sp.str2et(text))


def resolve_target(meta: FrameMeta, target: Target | str | None = None) -> Target:
    """The body a frame's geometry is computed for.

    An explicit ``target`` (a :class:`Target` or a name such as ``"IO"``) wins;
    otherwise the metadata's TARGET_NAME (Jupiter when absent or not a body).

    Examples
    --------
    >>> from junocam.metadata import assumed_meta
    >>> resolve_target(assumed_meta(384)).name, resolve_target(assumed_meta(384), "io").name
    ('JUPITER', 'IO')
    """
    if isinstance(target, Target):
        return target
    if target is not None:
        return target_named(target)
    return target_of(meta.target)


def _check_text_kernels(sp: Any, kernels: KernelSet, target: Target = JUPITER_TARGET) -> None:
    if not sp.expool("DELTET/DELTA_AT"):
        raise KernelError(
            "no leapseconds kernel (LSK, e.g. naif0012.tls) among the loaded kernels",
            path=kernels.source,
        )
    if not sp.bodfnd(target.naif_id, "RADII"):
        raise KernelError(
            f"no planetary constants for {target.name} (BODY{target.naif_id}_RADII): "
            "load a PCK such as pck00010.tpc",
            path=kernels.source,
        )


def _loaded_spks(sp: Any, kernels: KernelSet) -> list[str]:
    """Every SPK file in the pool (through meta-kernels too)."""
    files = [p for p in kernels.paths if Path(p).suffix.lower() == ".bsp"]
    try:
        for i in range(int(sp.ktotal("SPK"))):
            name = sp.kdata(i, "SPK")[0]
            if name not in files:
                files.append(name)
    except sp.utils.exceptions.SpiceyError:
        pass
    return files


def _covered(sp: Any, kernels: KernelSet, naif_id: int, et: float | None) -> bool:
    """Whether a loaded SPK has data for ``naif_id`` at ``et`` (None: at any time)."""
    for path in _loaded_spks(sp, kernels):
        try:
            cover = sp.spkcov(path, naif_id)
        except sp.utils.exceptions.SpiceyError:
            continue
        for k in range(sp.wncard(cover)):
            a, b = sp.wnfetd(cover, k)
            if et is None or a <= et <= b:
                return True
    return False


def _require_target_ephemeris(sp: Any, kernels: KernelSet, target: Target, et: float) -> None:
    """Raise :class:`MissingEphemerisError` naming the body, epoch and the kernel to load.

    Checked before any SPICE call so the message names what is missing instead of
    SPICE's generic "insufficient ephemeris data".
    """
    if _covered(sp, kernels, target.naif_id, et) or _covered(sp, kernels, target.naif_id, None):
        return  # present at another epoch: SPICE's failure then names the coverage
    raise MissingEphemerisError(
        f"no ephemeris for {target.name} (NAIF {target.naif_id}) at "
        f"{sp.et2utc(et, 'ISOC', 3)} UTC in the loaded kernels: load {target.spk_kind}",
        path=kernels.source,
    )


def _coverage_text(sp: Any, kernels: KernelSet, body: int) -> str:
    windows = []
    for path in kernels.paths:
        if Path(path).suffix.lower() != ".bsp":
            continue
        try:
            cover = sp.spkcov(path, body)
        except sp.utils.exceptions.SpiceyError:
            continue
        for k in range(sp.wncard(cover)):
            a, b = sp.wnfetd(cover, k)
            windows.append(f"{sp.et2utc(a, 'ISOC', 0)} to {sp.et2utc(b, 'ISOC', 0)}")
    return "; ".join(windows) if windows else "none"


def frame_ephemeris(
    meta: FrameMeta,
    kernels: KernelSet,
    *,
    time_offset: float = 0.0,
    use_ck: bool = True,
    target: Target | str | None = None,
) -> Ephemeris:
    """Juno's position, the Sun and (with a CK) the camera attitude for every exposure.

    Parameters
    ----------
    meta : FrameMeta
        Needs START_TIME, INTERFRAME_DELAY and (for mid-exposure) EXPOSURE_DURATION.
    kernels : KernelSet
        At least an LSK, a PCK and an SPK covering Juno and Jupiter (and the Sun).
        A frames kernel and CK for JUNO_JUNOCAM add the attitude.
    time_offset : float
        Seconds added to every exposure time (a start-time correction).
    use_ck : bool
        Read the attitude from a CK when the kernels can give it.
    target : Target or str, optional
        The body (default: the metadata's TARGET_NAME, see :func:`resolve_target`).
        Positions and the Sun are relative to it, in its IAU body-fixed frame.

    Returns
    -------
    Ephemeris

    Raises
    ------
    KernelError
        Naming what is missing: the LSK, the target's radii, SPK data for the epoch
        (with the loaded coverage), or an unknown frame;
        :class:`~junocam.errors.MissingEphemerisError` when no loaded SPK has the
        target (e.g. a moon without a satellite ephemeris).

    Examples
    --------
    A frame of three green exposures during a synthetic pass (its kernels include a
    CK, so the ephemeris carries the camera attitude too):

    >>> import tempfile
    >>> from datetime import datetime, timezone
    >>> from junocam.metadata import Companding, Filter
    >>> from junocam.planet.simkernels import write_pass_kernels
    >>> folder = tempfile.mkdtemp()
    >>> truth = write_pass_kernels(folder)
    >>> meta = FrameMeta("JNCS_TEST", (Filter.GREEN,), 384, Companding.SQROOT,
    ...                  start_time=datetime(2026, 11, 25, 12, tzinfo=timezone.utc),
    ...                  interframe_delay=0.372, exposure_duration=0.0096)
    >>> eph = frame_ephemeris(meta, KernelSet.from_path(folder))
    >>> eph.observer.shape, eph.has_attitude
    ((3, 3), True)
    >>> eph.utc
    ('2026-11-25T12:00:00.067', '2026-11-25T12:00:00.440', '2026-11-25T12:00:00.813')
    """
    offsets = exposure_times(meta, time_offset)
    target = resolve_target(meta, target)
    with furnished(kernels) as sp:
        _check_text_kernels(sp, kernels, target)
        err_t = sp.utils.exceptions.SpiceyError
        try:
            target = target.with_radii(sp.bodvrd(target.name, "RADII", 3)[1])
            body = target.ellipsoid
            et = _start_et(sp, meta) + offsets
            _require_target_ephemeris(sp, kernels, target, float(et[0]))
            n = et.size
            observer = np.empty((n, 3))
            velocity = np.empty((n, 3))
            sun = np.empty((n, 3))
            rot = np.empty((n, 3, 3))
            utc = []
            for k, t in enumerate(et):
                # the apparent state of the target seen from Juno: light left it lt earlier
                state, lt = sp.spkezr(target.name, t, "J2000", ABCORR, JUNO)
                tj = t - lt
                m = np.array(sp.sxform("J2000", target.frame, tj))
                rot[k] = m[:3, :3]
                # Juno relative to Jupiter, in the body frame (position and velocity)
                s_body = m @ -np.asarray(state)
                observer[k] = s_body[:3]
                velocity[k] = s_body[3:]
                sun_pos, _ = sp.spkpos("SUN", tj, "J2000", ABCORR, target.name)
                sv = rot[k] @ np.asarray(sun_pos)
                sun[k] = sv / np.linalg.norm(sv)
                utc.append(sp.et2utc(t, "ISOC", 3))
        except err_t as err:
            raise _kernel_error(sp, err, kernels, meta, target) from None
        cam, rate = (None, None)
        if use_ck and _has_ck(sp, kernels):
            cam, rate = _attitude(sp, et, kernels, meta)
    return Ephemeris(
        product_id=meta.product_id,
        et=et,
        utc=tuple(utc),
        observer=observer,
        observer_velocity=velocity,
        sun=sun,
        j2000_to_body=rot,
        camera_to_j2000=cam,
        camera_rate=rate,
        body=body,
        target=target,
    )


def _has_ck(sp: Any, kernels: KernelSet) -> bool:
    """Whether a CK is loaded: a meta-kernel counts only if it lists one (``junocam
    kernels`` writes meta-kernels without a CK when none covers the frames)."""
    if any(Path(p).suffix.lower() == ".bc" for p in kernels.paths):
        return True
    return bool(sp.ktotal("CK"))


def _attitude(
    sp: Any, et: np.ndarray, kernels: KernelSet, meta: FrameMeta
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Camera-to-J2000 matrices and angular velocity from the CK (None if no CK data)."""
    if sp.namfrm(CAMERA_FRAME) == 0:
        raise KernelError(
            f"frame {CAMERA_FRAME} is unknown to SPICE: load the Juno frames kernel "
            "(juno_vNN.tf) with the CK",
            path=kernels.source,
        )
    cam = np.empty((et.size, 3, 3))
    rate = np.empty((et.size, 3))
    h = 0.05  # s: the spin turns 0.6 degree, plenty for a finite difference
    try:
        for k, t in enumerate(et):
            cam[k] = sp.pxform(CAMERA_FRAME, "J2000", t)
            a = np.asarray(sp.pxform(CAMERA_FRAME, "J2000", t - h))
            b = np.asarray(sp.pxform(CAMERA_FRAME, "J2000", t + h))
            # b = R a with R = exp(W 2h): the axis-angle of b a^T is the angular velocity
            axis, angle = sp.raxisa(b @ a.T)
            rate[k] = np.asarray(axis) * angle / (2 * h)
    except sp.utils.exceptions.SpiceyError as err:
        short = getattr(err, "short", "") or ""
        if "CK" in short or "NOFRAMECONNECT" in short:
            # a CK is loaded but does not cover this frame: say so, do not guess
            raise KernelError(
                f"the loaded CK does not give {CAMERA_FRAME} attitude at "
                f"{sp.et2utc(float(et[0]), 'ISOC', 3)}: {_spice_message(err)}",
                path=kernels.source,
            ) from None
        raise _kernel_error(sp, err, kernels, meta) from None
    return cam, rate


def _kernel_error(
    sp: Any, err: Exception, kernels: KernelSet, meta: FrameMeta, target: Target = JUPITER_TARGET
) -> KernelError:
    short = getattr(err, "short", "") or ""
    when = meta.start_time.isoformat() if meta.start_time else "?"
    if "SPKINSUFFDATA" in short or "NOLOADEDFILES" in short:
        return KernelError(
            f"no SPK data for Juno/{target.name.title()}/Sun at {when} (frame "
            f"{meta.product_id}); Juno "
            f"coverage of the loaded SPKs: {_coverage_text(sp, kernels, -61)}",
            path=kernels.source,
        )
    if "UNKNOWNFRAME" in short or "NOFRAMECONNECT" in short or "FRAMEDATANOTFOUND" in short:
        return KernelError(
            f"SPICE does not know a frame it needs: {_spice_message(err)}", path=kernels.source
        )
    return KernelError(f"SPICE failed: {_spice_message(err)}", path=kernels.source)


def sub_spacecraft(
    meta: FrameMeta, kernels: KernelSet, et: np.ndarray, target: Target | str | None = None
) -> list[dict[str, float | str]]:
    """Planetographic latitude, west longitude and altitude under Juno.

    The nearest point on the target's reference ellipsoid (``NEAR POINT/ELLIPSOID``)
    with ``LT+S`` correction; altitude is the distance to it (km). Longitude is
    System III for Jupiter, the IAU prime meridian for a moon (see
    :mod:`junocam.planet.targets`); the target defaults to the metadata's.

    Examples
    --------
    The synthetic pass puts Juno 110 000 km above 40 S, 120 W at its middle:

    >>> import tempfile
    >>> from junocam.metadata import assumed_meta
    >>> from junocam.planet.simkernels import write_pass_kernels
    >>> folder = tempfile.mkdtemp()
    >>> truth = write_pass_kernels(folder)
    >>> p = sub_spacecraft(assumed_meta(384), KernelSet.from_path(folder),
    ...                    np.array([truth.mid_et]))[0]
    >>> p["utc"], round(p["lat_deg"], 3), round(p["lon_west_deg"], 2), round(p["alt_km"])
    ('2026-11-25T12:00:00.000', -40.0, 120.0, 109997)
    """
    target = resolve_target(meta, target)
    with furnished(kernels) as sp:
        _check_text_kernels(sp, kernels, target)
        return _sub_points(sp, meta, kernels, np.atleast_1d(et), target)


def _sub_points(
    sp: Any, meta: FrameMeta, kernels: KernelSet, et: np.ndarray, target: Target
) -> list[dict[str, float | str]]:
    """:func:`sub_spacecraft` with the kernels already loaded."""
    out: list[dict[str, float | str]] = []
    try:
        body = target.with_radii(sp.bodvrd(target.name, "RADII", 3)[1]).ellipsoid
        _require_target_ephemeris(sp, kernels, target, float(np.min(et)))
        for t in et:
            spoint, _, srfvec = sp.subpnt(
                "NEAR POINT/ELLIPSOID", target.name, float(t), target.frame, ABCORR, JUNO
            )
            # the normal's direction (planetographic), as the maps use, also for
            # triaxial moons (SPICE's recpgr assumes a spheroid)
            lat, lon = planetographic(np.asarray(spoint), body)
            out.append(
                {
                    "utc": sp.et2utc(float(t), "ISOC", 3),
                    "lat_deg": float(np.degrees(lat)),
                    "lon_west_deg": float(np.degrees(lon)) % 360.0,
                    "alt_km": float(np.linalg.norm(srfvec)),
                }
            )
    except sp.utils.exceptions.SpiceyError as err:
        raise _kernel_error(sp, err, kernels, meta, target) from None
    return out


def geometry_report(
    meta: FrameMeta,
    kernels: KernelSet,
    time_offset: float = 0.0,
    target: Target | str | None = None,
    camera_to_j2000: np.ndarray | None = None,
) -> dict[str, Any]:
    """The ``junocam geometry`` JSON: sub-spacecraft point per exposure and at mid-frame.

    ``target`` names the body (its NAIF id, frame, PCK radii and the latitude/longitude
    convention); it defaults to the metadata's TARGET_NAME. When the metadata carries
    SUB_SPACECRAFT_LATITUDE/LONGITUDE and SPACECRAFT_ALTITUDE, ``metadata_match``
    names the exposure that matches them best and the differences (degrees, degrees,
    km). ``bodies`` lists the other bodies of :data:`~junocam.planet.targets.TARGETS`
    whose ephemeris the kernels hold, at mid-frame: range, angular radius, angle
    from the target and, when the attitude is known, the exposures whose framelets
    see them (``in_view``; ``null`` without one). The attitude comes from
    ``camera_to_j2000`` when given (one camera-to-J2000 rotation per exposure, e.g.
    navigated: :meth:`junocam.planet.pointing.Pointing.camera_to_j2000`), else from a
    CK among the kernels; ``attitude`` says which (``"given"``, ``"ck"`` or ``null``).

    Examples
    --------
    >>> import tempfile
    >>> from datetime import datetime, timezone
    >>> from junocam.metadata import Companding, Filter
    >>> from junocam.planet.simkernels import write_pass_kernels
    >>> folder = tempfile.mkdtemp()
    >>> truth = write_pass_kernels(folder)
    >>> meta = FrameMeta("JNCS_TEST", (Filter.GREEN,), 384, Companding.SQROOT,
    ...                  start_time=datetime(2026, 11, 25, 12, tzinfo=timezone.utc),
    ...                  interframe_delay=0.372, exposure_duration=0.0096,
    ...                  sub_spacecraft_lat_deg=-40.0, sub_spacecraft_lon_deg=120.0,
    ...                  spacecraft_altitude_km=110000.0)
    >>> rep = geometry_report(meta, KernelSet.from_path(folder))
    >>> sorted(rep)
    ['attitude', 'bodies', 'exposures', 'kernels', 'metadata_match', 'mid', 'product_id', 'target']
    >>> rep["metadata_match"]["index"], rep["metadata_match"]["within_tolerance"]
    (0, True)
    >>> rep["target"]["name"], rep["target"]["convention"]
    ('JUPITER', 'planetographic latitude, west-positive longitude 0-360 deg (IAU WGCCRE)')
    """
    offsets = exposure_times(meta, time_offset)
    target = resolve_target(meta, target)
    with furnished(kernels) as sp:
        _check_text_kernels(sp, kernels, target)
        et = _start_et(sp, meta) + offsets
        points = _sub_points(sp, meta, kernels, np.append(et, 0.5 * (et[0] + et[-1])), target)
        target = target.with_radii(sp.bodvrd(target.name, "RADII", 3)[1])
        cam, source = None, None
        if camera_to_j2000 is not None:
            cam, source = np.asarray(camera_to_j2000, dtype=np.float64), "given"
            if cam.shape != (et.size, 3, 3):
                raise GeometryError(
                    f"camera_to_j2000 has shape {cam.shape}, the frame {et.size} exposures"
                )
        elif _has_ck(sp, kernels):
            cam, _ = _attitude(sp, et, kernels, meta)
            source = "ck"
        bodies = _bodies(sp, kernels, meta, target, et, cam)
    exposures = [
        {"index": i, "utc": p["utc"], "sub_spacecraft": _sub(p)} for i, p in enumerate(points[:-1])
    ]
    report: dict[str, Any] = {
        "product_id": meta.product_id,
        "target": target.as_dict(),
        "attitude": source,
        "bodies": bodies,
        "exposures": exposures,
        "mid": {"utc": points[-1]["utc"], "sub_spacecraft": _sub(points[-1])},
        "kernels": list(kernels.paths),
    }
    if None not in (
        meta.sub_spacecraft_lat_deg,
        meta.sub_spacecraft_lon_deg,
        meta.spacecraft_altitude_km,
    ):
        report["metadata_match"] = _best_match(meta, exposures)
    return report


def _bodies(
    sp: Any,
    kernels: KernelSet,
    meta: FrameMeta,
    target: Target,
    et: np.ndarray,
    cam: np.ndarray | None,
) -> list[dict[str, Any]]:
    """The other known bodies the kernels have at mid-frame, and (with a CK) in view."""
    from ..camera import CameraModel

    mid = float(0.5 * (et[0] + et[-1]))
    aim, _ = sp.spkpos(target.name, mid, "J2000", ABCORR, JUNO)
    aim = np.asarray(aim) / np.linalg.norm(aim)
    camera = CameraModel()
    out: list[dict[str, Any]] = []
    for body in TARGETS.values():
        if body.naif_id == target.naif_id or not _covered(sp, kernels, body.naif_id, mid):
            continue
        radius = body.mean_radius
        if sp.bodfnd(body.naif_id, "RADII"):
            radius = float(np.mean(sp.bodvrd(body.name, "RADII", 3)[1]))
        pos, _ = sp.spkpos(body.name, mid, "J2000", ABCORR, JUNO)
        pos = np.asarray(pos)
        dist = float(np.linalg.norm(pos))
        entry: dict[str, Any] = {
            "name": body.name,
            "naif_id": body.naif_id,
            "range_km": round(dist, 1),
            "angular_radius_deg": round(float(np.degrees(np.arcsin(min(1.0, radius / dist)))), 4),
            "angle_from_target_deg": round(
                float(np.degrees(np.arccos(np.clip(pos @ aim / dist, -1, 1)))), 3
            ),
            "in_view": None,
        }
        if cam is not None:
            seen = []
            for k, t in enumerate(et):
                p, _ = sp.spkpos(body.name, float(t), "J2000", ABCORR, JUNO)
                ray = cam[k].T @ (np.asarray(p) / np.linalg.norm(p))
                margin = camera.focal_px * radius / dist  # the disc's radius in pixels
                for band in meta.filters:
                    s_, l_ = camera.ray_to_pixel(ray[None], band)
                    s0, s1 = camera.sample_range
                    if (
                        np.isfinite(s_[0])
                        and s0 - margin <= s_[0] <= s1 + margin
                        and -margin <= l_[0] <= meta.framelet_lines + margin
                    ):
                        seen.append(k)
                        break
            entry["in_view"] = bool(seen)
            entry["exposures"] = seen
        out.append(entry)
    return out


def _sub(p: dict[str, float | str]) -> dict[str, float]:
    return {
        "lat_deg": round(float(p["lat_deg"]), 6),
        "lon_west_deg": round(float(p["lon_west_deg"]), 6),
        "alt_km": round(float(p["alt_km"]), 3),
    }


#: Tolerances of the metadata check (issue 8): latitude and longitude (degrees) and
#: altitude (km). The SPK here is a predicted one, hence the altitude margin.
MATCH_TOLERANCE = {"lat_deg": 0.05, "lon_west_deg": 0.1, "alt_km": 150.0}


def _best_match(meta: FrameMeta, exposures: list[dict[str, Any]]) -> dict[str, Any]:
    want = {
        "lat_deg": float(meta.sub_spacecraft_lat_deg or 0.0),
        "lon_west_deg": float(meta.sub_spacecraft_lon_deg or 0.0) % 360.0,
        "alt_km": float(meta.spacecraft_altitude_km or 0.0),
    }

    def diffs(e: dict[str, Any]) -> dict[str, float]:
        s = e["sub_spacecraft"]
        d_lon = (s["lon_west_deg"] - want["lon_west_deg"] + 180.0) % 360.0 - 180.0
        return {
            "lat_deg": s["lat_deg"] - want["lat_deg"],
            "lon_west_deg": d_lon,
            "alt_km": s["alt_km"] - want["alt_km"],
        }

    def score(d: dict[str, float]) -> float:
        return max(abs(d[k]) / MATCH_TOLERANCE[k] for k in d)

    best = min(exposures, key=lambda e: score(diffs(e)))
    d = diffs(best)
    return {
        "index": best["index"],
        "utc": best["utc"],
        "metadata": want,
        "difference": {k: round(v, 6) for k, v in d.items()},
        "within_tolerance": score(d) <= 1.0,
        "tolerance": MATCH_TOLERANCE,
    }
