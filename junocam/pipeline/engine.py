"""The pipeline engine: a validated list of stages, and running it on a frame.

:class:`Stage` is one configured stage (parameters checked against its
:class:`~junocam.pipeline.registry.StageSpec`, defaults filled in);
:class:`Pipeline` is an ordered list of them, built from code, a TOML recipe or a
built-in name, checked for the order of kinds (linear, geometry, photometric,
compose, color) and run on a :class:`~junocam.decode.RawFrame`; the result is a
:class:`PipelineResult`.

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
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ..calibrate import Calibration
from ..companding import decompand
from ..compose import compose_rgb, over_sky, sky_level
from ..decode import RawFrame
from ..errors import RecipeError
from ..framelets import Framelets, split
from ..geometry import Resampler
from ..metadata import Filter, FrameMeta
from ..planet.photometry import Backplanes
from ..spinfit import SpinFit
from .parameters import parse_override
from .recipes import DEFAULT_RECIPE, SINGLE_BAND_RECIPE, default_recipe, recipe_path
from .registry import KINDS, Context, Projector, State
from .stages import STAGES

__all__ = [
    "final_image",
    "DefaultPipeline",
    "Stage",
    "Pipeline",
    "PipelineResult",
]


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


@dataclass(frozen=True, eq=False)
class PipelineResult:
    """What a pipeline made of one frame.

    Attributes
    ----------
    rgb : numpy.ndarray
        float32 (H, W, 3) in [0, 1]. From :meth:`Pipeline.run` a grey composite
        (one band) is a read-only view repeating its one channel three times (no
        copies of it): ``rgb[..., 0]`` is the grey picture; copy it to change it.
    mask : numpy.ndarray
        Boolean coverage of the output grid.
    bands : dict
        Band images after geometry (linear, float32); empty when the pipeline ran
        with ``keep_bands=False``.
    fit : SpinFit or None
        Spin self-calibration report (None for naive geometry).
    notes : list of str
        What was skipped or assumed, for people.
    timings : dict
        Seconds per stage (``"<index>:<name>"``).
    stage_images : list of (str, numpy.ndarray)
        With ``keep_stages``: a preview after each stage (grey or RGB, [0, 1]).
    alpha : numpy.ndarray or None
        float32 opacity of the composite: 1 where every band has data, a ramp at the
        coverage's edge, 0 outside (see :func:`junocam.compose.band_coverage`).
    sky : numpy.ndarray or None
        float32 (3,): the sky's level (the median of the covered sky) that ``rgb``
        fades into outside the coverage (see :func:`junocam.compose.sky_level`).
    """

    rgb: np.ndarray
    mask: np.ndarray
    bands: Mapping[Filter, np.ndarray]
    fit: SpinFit | None
    notes: list[str]
    timings: dict[str, float]
    stage_images: list[tuple[str, np.ndarray]] = field(default_factory=list)
    alpha: np.ndarray | None = None
    sky: np.ndarray | None = None

    def rgba(self) -> np.ndarray:
        """float32 (H, W, 4): the straight (not faded) colour with the opacity as alpha.

        ``rgb`` is the colour already faded into the sky where the coverage ends;
        this undoes the fade inside the ramp so that an RGBA file composites right.

        Examples
        --------
        >>> r = PipelineResult(np.full((1, 2, 3), 0.5, np.float32), np.ones((1, 2), bool),
        ...     {}, None, [], {}, alpha=np.array([[1.0, 0.5]], np.float32),
        ...     sky=np.zeros(3, np.float32))
        >>> r.rgba()[0, :, 0].tolist(), r.rgba()[0, :, 3].tolist()
        ([0.5, 1.0], [1.0, 0.5])
        """
        alpha = self.alpha if self.alpha is not None else self.mask.astype(np.float32)
        sky = self.sky if self.sky is not None else np.zeros(3, np.float32)
        straight = self.rgb - sky
        straight /= np.maximum(alpha, 1e-6)[..., None]
        straight += sky
        np.clip(straight, 0.0, 1.0, out=straight)
        straight[alpha <= 0] = 0.0
        return np.concatenate([straight, alpha[..., None]], axis=-1).astype(np.float32)


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

    def through(self, kind: str) -> Pipeline:
        """The pipeline's stages up to and including its (first) stage of ``kind``.

        For products that run the colour stages once on a blend (mosaics), or compare
        linear results (the band images after ``compose``).

        Examples
        --------
        >>> [s.name for s in Pipeline.named("enhanced").through("compose").stages][-2:]
        ['stitch', 'compose']
        """
        kinds = [STAGES[s.name].kind for s in self.stages]
        if kind not in kinds:
            raise RecipeError(f"the pipeline has no {kind} stage", path=self.source)
        return Pipeline(list(self.stages[: kinds.index(kind) + 1]), name=self.name)

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
        resampler: Resampler | None = None,
        keep_bands: bool = True,
        stream: bool = True,
    ) -> PipelineResult:
        """Process one frame.

        The frame streams through the stages: each band is decompanded and cleaned
        (the linear stages) on its own, so only one band's temporaries exist at a time;
        the geometry stage stitches band after band; the band images are dropped after
        the compose stage unless ``keep_bands``; the result's colour is faded into the
        sky in place. The output is the same as running every stage on the whole frame
        (``stream=False``).

        Parameters
        ----------
        frame : RawFrame
            From :func:`junocam.decode.read_frame`.
        calibration : Calibration, optional
            Darks, flats and bad-pixel masks for the ``dark``/``flat``/``inpaint`` stages.
        keep_stages : bool
            Keep a preview image after every stage (runs every stage on the whole
            frame: the previews of the framelet stages show all bands).
        spin_fit : SpinFit, optional
            Reuse a spin fit made earlier for this frame (skips the self-calibration).
        projector : callable, optional
            Replaces the stitch stage's geometry: ``projector(framelets)`` returns a
            :class:`junocam.planet.projection.MapResult` (map projection with backplanes), as
            ``junocam map`` does. The photometric stages need it.
        resampler : Resampler, optional
            Keeps the stitch stage's grid but renders the bands on it with this
            function instead of the spin-only stitch (``junocam process --kernels``:
            from the SPICE positions, :func:`junocam.planet.viewstitch.stitch_from_view`).
        keep_bands : bool
            Keep the linear band images in :attr:`PipelineResult.bands` (the default,
            for code that reads them). ``junocam process``, ``batch`` and ``compare``
            write only the picture and pass False: the bands (three float32 images
            of the output's size) are then freed after the compose stage.
        stream : bool
            Run the linear stages band by band (the default). False runs every stage
            on the whole frame at once, as ``keep_stages`` does; the result is the same.

        Returns
        -------
        PipelineResult

        Examples
        --------
        >>> from junocam.metadata import assumed_meta
        >>> fr = RawFrame(np.full((2 * 384, 1648), 90, np.uint8), assumed_meta(2 * 384))
        >>> p = Pipeline(["black_level", ("stitch", {"fit_spin": False}), "compose"])
        >>> res = p.run(fr, keep_bands=False)
        >>> res.rgb.shape[-1], res.bands
        (3, {})
        >>> bool(np.array_equal(res.rgb, p.run(fr, stream=False).rgb))
        True
        """
        ctx = Context(
            frame=frame,
            calibration=calibration,
            notes=[],
            spin_fit=spin_fit,
            projector=projector,
            resampler=resampler,
        )
        if keep_stages or not stream:
            # no local names: the decompanded frame is freed once a stage replaces it
            return self._run_stages(
                State(
                    framelets=split(
                        decompand(frame.pixels, frame.meta.companding),
                        frame.meta.filters,
                        frame.meta.framelet_lines,
                    )
                ),
                ctx,
                0,
                keep_stages,
                keep_bands,
            )
        first = self._geometry_index()
        timings: dict[str, float] = {}
        # no local name for the framelets: freed once the geometry stage replaces them
        return self._run_stages(
            State(framelets=self._linear_by_band(frame, ctx, first, timings)),
            ctx,
            first,
            False,
            keep_bands,
            timings,
            own=True,
        )

    __call__ = run

    def _geometry_index(self) -> int:
        """Index of the geometry stage (every pipeline has exactly one)."""
        return next(i for i, s in enumerate(self.stages) if STAGES[s.name].kind == "geometry")

    def _linear_by_band(
        self, frame: RawFrame, ctx: Context, stop: int, timings: dict[str, float]
    ) -> Framelets:
        """Decompand and run the linear stages ``0..stop-1`` one band at a time.

        Linear stages treat each band on its own (see :class:`StageSpec`), so running
        them band by band gives what they give on the whole frame, while only one
        band's copies and temporaries are alive. Each stage's notes are gathered over
        the bands (the same note once); its time is the sum over the bands.
        """
        meta = frame.meta
        codes = split(frame.pixels, meta.filters, meta.framelet_lines)  # a view, no copy
        one = len(codes.filters) == 1  # the last stage's framelets are the frame's
        data = None if one else np.empty(codes.data.shape, np.float32)
        notes: list[list[str]] = [[] for _ in range(stop)]
        spent = [0.0] * stop
        for k, band in enumerate(codes.filters):
            # decompanded straight into its place (the stages copy before they change
            # it); no local name, so that a stage's new framelets replace it
            state = State(
                framelets=Framelets(
                    decompand(
                        codes.data[:, k : k + 1],
                        meta.companding,
                        None if data is None else data[:, k : k + 1],
                    ),
                    (band,),
                )
            )
            for i, stage in enumerate(self.stages[:stop]):
                t0 = time.perf_counter()
                state = STAGES[stage.name].run(state, stage.params, replace(ctx, notes=notes[i]))
                spent[i] += time.perf_counter() - t0
            assert state.framelets is not None
            if data is None:
                data = np.asarray(state.framelets.data, np.float32)
            else:
                data[:, k : k + 1] = state.framelets.data  # itself without linear stages
            del state
        for i, stage in enumerate(self.stages[:stop]):
            timings[f"{i + 1}:{stage.name}"] = spent[i]
            for note in dict.fromkeys(notes[i]):  # bands that each noted the same
                ctx.notes.append(note)
        assert data is not None
        return Framelets(data, codes.filters)

    def _run_stages(
        self,
        state: State,
        ctx: Context,
        first: int,
        keep_stages: bool,
        keep_bands: bool = True,
        timings: dict[str, float] | None = None,
        *,
        own: bool = False,
    ) -> PipelineResult:
        """Run stages ``first``.. on ``state``, timing each; the result of the last.

        Without ``keep_bands`` the band images are dropped once the compose stage has
        made the composite (the colour stages read the composite only). With ``own``
        (the pipeline made every array of ``state``) the colour is faded in place.
        Without ``keep_stages`` the opacity, which only the fade reads, is held from
        the compose stage to the end as the mask and its ramp's few pixels
        (:class:`_PackedAlpha`), and the target weight is dropped before it is
        unpacked: the same values, two full-size float32 images fewer at a time.
        """
        timings = dict(timings or {})
        previews: list[tuple[str, np.ndarray]] = []
        # the colour stages write into the picture the compose stage made (no other
        # reference to it is kept: previews are copies of it only when faded)
        colour_ctx = ctx if keep_stages else replace(ctx, in_place=True)
        packed: _PackedAlpha | None = None
        for i, stage in enumerate(self.stages[first:], start=first):
            kind = STAGES[stage.name].kind
            stage_ctx = colour_ctx if kind == "color" else ctx
            if kind == "compose" and not keep_bands and not keep_stages and state.bands:
                # a dict of its own that the compose stage may empty once it has
                # composed the bands (they are dropped after it anyway)
                state = replace(state, bands=dict(state.bands))
                stage_ctx = replace(ctx, release_bands=True)
            t0 = time.perf_counter()
            state = STAGES[stage.name].run(state, stage.params, stage_ctx)
            timings[f"{i + 1}:{stage.name}"] = time.perf_counter() - t0
            if kind == "compose" and state.bands is not None and state.rgb is not None:
                if any(np.may_share_memory(state.rgb, v) for v in state.bands.values()):
                    colour_ctx = ctx  # the composite is (a view of) a band: not ours
            if not keep_bands and kind == "compose":
                state = replace(state, bands=None, masks=None)
            if kind == "compose" and not keep_stages and state.mask is not None:
                packed = _PackedAlpha.of(state.alpha, state.mask)
                if packed is not None:  # no stage after the compose stage reads it
                    state = replace(state, alpha=None)
            if keep_stages:
                previews.append((f"{i + 1:02d}-{stage.name}", _preview(state)))
        assert state.rgb is not None and state.mask is not None
        assert state.bands is not None or not keep_bands
        mask = state.mask
        sky_level_now = None
        if packed is not None:
            # the sky's level needs the target weight, the fade the opacity: the one
            # is dropped before the other is unpacked
            grey = state.rgb if state.rgb.ndim == 3 else state.rgb[..., None]
            sky_level_now = sky_level(grey, packed.opaque(mask), state.target)
            del grey
            state = replace(state, target=None)
            state = replace(state, alpha=packed.unpack(mask))
        rgb, sky = _faded(state, in_place=own and not keep_stages, sky=sky_level_now)
        return PipelineResult(
            rgb=rgb,
            mask=mask,
            bands=dict(state.bands) if keep_bands and state.bands is not None else {},
            fit=state.fit,
            notes=ctx.notes,
            timings=timings,
            stage_images=previews,
            alpha=state.alpha,
            sky=sky,
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
        ctx = Context(frame=frame, calibration=None, notes=[])
        state = State(bands=dict(bands), masks=dict(masks), backplanes=backplanes)
        return self._run_stages(state, ctx, self._geometry_index() + 1, keep_stages=False)


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


def final_image(state: State) -> np.ndarray:
    """The picture a state shows: its composite faded into the sky outside the coverage.

    What :class:`PipelineResult` holds as ``rgb``; for code that runs stages itself
    (the studio's cached previews).

    Examples
    --------
    >>> rgb = np.full((1, 3, 3), 0.8, np.float32)
    >>> s = State(rgb=rgb, mask=np.ones((1, 3), bool), alpha=np.array([[0, 0.5, 1]], np.float32))
    >>> [round(float(v), 2) for v in final_image(s)[0, :, 0]]
    [0.0, 0.4, 0.8]
    """
    return _faded(state)[0]


def _faded(
    state: State, in_place: bool = False, sky: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The composite faded into the sky outside the coverage, and the sky's level.

    Always (H, W, 3): a grey composite, one channel until here, is repeated.
    ``in_place`` fades ``state.rgb`` itself (the engine's last use of it) instead of
    a copy, and repeats a grey one as a read-only view (the engine's result).
    ``sky``: the sky's level, when measured already.
    """
    assert state.rgb is not None and state.mask is not None
    rgb = state.rgb if state.rgb.ndim == 3 else state.rgb[..., None]
    if state.alpha is None:
        return _three(rgb, view=in_place), None
    # outside every band's coverage the picture is the sky, not one band's colour
    if sky is None:
        sky = sky_level(rgb, state.mask & (state.alpha >= 1.0), state.target)
    out = over_sky(rgb, state.alpha, sky, out=rgb if in_place and rgb.dtype == np.float32 else None)
    return _three(out, view=in_place), np.resize(sky, 3).astype(np.float32)


@dataclass(frozen=True)
class _PackedAlpha:
    """A composite's opacity held as its mask and the pixels where it differs from it.

    The compose stages make the opacity 1 on the mask and 0 off it but for a ramp a
    few pixels wide at the coverage's edge: ``index`` (flat) and ``value`` are those
    pixels, so :meth:`unpack` gives the same float32 array back.
    """

    index: np.ndarray
    value: np.ndarray

    #: packing pays while the differing pixels are at most this share of the image
    LIMIT = 0.05

    @classmethod
    def of(cls, alpha: np.ndarray | None, mask: np.ndarray) -> _PackedAlpha | None:
        """The packed opacity, or None (no opacity, not float32 of the mask's shape,
        or too many pixels off the mask's values)."""
        if alpha is None or alpha.dtype != np.float32 or alpha.shape != mask.shape:
            return None
        h, w = mask.shape
        parts = []
        count = 0
        for r0 in range(0, h, 256):
            off = np.flatnonzero(alpha[r0 : r0 + 256] != mask[r0 : r0 + 256])
            count += off.size
            if count > cls.LIMIT * alpha.size:
                return None
            parts.append(off + r0 * w)
        index = np.concatenate(parts) if parts else np.zeros(0, np.intp)
        return cls(index, alpha.reshape(-1)[index].copy())

    def unpack(self, mask: np.ndarray) -> np.ndarray:
        """The opacity: ``mask`` as float32 with the packed pixels' values."""
        alpha = mask.astype(np.float32)
        alpha.reshape(-1)[self.index] = self.value
        return alpha

    def opaque(self, mask: np.ndarray) -> np.ndarray:
        """``mask & (alpha >= 1)`` without the opacity."""
        out = np.array(mask, bool)
        flat = out.reshape(-1)
        flat[self.index] &= self.value >= 1.0
        return out


def _three(rgb: np.ndarray, view: bool = False) -> np.ndarray:
    """An (H, W, 3) picture from an (H, W, 3) or (H, W, 1) one; with ``view`` a grey
    one is repeated as a read-only view of its one channel instead of a copy."""
    if rgb.shape[-1] == 3:
        return rgb
    if view:
        return np.broadcast_to(rgb, (*rgb.shape[:-1], 3))
    return np.repeat(rgb, 3, axis=-1)


def _preview(state: State) -> np.ndarray:
    """A [0, 1] picture of the current state, for --save-stages."""
    if state.rgb is not None:
        return _faded(state)[0]
    if state.bands is not None:
        return compose_rgb(dict(state.bands), normalize="per-band")
    assert state.framelets is not None
    strip = state.framelets.data.reshape(-1, state.framelets.data.shape[-1])
    top = float(np.percentile(strip, 99.9)) or 1.0
    return np.clip(strip / top, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class DefaultPipeline:
    """The default recipe per frame: ``mono`` for single-band frames, else ``enhanced``.

    What ``junocam process`` and ``junocam batch`` run when no ``--pipeline`` is given.
    ``overrides`` apply to whichever recipe a frame gets.

    Examples
    --------
    >>> from junocam.metadata import assumed_meta
    >>> auto = DefaultPipeline(("stretch.high=99.0",))
    >>> auto.for_meta(assumed_meta(1536, ["METHANE"])).name
    'mono'
    >>> auto.for_meta(assumed_meta(1536)).stages[-1].name
    'defringe'
    """

    overrides: tuple[str, ...] = ()
    name: str = "default"

    def for_meta(self, meta: FrameMeta) -> Pipeline:
        """The validated pipeline for a frame with this metadata.

        Overrides of a stage the chosen recipe does not have (``band_weights`` for a
        grey ``mono`` frame) do not apply to it; :meth:`validate` makes sure each
        applies to one of the two recipes.
        """
        base = Pipeline.named(default_recipe(len(meta.filters)))
        names = {s.name for s in base.stages}
        apply = [o for o in self.overrides if parse_override(o)[0] in names]
        return base.with_overrides(apply)

    def validate(self) -> None:
        """Raise RecipeError for an override that fits neither default recipe, or a bad value."""
        for text in self.overrides:
            errors = []
            for name in (DEFAULT_RECIPE, SINGLE_BAND_RECIPE):
                try:
                    Pipeline.named(name).with_overrides([text])
                except RecipeError as err:
                    errors.append(err)
            if len(errors) == 2:
                raise errors[0]

    def digest(self) -> str:
        """One digest over both recipes and the overrides."""
        parts = []
        for name in (DEFAULT_RECIPE, SINGLE_BAND_RECIPE):
            try:
                parts.append(Pipeline.named(name).with_overrides(self.overrides).digest())
            except RecipeError:
                parts.append("n/a")
        return hashlib.sha256("+".join(parts).encode()).hexdigest()[:16]
