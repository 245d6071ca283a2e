"""Pipelines: ordered, validated lists of stages, written as TOML recipes.

A frame flows through four kinds of stage, in this order:

1. ``linear`` stages clean the decompanded framelets (float32 DN, per band):
   ``black_level``, ``dark``, ``flat``, ``inpaint``, ``hot_pixels``, ``exposure``,
   ``denoise``;
2. exactly one ``geometry`` stage, ``stitch``, puts every band on one grid
   (spin cylinder, perspective virtual camera, or the naive stacking);
3. exactly one ``compose`` stage makes an RGB float32 image in [0, 1]
   (``compose`` or ``methane_composite``);
4. ``color`` stages shape it: ``white_balance``, ``band_weights``, ``stretch``,
   ``gamma``, ``filmic``, ``flatten``, ``clahe``, ``unsharp``, ``saturation``,
   ``true_color``.

The registry below maps stage names to functions of this package; recipes can only
name registered stages (no eval, no imports by string). Every parameter has a type,
a range and a default, and a recipe is validated completely before any frame is
touched: errors name the recipe file, the stage and the parameter.

A recipe file::

    name = "enhanced"
    description = "Gill-style enhanced colour"

    [[stages]]
    name = "hot_pixels"
    threshold = 8.0

    [[stages]]
    name = "stitch"

    [[stages]]
    name = "compose"

Examples
--------
>>> p = Pipeline(["stitch", "compose", ("stretch", {"high": 99.0})])
>>> [s.name for s in p.stages]
['stitch', 'compose', 'stretch']
>>> p.stages[2].params["high"]
99.0
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import tomllib
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from . import calibrate, enhance
from .calibrate import Calibration
from .companding import decompand, max_linear_value
from .compose import compose_rgb, naive_band_images, naive_band_offsets, shift_bands
from .decode import RawFrame
from .errors import GeometryError, JunoCamError, RecipeError
from .framelets import Framelets, split
from .geometry import GeometryOptions, stitch_frame
from .metadata import Filter
from .planet import Backplanes, photometric_factor
from .spinfit import JunoCamWarning, SpinFit

if TYPE_CHECKING:
    from .mapping import MapResult

#: ``projector(framelets) -> MapResult``: map projection in place of stitching.
Projector = Callable[[Framelets], "MapResult"]

__all__ = [
    "Param",
    "StageSpec",
    "Stage",
    "Pipeline",
    "PipelineResult",
    "STAGES",
    "builtin_recipes",
    "recipe_path",
    "parse_override",
]

KINDS = ("linear", "geometry", "photometric", "compose", "color")


@dataclass(frozen=True)
class Param:
    """Type, range and default of one stage parameter.

    Parameters
    ----------
    kind : {"float", "int", "bool", "str", "gains"}
        ``gains`` is a name (``"gill"``) or three numbers.
    default : Any
    low, high : float, optional
        Inclusive bounds for numbers.
    choices : tuple of str, optional
        Allowed strings.
    doc : str
        One line for ``junocam pipelines --verbose``.
    odd : bool
        Whole numbers must be odd (window sizes).
    """

    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    doc: str = ""
    odd: bool = False

    def check(self, value: Any, where: str) -> Any:
        """Validated (and normalised) value, or a RecipeError naming ``where``."""
        k = self.kind
        if k == "bool":
            if not isinstance(value, bool):
                raise RecipeError(f"{where} must be true or false, got {value!r}")
            return value
        if k == "str":
            if not isinstance(value, str):
                raise RecipeError(f"{where} must be a string, got {value!r}")
            if self.choices and value not in self.choices:
                raise RecipeError(
                    f"{where} must be one of {', '.join(self.choices)}, got {value!r}"
                )
            return value
        if k == "gains":
            if isinstance(value, str):
                if self.choices and value not in self.choices:
                    raise RecipeError(
                        f"{where} must be one of {', '.join(self.choices)} or three numbers, "
                        f"got {value!r}"
                    )
                return value
            if (
                not isinstance(value, (list, tuple))
                or len(value) != 3
                or not all(_is_number(v) for v in value)
            ):
                raise RecipeError(f"{where} must be a name or three numbers, got {value!r}")
            vals = tuple(float(v) for v in value)
            if not all(math.isfinite(v) and 0.0 < v <= 20.0 for v in vals):
                raise RecipeError(f"{where} must be three finite gains in (0, 20], got {value!r}")
            return vals
        if k == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise RecipeError(f"{where} must be a whole number, got {value!r}")
        elif k == "float":
            if not _is_number(value):
                raise RecipeError(f"{where} must be a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise RecipeError(f"{where} must be finite, got {value!r}")
        else:  # pragma: no cover - registry definitions only use the kinds above
            raise RecipeError(f"{where}: unknown parameter kind {k}")
        if self.low is not None and value < self.low:
            raise RecipeError(f"{where} = {value} is below its minimum {self.low}")
        if self.high is not None and value > self.high:
            raise RecipeError(f"{where} = {value} is above its maximum {self.high}")
        if self.odd and value % 2 == 0:
            raise RecipeError(f"{where} = {value} must be odd")
        return value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class _State:
    """What flows between stages (private; stages return a new state)."""

    framelets: Framelets | None = None
    bands: Mapping[Filter, np.ndarray] | None = None
    masks: Mapping[Filter, np.ndarray] | None = None
    rgb: np.ndarray | None = None
    mask: np.ndarray | None = None
    fit: SpinFit | None = None
    target: np.ndarray | None = None
    mono: bool = False
    backplanes: Backplanes | None = None


@dataclass(frozen=True)
class _Context:
    frame: RawFrame
    calibration: Calibration | None
    notes: list[str]
    spin_fit: SpinFit | None = None
    projector: Projector | None = None


@dataclass(frozen=True)
class StageSpec:
    """A registered stage: its kind, parameters and implementation."""

    name: str
    kind: str
    params: Mapping[str, Param]
    run: Callable[[_State, Mapping[str, Any], _Context], _State]
    doc: str


@dataclass(frozen=True)
class Stage:
    """One configured stage of a pipeline (validated, defaults filled in).

    Examples
    --------
    >>> Stage.make("gamma", {"gamma": 2.2}).params["gamma"]
    2.2
    """

    name: str
    params: Mapping[str, Any]

    @classmethod
    def make(
        cls,
        name: str,
        params: Mapping[str, Any] | None = None,
        source: str | None = None,
        index: int | None = None,
    ) -> Stage:
        """Validate a stage name and its parameters against the registry."""
        where_stage = f"stage {name!r}" if index is None else f"stage {index + 1} ({name!r})"
        if not isinstance(name, str) or name not in STAGES:
            known = ", ".join(sorted(STAGES))
            raise RecipeError(f"unknown {where_stage}; known stages: {known}", path=source)
        spec = STAGES[name]
        given = dict(params or {})
        out: dict[str, Any] = {}
        for key in given:
            if key not in spec.params:
                known = ", ".join(sorted(spec.params)) or "none"
                raise RecipeError(
                    f"{where_stage}: unknown parameter {key!r} (parameters: {known})", path=source
                )
        for key, p in spec.params.items():
            value = given.get(key, p.default)
            try:
                out[key] = p.check(value, f"{where_stage} parameter {key!r}")
            except RecipeError as err:
                raise RecipeError(err.message, path=source) from None
        return cls(name, MappingProxyType(out))


def parse_override(text: str) -> tuple[str, str, Any]:
    """Parse ``stage.param=value`` (value as a TOML literal, else a bare string).

    Examples
    --------
    >>> parse_override("stretch.high=99.5")
    ('stretch', 'high', 99.5)
    >>> parse_override("stitch.geometry=perspective")
    ('stitch', 'geometry', 'perspective')
    """
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise RecipeError(f"override {text!r} is not of the form stage.parameter=value")
    lhs, raw = text.split("=", 1)
    stage, param = lhs.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except RecursionError:
        raise RecipeError(f"override {lhs.strip()}=...: the value is nested too deeply") from None
    return stage.strip(), param.strip(), value


@dataclass(frozen=True, eq=False)
class PipelineResult:
    """What a pipeline made of one frame.

    Attributes
    ----------
    rgb : numpy.ndarray
        float32 (H, W, 3) in [0, 1].
    mask : numpy.ndarray
        Boolean coverage of the output grid.
    bands : dict
        Band images after geometry (linear, float32).
    fit : SpinFit or None
        Spin self-calibration report (None for naive geometry).
    notes : list of str
        What was skipped or assumed, for people.
    timings : dict
        Seconds per stage (``"<index>:<name>"``).
    stage_images : list of (str, numpy.ndarray)
        With ``keep_stages``: a preview after each stage (grey or RGB, [0, 1]).
    """

    rgb: np.ndarray
    mask: np.ndarray
    bands: Mapping[Filter, np.ndarray]
    fit: SpinFit | None
    notes: list[str]
    timings: dict[str, float]
    stage_images: list[tuple[str, np.ndarray]] = field(default_factory=list)


class Pipeline:
    """An ordered list of validated stages.

    Parameters
    ----------
    stages : sequence
        Each a :class:`Stage`, a stage name, or ``(name, {param: value})``.
    name, description : str
        For listings.
    source : str, optional
        The recipe file, named in error messages.

    Raises
    ------
    RecipeError
        Unknown stage or parameter, bad type or range, or stages out of order.

    Examples
    --------
    >>> try:
    ...     Pipeline(["compose", "stitch"])
    ... except RecipeError as err:
    ...     print(err)
    stage 2 ('stitch'): a geometry stage cannot come after a compose stage
    """

    def __init__(
        self,
        stages: Sequence[Stage | str | tuple[str, Mapping[str, Any]]],
        name: str = "custom",
        description: str = "",
        source: str | None = None,
    ) -> None:
        built: list[Stage] = []
        for i, s in enumerate(stages):
            if isinstance(s, Stage):
                built.append(Stage.make(s.name, s.params, source, i))
            elif isinstance(s, str):
                built.append(Stage.make(s, None, source, i))
            elif isinstance(s, tuple) and len(s) == 2:
                built.append(Stage.make(s[0], s[1], source, i))
            else:
                raise RecipeError(f"stage {i + 1} is not a name or (name, params): {s!r}", source)
        _check_order(built, source)
        self.stages: tuple[Stage, ...] = tuple(built)
        self.name = name
        self.description = description
        self.source = source

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, stages={[s.name for s in self.stages]})"

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> Pipeline:
        """Build from parsed TOML (``name``, ``description``, ``[[stages]]``)."""
        if not isinstance(data, Mapping):
            raise RecipeError("a recipe must be a table", path=source)
        allowed = {"name", "description", "stages"}
        extra = set(data) - allowed
        if extra:
            raise RecipeError(
                f"unknown top-level key(s) {sorted(extra)} (allowed: name, description, stages)",
                path=source,
            )
        stages = data.get("stages")
        if not isinstance(stages, list) or not stages:
            raise RecipeError("a recipe needs a non-empty [[stages]] list", path=source)
        items: list[tuple[str, dict[str, Any]]] = []
        for i, st in enumerate(stages):
            if not isinstance(st, Mapping) or "name" not in st:
                raise RecipeError(f"stage {i + 1} has no name", path=source)
            params = {k: v for k, v in st.items() if k != "name"}
            items.append((st["name"], params))
        name = data.get("name", Path(source).stem if source else "custom")
        desc = data.get("description", "")
        if not isinstance(name, str) or not isinstance(desc, str):
            raise RecipeError("name and description must be strings", path=source)
        return cls(items, name=name, description=desc, source=source)

    @classmethod
    def from_toml(cls, path: str | Path) -> Pipeline:
        """Read and validate a recipe file.

        Raises
        ------
        RecipeError
            Missing or unreadable file, bad TOML, or an invalid recipe.
        """
        p = Path(path)
        try:
            if p.exists() and not p.is_file():  # a folder, FIFO or device (/dev/zero)
                raise RecipeError("cannot read recipe: not a regular file", path=p)
            with open(p, "rb") as fh:
                raw = fh.read(1_000_001)
        except OSError as err:
            raise RecipeError(f"cannot read recipe: {err.strerror}", path=p) from None
        if len(raw) > 1_000_000:
            raise RecipeError("recipe file is larger than 1 MB", path=p)
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise RecipeError("recipe is not UTF-8 text", path=p) from None
        except tomllib.TOMLDecodeError as err:
            raise RecipeError(f"invalid TOML: {err}", path=p) from None
        except RecursionError:
            raise RecipeError("invalid TOML: nested too deeply", path=p) from None
        return cls.from_dict(data, source=str(p))

    @classmethod
    def named(cls, name_or_path: str | Path) -> Pipeline:
        """A built-in recipe by name (``enhanced``) or a recipe file by path.

        Examples
        --------
        >>> Pipeline.named("raw").name
        'raw'
        """
        return cls.from_toml(recipe_path(name_or_path))

    def with_overrides(self, overrides: Iterable[str]) -> Pipeline:
        """A copy with ``stage.param=value`` overrides applied (first stage of that name).

        Examples
        --------
        >>> Pipeline(["stitch", "compose", "stretch"]).with_overrides(["stretch.high=98"]
        ...     ).stages[2].params["high"]
        98.0
        """
        stages = [Stage(s.name, dict(s.params)) for s in self.stages]
        for text in overrides:
            stage, param, value = parse_override(text)
            for s in stages:
                if s.name == stage:
                    s.params[param] = value  # type: ignore[index]
                    break
            else:
                have = ", ".join(s.name for s in stages)
                raise RecipeError(
                    f"--set {text}: the pipeline has no stage {stage!r} (it has: {have})",
                    path=self.source,
                )
        return Pipeline(stages, self.name, self.description, self.source)

    def digest(self) -> str:
        """A stable hash of the stages and parameters (for manifests and resume)."""
        canon = [
            [s.name, {k: _jsonable(v) for k, v in sorted(s.params.items())}] for s in self.stages
        ]
        return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()[:16]

    # -- running ---------------------------------------------------------------------
    def run(
        self,
        frame: RawFrame,
        *,
        calibration: Calibration | None = None,
        keep_stages: bool = False,
        spin_fit: SpinFit | None = None,
        projector: Projector | None = None,
    ) -> PipelineResult:
        """Process one frame.

        Parameters
        ----------
        frame : RawFrame
            From :func:`junocam.decode.read_frame`.
        calibration : Calibration, optional
            Darks, flats and bad-pixel masks for the ``dark``/``flat``/``inpaint`` stages.
        keep_stages : bool
            Keep a preview image after every stage.
        spin_fit : SpinFit, optional
            Reuse a spin fit made earlier for this frame (skips the self-calibration).
        projector : callable, optional
            Replaces the stitch stage's geometry: ``projector(framelets)`` returns a
            :class:`junocam.mapping.MapResult` (map projection with backplanes), as
            ``junocam map`` does. The photometric stages need it.

        Returns
        -------
        PipelineResult
        """
        ctx = _Context(
            frame=frame,
            calibration=calibration,
            notes=[],
            spin_fit=spin_fit,
            projector=projector,
        )
        # no local names: the decompanded frame is freed once a stage replaces it
        return self._run_stages(
            _State(
                framelets=split(
                    decompand(frame.pixels, frame.meta.companding),
                    frame.meta.filters,
                    frame.meta.framelet_lines,
                )
            ),
            ctx,
            0,
            keep_stages,
        )

    __call__ = run

    def _run_stages(
        self, state: _State, ctx: _Context, first: int, keep_stages: bool
    ) -> PipelineResult:
        """Run stages ``first``.. on ``state``, timing each; the result of the last."""
        timings: dict[str, float] = {}
        previews: list[tuple[str, np.ndarray]] = []
        for i, stage in enumerate(self.stages[first:], start=first):
            t0 = time.perf_counter()
            state = STAGES[stage.name].run(state, stage.params, ctx)
            timings[f"{i + 1}:{stage.name}"] = time.perf_counter() - t0
            if keep_stages:
                previews.append((f"{i + 1:02d}-{stage.name}", _preview(state)))
        assert state.rgb is not None and state.mask is not None and state.bands is not None
        return PipelineResult(
            rgb=state.rgb,
            mask=state.mask,
            bands=dict(state.bands),
            fit=state.fit,
            notes=ctx.notes,
            timings=timings,
            stage_images=previews,
        )

    def run_bands(
        self,
        frame: RawFrame,
        bands: Mapping[Filter, np.ndarray],
        masks: Mapping[Filter, np.ndarray],
        backplanes: Backplanes | None = None,
    ) -> PipelineResult:
        """Run only the stages after the geometry stage on ready-made band images.

        For products assembled outside one frame's run, such as mosaics: each frame
        went through the framelet stages and a projection; the photometric, compose
        and colour stages then run once on the result. ``frame`` supplies the
        metadata some stages read (e.g. the companding's full scale).

        Examples
        --------
        >>> from junocam.metadata import assumed_meta
        >>> fr = RawFrame(np.zeros((384, 1648), np.uint8), assumed_meta(384))
        >>> b = {f: np.full((4, 4), 0.5, np.float32) for f in fr.meta.filters}
        >>> m = {f: np.ones((4, 4), bool) for f in fr.meta.filters}
        >>> Pipeline(["stitch", "compose"]).run_bands(fr, b, m).rgb.shape
        (4, 4, 3)
        """
        ctx = _Context(frame=frame, calibration=None, notes=[])
        state = _State(bands=dict(bands), masks=dict(masks), backplanes=backplanes)
        first = 1 + next(i for i, s in enumerate(self.stages) if STAGES[s.name].kind == "geometry")
        return self._run_stages(state, ctx, first, keep_stages=False)


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _check_order(stages: Sequence[Stage], source: str | None) -> None:
    rank = {k: i for i, k in enumerate(KINDS)}
    last = 0
    counts = dict.fromkeys(KINDS, 0)
    for i, s in enumerate(stages):
        kind = STAGES[s.name].kind
        counts[kind] += 1
        if rank[kind] < last:
            prev = KINDS[last]
            raise RecipeError(
                f"stage {i + 1} ({s.name!r}): a {kind} stage cannot come after a {prev} stage",
                path=source,
            )
        last = rank[kind]
    for kind in ("geometry", "compose"):
        if counts[kind] != 1:
            raise RecipeError(
                f"a pipeline needs exactly one {kind} stage, this one has {counts[kind]}",
                path=source,
            )


def _preview(state: _State) -> np.ndarray:
    """A [0, 1] picture of the current state, for --save-stages."""
    if state.rgb is not None:
        return state.rgb
    if state.bands is not None:
        return compose_rgb(dict(state.bands), normalize="per-band")
    assert state.framelets is not None
    strip = state.framelets.data.reshape(-1, state.framelets.data.shape[-1])
    top = float(np.percentile(strip, 99.9)) or 1.0
    return np.clip(strip / top, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------
# Stage implementations (thin adapters over calibrate, geometry, compose, enhance)


def _per_band(state: _State, fn: Callable[[np.ndarray, Filter], np.ndarray | None]) -> _State:
    """Apply ``fn(stack, band)`` to each band's (n_exp, lines, samples) stack."""
    fr = state.framelets
    assert fr is not None
    data = np.array(fr.data, dtype=np.float32, copy=True)
    for k, band in enumerate(fr.filters):
        out = fn(data[:, k], band)
        if out is not None:
            data[:, k] = out
    return _State(framelets=Framelets(data, fr.filters))


def _black_level(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    return _per_band(state, lambda s, b: calibrate.black_level_from_dark_columns(s, p["window"]))


def _with_calibration(
    state: _State,
    ctx: _Context,
    stage: str,
    kind: str,
    what: str,
    apply: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> _State:
    """Apply ``apply(stack, image)`` per band with the calibration image of ``kind``;
    bands without one are left as they are, with one note saying so."""
    images = getattr(ctx.calibration, kind, {}) if ctx.calibration is not None else {}
    missing: list[str] = []

    def one(stack: np.ndarray, band: Filter) -> np.ndarray | None:
        if band not in images:
            missing.append(band.value)
            return None
        return apply(stack, images[band])

    out = _per_band(state, one)
    if missing:
        hint = "give --calibration DIR" if ctx.calibration is None else "none in the calibration"
        ctx.notes.append(f"{stage}: no {what} for {', '.join(missing)} ({hint}); skipped")
    return out


def _dark(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    return _with_calibration(
        state,
        ctx,
        "dark",
        "dark",
        "dark frame",
        lambda s, img: calibrate.subtract_dark(s, img, p["scale"]),
    )


def _flat(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    cal = ctx.calibration

    def one(stack: np.ndarray, band: Filter) -> np.ndarray:
        use_cal = p["source"] in ("auto", "calibration") and cal is not None and band in cal.flat
        if p["source"] == "calibration" and not use_cal:
            raise RecipeError(
                f"flat: source = 'calibration' but no flat for {band.value} was given "
                "(use --calibration DIR or source = 'auto')"
            )
        if use_cal:
            flat = cal.flat[band]  # type: ignore[union-attr]
        else:
            flat = calibrate.radial_flat_model(
                stack.shape[-2], stack.shape[-1], band, strength=p["strength"]
            )
        return calibrate.apply_flat(stack, flat)

    return _per_band(state, one)


def _inpaint(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    return _with_calibration(
        state,
        ctx,
        "inpaint",
        "mask",
        "bad-pixel mask",
        lambda s, img: calibrate.inpaint_mask(s, img, p["radius"]),
    )


def _hot_pixels(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    return _per_band(
        state,
        lambda s, b: calibrate.repair_hot_pixels(s, p["threshold"], p["size"]),  # type: ignore[return-value]
    )


def _across_exposures(
    state: _State, ctx: _Context, stage: str, fn: Callable[[np.ndarray], np.ndarray]
) -> _State:
    """Per-band stage that compares exposures (needs at least three; else a note)."""
    if state.framelets is not None and state.framelets.n_exposures < 3:
        ctx.notes.append(f"{stage}: fewer than 3 exposures; skipped")
        return state
    return _per_band(state, lambda s, b: fn(s))


def _fixed_pattern(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    return _across_exposures(
        state,
        ctx,
        "fixed_pattern",
        lambda s: calibrate.remove_fixed_pattern(s, p["threshold"], p["width"]),  # type: ignore[return-value]
    )


def _blemishes(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    return _across_exposures(
        state,
        ctx,
        "blemishes",
        lambda s: calibrate.correct_blemishes(  # type: ignore[return-value]
            s, p["threshold"], p["min_depth"], p["width"]
        ),
    )


def _exposure(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    meta = ctx.frame.meta
    if meta.exposure_duration is None and meta.tdi_stages is None:
        ctx.notes.append("exposure: frame has no EXPOSURE_DURATION or TDI; not normalised")
        return state
    ref = p["reference_ms"] / 1000.0
    return _per_band(
        state,
        lambda s, b: calibrate.normalise_exposure(
            s, meta.exposure_duration, meta.tdi_stages, reference_s=ref
        ),
    )


def _denoise(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    return _per_band(state, lambda s, b: calibrate.denoise(s, p["strength"], p["method"]))


def _stitch(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    fr = state.framelets
    assert fr is not None
    bad = ~np.isfinite(fr.data)
    if bad.any():  # a linear stage made NaN or infinity: do not spread it over the grid
        ctx.notes.append(f"stitch: {int(bad.sum())} non-finite samples set to 0")
        fr = Framelets(np.where(bad, 0.0, fr.data).astype(np.float32), fr.filters)
    meta = ctx.frame.meta
    if ctx.projector is not None:
        projected = ctx.projector(fr)
        ctx.notes.append("stitch: replaced by the map projection")
        return _State(bands=projected.bands, masks=projected.masks, backplanes=projected.backplanes)
    if p["geometry"] == "naive":
        bands = naive_band_images(fr, photoactive=True)
        offsets = naive_band_offsets(
            bands, interframe_delay=meta.interframe_delay, framelet_lines=fr.framelet_lines
        )
        aligned = shift_bands(bands, offsets)
        masks = {b: np.isfinite(v) for b, v in aligned.items()}
        aligned = {b: np.nan_to_num(v, nan=0.0).astype(np.float32) for b, v in aligned.items()}
        return _State(bands=aligned, masks=masks)
    opts = GeometryOptions(
        grid=p["geometry"],
        fit_spin=p["fit_spin"],
        fov_deg=p["fov_deg"] or None,
        size=p["size"] or None,
        scale=p["scale"],
        order=p["order"],
        feather=p["feather"],
        trim_lines=p["trim_lines"],
        center=None
        if p["center_row"] < 0 or p["center_col"] < 0
        else (p["center_row"], p["center_col"]),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", JunoCamWarning)
        out = stitch_frame(fr, meta.interframe_delay, opts, spin_fit=ctx.spin_fit)
    for w in caught:
        ctx.notes.append(f"stitch: {w.message}")
    return _State(bands=out.result.bands, masks=out.result.masks, fit=out.fit)


def _photometry(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    if state.backplanes is None:
        ctx.notes.append("photometry: skipped (needs backplanes: use `junocam map`)")
        return state
    assert state.bands is not None and state.masks is not None
    bp = state.backplanes
    factor = photometric_factor(
        np.nan_to_num(bp.mu0, nan=0.0),
        np.nan_to_num(bp.mu, nan=0.0),
        p["model"],
        k=p["k"],
        min_mu0=p["min_mu0"],
        max_gain=p["max_gain"],
    )
    lit = factor > 0
    bands = {
        b: np.where(lit, v / np.where(lit, factor, 1.0), 0.0).astype(np.float32)
        for b, v in state.bands.items()
    }
    masks = {b: m & lit for b, m in state.masks.items()}
    return replace(state, bands=bands, masks=masks)


def _union_mask(masks: Mapping[Filter, np.ndarray]) -> np.ndarray:
    m = None
    for v in masks.values():
        m = v.copy() if m is None else (m | v)
    assert m is not None
    return m


def _compose(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    assert state.bands is not None and state.masks is not None
    bands = dict(state.bands)
    if p["mode"] == "grey":
        stack = np.mean([v for v in bands.values()], axis=0)
        bands = {Filter.GREEN: stack}
    if p["normalize"] == "full_scale":
        # no statistics: the companding's full scale maps to 1
        top = max_linear_value(ctx.frame.meta.companding)
        rgb = compose_rgb(
            {k: v / top for k, v in bands.items()}, normalize="joint", percentile=100.0
        )
        peak = max(float(np.max(v)) / top for v in bands.values())
        rgb = np.clip(rgb * peak, 0.0, 1.0).astype(np.float32) if peak > 0 else rgb
    else:
        rgb = compose_rgb(bands, normalize=p["normalize"], percentile=p["percentile"])
    mask = _union_mask(state.masks)
    return _State(
        bands=state.bands,
        masks=state.masks,
        fit=state.fit,
        rgb=rgb,
        mask=mask,
        target=target_weight(rgb, mask),
        mono=p["mode"] == "grey" or len(set(bands) - {Filter.METHANE}) <= 1,
    )


def target_weight(rgb: np.ndarray, mask: np.ndarray, sky_sigmas: float = 6.0) -> np.ndarray:
    """Soft 0..1 weight of "target" (planet) against dark sky, from a composite.

    Local enhancements (illumination flattening, CLAHE, sharpening) are blended in
    with this weight so that sky noise is not amplified and no halo forms at the
    limb. The sky level and noise are estimated robustly from the darkest half of
    the covered pixels; the weight ramps up from ``sky_sigmas`` noise sigmas above
    the sky level to twice that.

    Examples
    --------
    >>> img = np.zeros((20, 20, 3), np.float32); img[5:15, 5:15] = 0.5
    >>> w = target_weight(img, np.ones((20, 20), bool))
    >>> float(w[10, 10]), float(w[0, 0])
    (1.0, 0.0)
    """
    lum = enhance.luminance(rgb)
    vals = lum[mask] if mask.any() else lum.ravel()
    dark = np.sort(vals)[: max(vals.size // 2, 1)]
    level = float(np.median(dark))
    noise = 1.4826 * float(np.median(np.abs(dark - level))) + 1e-3
    lo = level + sky_sigmas * noise
    t = np.clip((lum - lo) / (sky_sigmas * noise), 0.0, 1.0)
    w = t * t * (3.0 - 2.0 * t)
    return np.where(mask, w, 0.0).astype(np.float32)


def _methane_composite(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
    assert state.bands is not None and state.masks is not None
    b = state.bands
    mask = _union_mask(state.masks)
    if Filter.METHANE not in b:
        have = ", ".join(f.value for f in b)
        raise GeometryError(
            f"methane_composite needs a METHANE band; this frame has {have}",
            path=ctx.frame.path,
        )
    if Filter.RED in b and Filter.BLUE in b:
        rgb = enhance.methane_false_color(
            b[Filter.METHANE], b[Filter.RED], b[Filter.BLUE], p["low"], p["high"], mask=mask
        )
    else:
        ctx.notes.append("methane_composite: no RED/BLUE bands, methane shown as grey")
        m = enhance.stretch(_unit(b[Filter.METHANE]), p["low"], p["high"], mask=mask)
        rgb = np.repeat(m[..., None], 3, axis=-1)
    return _State(
        bands=state.bands,
        masks=state.masks,
        fit=state.fit,
        rgb=rgb,
        mask=mask,
        target=target_weight(rgb, mask),
        mono=not (Filter.RED in b and Filter.BLUE in b),
    )


def _unit(x: np.ndarray) -> np.ndarray:
    top = float(np.max(x)) if x.size else 0.0
    return (x / top).astype(np.float32) if top > 0 else np.zeros_like(x, dtype=np.float32)


def _color(
    fn: Callable[..., np.ndarray],
    masked: bool = False,
    local: bool = False,
    chromatic: bool = False,
) -> Callable[[_State, Mapping[str, Any], _Context], _State]:
    """Adapter for a colour stage; ``local`` stages are blended in on the target only,
    ``chromatic`` ones (balance, colour matrix, saturation) skip grey composites."""

    def run(state: _State, p: Mapping[str, Any], ctx: _Context) -> _State:
        assert state.rgb is not None
        if chromatic and state.mono:
            name = getattr(fn, "__name__", "colour stage").lstrip("_")
            ctx.notes.append(f"{name}: the composite is grey (one band); skipped")
            return state
        kwargs = dict(p)
        if masked:
            kwargs["mask"] = state.mask
        rgb = np.asarray(fn(state.rgb, **kwargs), dtype=np.float32)
        if np.may_share_memory(rgb, state.rgb):
            rgb = rgb.copy()  # blended and masked in place below
        if local and state.target is not None:
            # w rgb + (1 - w) old, as old + w (rgb - old): no full-size temporaries
            rgb -= state.rgb
            rgb *= state.target[..., None]
            rgb += state.rgb
        if state.mask is not None:
            rgb[~state.mask] = 0.0
        return _State(
            bands=state.bands,
            masks=state.masks,
            fit=state.fit,
            rgb=rgb,
            mask=state.mask,
            target=state.target,
            mono=state.mono,
        )

    return run


def _f(default: float, low: float, high: float, doc: str = "") -> Param:
    return Param("float", default, low, high, doc=doc)


def _i(default: int, low: int, high: int, doc: str = "") -> Param:
    return Param("int", default, low, high, doc=doc)


def _s(default: str, choices: Sequence[str], doc: str = "") -> Param:
    return Param("str", default, choices=tuple(choices), doc=doc)


def _flatten(img: np.ndarray, sigma: float, strength: float, max_gain: float) -> np.ndarray:
    return enhance.flatten_illumination(img, sigma, strength, None, 0.02, max_gain)


def _clahe(img: np.ndarray, clip_limit: float, kernel_size: int, amount: float) -> np.ndarray:
    return enhance.clahe(img, clip_limit, kernel_size or None, amount)


_GAIN_NAMES = ("none", "gill", "eichstaedt")

STAGES: Mapping[str, StageSpec] = MappingProxyType(
    {
        s.name: s
        for s in [
            StageSpec(
                "black_level",
                "linear",
                {"window": Param("int", 1, 1, 127, doc="lines pooled (odd)", odd=True)},
                _black_level,
                "subtract each line's dark-column level",
            ),
            StageSpec(
                "dark",
                "linear",
                {"scale": _f(1.0, 0.0, 10.0, "dark multiplier")},
                _dark,
                "subtract the calibration dark (skipped without --calibration)",
            ),
            StageSpec(
                "flat",
                "linear",
                {
                    "source": _s(
                        "auto",
                        ("auto", "calibration", "radial"),
                        "calibration flats when given, else the radial model",
                    ),
                    "strength": _f(2.3, 0.0, 8.0, "cos^k exponent of the radial model"),
                },
                _flat,
                "divide by the flat field (vignetting)",
            ),
            StageSpec(
                "inpaint",
                "linear",
                {"radius": _f(1.5, 0.5, 16.0, "kernel radius, px")},
                _inpaint,
                "fill calibration bad pixels from neighbours",
            ),
            StageSpec(
                "hot_pixels",
                "linear",
                {
                    "threshold": _f(8.0, 3.0, 100.0, "robust sigmas above the local median"),
                    "size": Param("int", 3, 3, 15, doc="median window, px (odd)", odd=True),
                },
                _hot_pixels,
                "repair hot and dead pixels",
            ),
            StageSpec(
                "fixed_pattern",
                "linear",
                {
                    "threshold": _f(5.0, 1.0, 100.0, "robust sigmas of the pattern"),
                    "width": Param(
                        "int", 5, 3, 31, doc="across-line median width, samples (odd)", odd=True
                    ),
                },
                _fixed_pattern,
                "remove hot pixels and TDI hot streaks fixed on the CCD",
            ),
            StageSpec(
                "blemishes",
                "linear",
                {
                    "threshold": _f(5.0, 1.0, 100.0, "robust sigmas of the gain map"),
                    "min_depth": _f(0.03, 0.005, 0.9, "smallest relative defect corrected"),
                    "width": Param("int", 9, 3, 63, doc="across-line median, samples", odd=True),
                },
                _blemishes,
                "divide out dust shadows and cold pixels measured from the frame itself",
            ),
            StageSpec(
                "exposure",
                "linear",
                {"reference_ms": _f(3.2, 0.1, 1000.0, "ms")},
                _exposure,
                "scale to a common exposure",
            ),
            StageSpec(
                "denoise",
                "linear",
                {
                    "strength": _f(0.0, 0.0, 1.0, "0 = off"),
                    "method": _s("tv", ("tv", "gaussian")),
                },
                _denoise,
                "reduce noise per framelet",
            ),
            StageSpec(
                "stitch",
                "geometry",
                {
                    "geometry": _s(
                        "cylinder",
                        ("cylinder", "perspective", "naive"),
                        "spin cylinder, virtual camera on the target, or naive stacking",
                    ),
                    "fit_spin": Param("bool", True, doc="self-calibrate the spin from overlaps"),
                    "fov_deg": _f(0.0, 0.0, 169.0, "perspective field of view; 0 = fit the target"),
                    "size": _i(0, 0, 20000, "perspective output size, px; 0 = native"),
                    "scale": _f(1.0, 0.05, 8.0, "output px per detector px (0.5 = half size)"),
                    "order": _i(1, 1, 3, "interpolation: 1 bilinear, 3 cubic"),
                    "feather": _f(8.0, 0.0, 64.0, "blend ramp at framelet edges, lines"),
                    "trim_lines": _i(0, 0, 16, "lines dropped at framelet edges"),
                    "center_row": _f(-1.0, -1.0, 1e6, "cylinder row to look at; -1 = target"),
                    "center_col": _f(-1.0, -1.0, 1e6, "cylinder column to look at; -1 = target"),
                },
                _stitch,
                "put every band on one grid",
            ),
            StageSpec(
                "photometry",
                "photometric",
                {
                    "model": _s(
                        "minnaert",
                        ("lambert", "lommel_seeliger", "minnaert"),
                        "photometric function divided out",
                    ),
                    "k": _f(0.9, 0.3, 1.5, "Minnaert exponent"),
                    "min_mu0": _f(
                        0.05, 0.005, 0.5, "cosine of incidence below which a pixel counts as unlit"
                    ),
                    "max_gain": _f(8.0, 1.0, 100.0, "largest brightening of a pixel"),
                },
                _photometry,
                "divide out the illumination/viewing law (maps only: needs backplanes)",
            ),
            StageSpec(
                "compose",
                "compose",
                {
                    "mode": _s("rgb", ("rgb", "grey")),
                    "normalize": _s(
                        "joint",
                        ("joint", "per-band", "full_scale"),
                        "one white point, one per band, or the sensor's full scale",
                    ),
                    "percentile": _f(99.9, 50.0, 100.0, "white point percentile"),
                },
                _compose,
                "bands to an RGB image in [0, 1]",
            ),
            StageSpec(
                "methane_composite",
                "compose",
                {
                    "low": _f(0.5, 0.0, 50.0),
                    "high": _f(99.5, 50.0, 100.0),
                },
                _methane_composite,
                "false colour: methane, red, blue as R, G, B",
            ),
            StageSpec(
                "white_balance",
                "color",
                {
                    "method": _s("fixed", ("fixed", "grey_world", "white_patch")),
                    "gains": Param("gains", "gill", choices=_GAIN_NAMES, doc="name or [r, g, b]"),
                    "percentile": _f(99.0, 50.0, 100.0),
                },
                _color(enhance.white_balance, masked=True, chromatic=True),
                "per-band gains",
            ),
            StageSpec(
                "band_weights",
                "color",
                {
                    "weights": Param("gains", "gill", choices=_GAIN_NAMES),
                },
                _color(enhance.band_weights, chromatic=True),
                "community band weights",
            ),
            StageSpec(
                "stretch",
                "color",
                {
                    "low": _f(0.5, 0.0, 50.0, "black point percentile"),
                    "high": _f(99.5, 50.0, 100.0, "white point percentile"),
                    "linked": Param("bool", True, doc="one stretch for all channels"),
                    "method": _s("percentile", ("percentile", "sigma")),
                    "sigma": _f(3.0, 0.1, 20.0),
                },
                _color(enhance.stretch, masked=True),
                "linear black/white points",
            ),
            StageSpec(
                "gamma",
                "color",
                {"gamma": _f(1.0, 0.1, 10.0, ">1 brightens mid-tones")},
                _color(enhance.gamma),
                "gamma curve",
            ),
            StageSpec(
                "filmic",
                "color",
                {
                    "white": _f(4.0, 1.0, 100.0),
                    "strength": _f(1.0, 0.0, 1.0),
                    "curve": _s("hable", ("hable", "aces")),
                },
                _color(enhance.filmic),
                "filmic tone curve",
            ),
            StageSpec(
                "flatten",
                "color",
                {
                    "sigma": _f(40.0, 1.0, 500.0, "blur radius, px"),
                    "strength": _f(1.0, 0.0, 1.0),
                    "max_gain": _f(8.0, 1.0, 100.0),
                },
                _color(_flatten, local=True),
                "divide by blurred luminance (even out terminator and limb)",
            ),
            StageSpec(
                "clahe",
                "color",
                {
                    "clip_limit": _f(0.01, 1e-4, 1.0),
                    "kernel_size": _i(0, 0, 2048, "0 = auto"),
                    "amount": _f(1.0, 0.0, 1.0),
                },
                _color(_clahe, local=True),
                "local contrast (CLAHE on lightness)",
            ),
            StageSpec(
                "unsharp",
                "color",
                {
                    "radius": _f(2.0, 0.1, 50.0, "px"),
                    "amount": _f(0.5, 0.0, 10.0),
                },
                _color(enhance.unsharp, local=True),
                "unsharp mask",
            ),
            StageSpec(
                "saturation",
                "color",
                {
                    "factor": _f(1.0, 0.0, 5.0),
                    "vibrance": _f(0.0, 0.0, 2.0),
                },
                _color(enhance.saturation, chromatic=True),
                "chroma in LCh",
            ),
            StageSpec(
                "true_color",
                "color",
                {
                    "matrix": _s("approx", ("approx", "identity")),
                },
                _color(enhance.true_color_matrix, chromatic=True),
                "approximate JunoCam-to-sRGB matrix",
            ),
        ]
    }
)


def recipe_dirs() -> list[Path]:
    """Folders searched for built-in recipes (the project's ``pipelines/``)."""
    return [Path(__file__).resolve().parent.parent / "pipelines"]


def builtin_recipes() -> dict[str, Path]:
    """Built-in recipe names and files.

    Examples
    --------
    >>> {"raw", "true-color", "enhanced", "vivid", "methane"} <= set(builtin_recipes())
    True
    """
    out: dict[str, Path] = {}
    for d in recipe_dirs():
        if d.is_dir():
            for f in sorted(d.glob("*.toml")):
                out.setdefault(f.stem, f)
    return out


def recipe_path(name_or_path: str | Path) -> Path:
    """Resolve a recipe name (``enhanced``) or a path to a recipe file.

    Raises
    ------
    RecipeError
        Neither a built-in name nor an existing file.
    """
    text = str(name_or_path)
    known = builtin_recipes()
    if text in known:
        return known[text]
    p = Path(text)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise RecipeError("recipe file not found", path=p)
        return p
    raise RecipeError(
        f"unknown pipeline {text!r}; built-in: {', '.join(sorted(known)) or 'none'} "
        "(or give a path to a .toml recipe)"
    )


def run_pipeline(frame: RawFrame, pipeline: Pipeline | str, **kwargs: Any) -> PipelineResult:
    """Convenience: run a pipeline (or built-in recipe name) on a frame.

    Raises
    ------
    JunoCamError
        Anything the stages report.
    """
    p = pipeline if isinstance(pipeline, Pipeline) else Pipeline.named(pipeline)
    try:
        return p.run(frame, **kwargs)
    except JunoCamError as err:
        if err.path is None and frame.path is not None:
            raise type(err)(err.message, path=frame.path) from err
        raise
