"""The studio's model: served frames, recipes as the page edits them, cached live previews.

A parameter change in the page re-runs only the stages after the one that changed.
:class:`PreviewEngine` keeps the :class:`~junocam.pipeline.State` after every stage,
keyed by the frame and the recipe *prefix* up to that stage (names and parameters),
in a least-recently-used cache with a memory budget. A preview looks for the longest
cached prefix of the recipe and runs the remaining stages from there, so moving a
colour slider re-runs the colour stages from that one on, and the decoded frame, the
clean-up stages, the spin fit and the stitch are reused. The spin fit is kept per
frame (it is a property of the frame's geometry, as ``junocam compare`` shares it
between recipes); a new fit is made only when the stitch asks for one and the
frame has none yet.

Previews are made at a *preview scale*: the stitch's ``scale`` (and a perspective
``size`` and ``center``) times the factor, so the colour stages work on a few
hundred thousand pixels. Parameters measured in output pixels (``flatten.sigma``,
``unsharp.radius``, a fixed ``clahe.kernel_size``) are scaled by the same factor, so
the preview looks like the full-resolution result, only smaller.

Examples
--------
>>> from junocam.pipeline import Pipeline
>>> page = recipe_to_page(Pipeline.named("raw"))
>>> [(s["name"], s["enabled"]) for s in page["stages"]]
[('stitch', True), ('compose', True)]
>>> page["stages"][0]["enabled"] = True
>>> pipeline_from_page(page).digest() == Pipeline.named("raw").digest()
True
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
import time
import tomllib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..companding import decompand
from ..compose import compose_rgb
from ..decode import DEFAULT_MAX_PIXELS, RawFrame, read_frame
from ..errors import JunoCamError, RecipeError
from ..framelets import split
from ..pipeline.engine import Pipeline, Stage, final_image
from ..pipeline.recipes import list_recipes
from ..pipeline.registry import Context, State
from ..pipeline.stages import STAGES
from ..spinfit import SpinFit
from .security import frame_id

__all__ = [
    "PREVIEW_SCALE",
    "ServedFrame",
    "FrameCatalog",
    "PreviewResult",
    "PreviewEngine",
    "registry_json",
    "recipe_to_page",
    "pipeline_from_page",
    "recipe_toml",
    "encode_jpeg",
    "thumbnail",
    "recipe_choices",
]

#: Default preview scale (output pixels per full-resolution output pixel).
PREVIEW_SCALE = 0.4

#: What a recipe's name may be (it becomes part of output file names).
_RECIPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")

#: (stage, parameter) pairs measured in output pixels, scaled with the preview.
PIXEL_PARAMS = {("flatten", "sigma"), ("unsharp", "radius"), ("clahe", "kernel_size")}


# -- the registry and recipes as the page sees them -------------------------------------
def registry_json() -> list[dict[str, Any]]:
    """Every stage with its kind, doc and parameters (type, default, range, choices, doc).

    The page builds one control per parameter from this: a slider for a ranged
    number, a switch for a bool, a select for choices.

    Examples
    --------
    >>> gamma = next(s for s in registry_json() if s["name"] == "gamma")
    >>> gamma["kind"], gamma["params"][0]["name"], gamma["params"][0]["low"]
    ('color', 'gamma', 0.1)
    """
    out = []
    for name, spec in STAGES.items():
        params = [
            {
                "name": key,
                "type": p.kind,
                "default": _jsonable(p.default),
                "low": p.low,
                "high": p.high,
                "choices": list(p.choices) if p.choices else None,
                "doc": p.doc,
                "odd": p.odd,
            }
            for key, p in spec.params.items()
        ]
        out.append({"name": name, "kind": spec.kind, "doc": spec.doc, "params": params})
    return out


def recipe_to_page(pipeline: Pipeline) -> dict[str, Any]:
    """A pipeline as the page's editable recipe: every stage enabled, every parameter set.

    Examples
    --------
    >>> recipe_to_page(Pipeline.named("raw"))["stages"][1]["params"]["mode"]
    'rgb'
    """
    return {
        "name": pipeline.name,
        "description": pipeline.description,
        "stages": [
            {
                "name": s.name,
                "kind": STAGES[s.name].kind,
                "enabled": True,
                "params": {k: _jsonable(v) for k, v in s.params.items()},
            }
            for s in pipeline.stages
        ],
    }


def pipeline_from_page(data: Any) -> Pipeline:
    """Validate the page's recipe (disabled stages left out) into a :class:`Pipeline`.

    Raises
    ------
    RecipeError
        As for a TOML recipe: unknown stage or parameter, bad value, stages out of
        order, no geometry or compose stage.

    Examples
    --------
    >>> page = {"name": "x", "stages": [{"name": "stitch"}, {"name": "compose"},
    ...         {"name": "gamma", "enabled": False, "params": {"gamma": 2.0}}]}
    >>> [s.name for s in pipeline_from_page(page).stages]
    ['stitch', 'compose']
    """
    if not isinstance(data, Mapping):
        raise RecipeError("the recipe must be an object with name, description and stages")
    stages = data.get("stages")
    if not isinstance(stages, list):
        raise RecipeError("the recipe has no stages list")
    items: list[dict[str, Any]] = []
    for i, st in enumerate(stages):
        if not isinstance(st, Mapping) or not isinstance(st.get("name"), str):
            raise RecipeError(f"stage {i + 1} has no name")
        if st.get("enabled", True) is False:
            continue
        params = st.get("params") or {}
        if not isinstance(params, Mapping):
            raise RecipeError(f"stage {i + 1} ({st['name']!r}): params must be an object")
        items.append({"name": st["name"], **params})
    name = data.get("name") or "studio"
    desc = data.get("description") or ""
    if not isinstance(name, str) or not _RECIPE_NAME.match(name) or ".." in name:
        # the name becomes part of output file names: keep it a plain word
        raise RecipeError(f"recipe name {name!r} must be 1-64 letters, digits or _ . + - (no '..')")
    return Pipeline.from_dict({"name": name, "description": desc, "stages": items})


def recipe_toml(pipeline: Pipeline) -> str:
    """The pipeline as a TOML recipe (parameters that differ from their defaults).

    The text is read back and validated before it is returned, so what the studio
    exports is exactly what ``junocam process --pipeline FILE`` will run.

    Examples
    --------
    >>> p = Pipeline(["stitch", "compose", ("gamma", {"gamma": 1.4})], name="look")
    >>> print(recipe_toml(p))
    name = "look"
    description = ""
    <BLANKLINE>
    [[stages]]
    name = "stitch"
    <BLANKLINE>
    [[stages]]
    name = "compose"
    <BLANKLINE>
    [[stages]]
    name = "gamma"
    gamma = 1.4
    <BLANKLINE>
    """
    lines = [f"name = {_toml_value(pipeline.name)}"]
    lines.append(f"description = {_toml_value(pipeline.description)}")
    for s in pipeline.stages:
        lines += ["", "[[stages]]", f"name = {_toml_value(s.name)}"]
        spec = STAGES[s.name]
        for key, value in s.params.items():
            default = spec.params[key].default
            if _jsonable(value) != _jsonable(default):
                lines.append(f"{key} = {_toml_value(value)}")
    text = "\n".join(lines) + "\n"
    again = Pipeline.from_dict(tomllib.loads(text))
    if again.digest() != pipeline.digest():  # pragma: no cover - a writer bug
        raise RecipeError("the exported recipe does not read back as the same recipe")
    return text


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise RecipeError(f"cannot write the non-finite value {v!r}")
        text = repr(v)
        return text if any(c in text for c in ".e") else text + ".0"
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise RecipeError(f"cannot write {v!r} as TOML")


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


# -- frames ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServedFrame:
    """One frame the studio serves: its opaque id and its file (never sent to the page)."""

    id: str
    path: Path

    @property
    def name(self) -> str:
        """The file name shown in the page."""
        return self.path.name


class FrameCatalog:
    """The frames given on the command line (files, or folders searched recursively).

    Decoded frames are kept in a small cache; thumbnails are made once.

    Examples
    --------
    >>> import tempfile
    >>> from junocam.output import encode_png
    >>> from junocam.simulate import JupiterScene, SimulationSpec, metadata_json, simulate_frame
    >>> d = Path(tempfile.mkdtemp())
    >>> sim = simulate_frame(JupiterScene(), SimulationSpec(n_exposures=2, oversample=1))
    >>> _ = (d / "s-raw.png").write_bytes(encode_png(sim.strip))
    >>> _ = (d / "s-raw.json").write_text(metadata_json(sim.metadata))
    >>> cat = FrameCatalog([d])
    >>> [f.name for f in cat.frames], cat.frame(cat.frames[0].id).meta.n_exposures
    (['s-raw.png'], 2)
    """

    def __init__(
        self,
        frames: Sequence[ServedFrame] | Iterable[str | Path],
        max_pixels: int = DEFAULT_MAX_PIXELS,
        keep: int = 4,
    ) -> None:
        items = list(frames)
        if items and all(isinstance(f, ServedFrame) for f in items):
            served = [f for f in items if isinstance(f, ServedFrame)]
        else:
            from ..batch.discover import discover

            found = discover([str(p) for p in items])
            served = [ServedFrame(frame_id(p), Path(p).resolve()) for p in found]
        seen: dict[str, ServedFrame] = {}
        for f in served:
            seen.setdefault(f.id, f)
        self.frames: list[ServedFrame] = list(seen.values())
        self.max_pixels = max_pixels
        self._keep = keep
        self._decoded: OrderedDict[str, RawFrame] = OrderedDict()
        self._thumbs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, fid: str) -> ServedFrame:
        """The served frame with this id (KeyError for any other id)."""
        for f in self.frames:
            if f.id == fid:
                return f
        raise KeyError(fid)

    def frame(self, fid: str) -> RawFrame:
        """The decoded frame (cached)."""
        with self._lock:
            if fid in self._decoded:
                self._decoded.move_to_end(fid)
                return self._decoded[fid]
        raw = read_frame(self.get(fid).path, max_pixels=self.max_pixels)
        with self._lock:
            self._decoded[fid] = raw
            while len(self._decoded) > self._keep:
                self._decoded.popitem(last=False)
        return raw

    def info(self, fid: str) -> dict[str, Any]:
        """What the page shows about a frame (no path)."""
        f = self.get(fid)
        out: dict[str, Any] = {"id": f.id, "name": f.name}
        try:
            meta = self.frame(fid).meta
        except JunoCamError as err:
            out["error"] = err.message
            return out
        out.update(
            product_id=meta.product_id,
            filters=[b.value for b in meta.filters],
            exposures=meta.n_exposures,
            start_time=getattr(meta, "start_time", None),
        )
        return _json_safe(out)

    def thumbnail(self, fid: str, width: int = 200) -> bytes:
        """A JPEG quick look (naive stacking) of the frame, ``width`` pixels wide."""
        if fid not in self._thumbs:
            self._thumbs[fid] = encode_jpeg(thumbnail(self.frame(fid), width), quality=80)
        return self._thumbs[fid]


def thumbnail(frame: RawFrame, width: int = 200) -> np.ndarray:
    """A small naive colour composite of a frame (float32 RGB in [0, 1]).

    Examples
    --------
    >>> from junocam.metadata import assumed_meta
    >>> fr = RawFrame(np.full((384, 1648), 90, np.uint8), assumed_meta(384))
    >>> thumbnail(fr, 100).shape[1] <= 100
    True
    """
    naive = Pipeline([("stitch", {"geometry": "naive"}), "compose"])
    rgb = naive.run(frame, keep_bands=False).rgb
    return _shrink(rgb, width)


def _shrink(img: np.ndarray, width: int) -> np.ndarray:
    """Downsample by block means to about ``width`` columns (never enlarges)."""
    step = max(1, int(math.ceil(img.shape[1] / max(width, 1))))
    if step == 1:
        return img
    h, w = (img.shape[0] // step) * step, (img.shape[1] // step) * step
    if h == 0:
        return img[::step, ::step]
    view = img[:h, :w].reshape(h // step, step, w // step, step, *img.shape[2:])
    return view.mean(axis=(1, 3)).astype(np.float32)


def encode_jpeg(img: np.ndarray, quality: int = 88) -> bytes:
    """A float image in [0, 1] (grey or RGB) as JPEG bytes.

    Examples
    --------
    >>> encode_jpeg(np.zeros((4, 4, 3), np.float32))[:3]
    b'\\xff\\xd8\\xff'
    """
    from PIL import Image

    arr = np.asarray(img, dtype=np.float32)
    u8 = (np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _json_safe(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return str(v)


# -- previews ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PreviewResult:
    """A preview and how it was made.

    Attributes
    ----------
    rgb : numpy.ndarray
        float32 (H, W, 3) in [0, 1] at preview scale.
    rerun_from : int
        Index of the first stage that ran (0: everything; ``len(stages)``: all cached).
    seconds : float
        Wall time of this preview (stages only, not the encoding).
    timings : dict
        Seconds per stage that ran (``"<index>:<name>"``).
    notes : list of str
        What the stages skipped or assumed.
    fit : SpinFit or None
    labels : list of str
        ``"<index>-<name>"`` of every stage, for the per-stage snapshots.
    """

    rgb: np.ndarray
    rerun_from: int
    seconds: float
    timings: dict[str, float]
    notes: list[str]
    fit: SpinFit | None
    labels: list[str] = field(default_factory=list)


@dataclass
class _Cached:
    state: State
    notes: list[str]
    nbytes: int


class PreviewEngine:
    """Live previews with the state after every stage cached per frame and recipe prefix.

    Parameters
    ----------
    catalog : FrameCatalog
    budget_bytes : int
        Memory the cached states may take (least recently used are dropped first).

    Examples
    --------
    >>> import tempfile
    >>> from junocam.output import encode_png
    >>> from junocam.simulate import JupiterScene, SimulationSpec, metadata_json, simulate_frame
    >>> d = Path(tempfile.mkdtemp())
    >>> sim = simulate_frame(JupiterScene(), SimulationSpec(n_exposures=2, oversample=1))
    >>> _ = (d / "s-raw.png").write_bytes(encode_png(sim.strip))
    >>> _ = (d / "s-raw.json").write_text(metadata_json(sim.metadata))
    >>> engine = PreviewEngine(FrameCatalog([d]))
    >>> fid = engine.catalog.frames[0].id
    >>> p = Pipeline(["stitch", "compose", ("gamma", {"gamma": 1.2})])
    >>> first = engine.preview(fid, p)
    >>> again = engine.preview(fid, Pipeline(["stitch", "compose", ("gamma", {"gamma": 2.0})]))
    >>> first.rerun_from, again.rerun_from, first.rgb.shape == again.rgb.shape
    (0, 2, True)
    """

    def __init__(self, catalog: FrameCatalog, budget_bytes: int = 1 << 30) -> None:
        self.catalog = catalog
        self.budget_bytes = budget_bytes
        self._cache: OrderedDict[tuple[Any, ...], _Cached] = OrderedDict()
        self._bytes = 0
        self._fits: dict[str, SpinFit] = {}
        self._lock = threading.Lock()

    # the preview's version of a stage's parameters
    @staticmethod
    def preview_params(stage: Stage, scale: float) -> dict[str, Any]:
        """A stage's parameters at preview scale ``scale`` (see the module notes).

        Examples
        --------
        >>> PreviewEngine.preview_params(Stage.make("unsharp", {"radius": 3.0}), 0.5)["radius"]
        1.5
        >>> PreviewEngine.preview_params(Stage.make("stitch"), 0.4)["scale"]
        0.4
        """
        p = dict(stage.params)
        if scale == 1.0:
            return p
        if stage.name == "stitch":
            p["scale"] = max(0.05, p["scale"] * scale)
            if p["size"]:
                p["size"] = max(16, int(round(p["size"] * scale)))
            for key in ("center_row", "center_col"):
                if p[key] >= 0:
                    p[key] = p[key] * scale
        for name, key in PIXEL_PARAMS:
            if stage.name == name and p.get(key):
                spec = STAGES[name].params[key]
                value = p[key] * scale
                if spec.kind == "int":
                    value = max(8, int(round(value)))
                p[key] = max(spec.low if spec.low is not None else 0.0, value)
        return p

    def preview(self, fid: str, pipeline: Pipeline, scale: float = PREVIEW_SCALE) -> PreviewResult:
        """Run ``pipeline`` on frame ``fid`` at preview scale, from the longest cached prefix.

        Raises
        ------
        KeyError
            ``fid`` is not a served frame.
        JunoCamError
            The frame cannot be read or a stage failed.
        """
        with self._lock:
            return self._preview(fid, pipeline, scale)

    def _keys(self, fid: str, pipeline: Pipeline, scale: float) -> list[tuple[Any, ...]]:
        keys: list[tuple[Any, ...]] = []
        prefix: tuple[Any, ...] = (fid, round(float(scale), 6))
        for s in pipeline.stages:
            canon = json.dumps({k: _jsonable(v) for k, v in s.params.items()}, sort_keys=True)
            prefix = (*prefix, (s.name, canon))
            keys.append(prefix)
        return keys

    def _preview(self, fid: str, pipeline: Pipeline, scale: float) -> PreviewResult:
        t0 = time.perf_counter()
        frame = self.catalog.frame(fid)
        keys = self._keys(fid, pipeline, scale)
        start = 0
        state: State | None = None
        notes: list[str] = []
        for i in range(len(keys) - 1, -1, -1):
            hit = self._cache.get(keys[i])
            if hit is not None:
                start, state, notes = i + 1, hit.state, list(hit.notes)
                break
        for key in keys[:start]:  # the whole prefix in use: the last to be dropped
            if key in self._cache:
                self._cache.move_to_end(key)
        if state is None:
            state = State(
                framelets=split(
                    decompand(frame.pixels, frame.meta.companding),
                    frame.meta.filters,
                    frame.meta.framelet_lines,
                )
            )
        timings: dict[str, float] = {}
        for i in range(start, len(pipeline.stages)):
            stage = pipeline.stages[i]
            params = self.preview_params(stage, scale)
            fit = None
            if stage.name == "stitch" and params["fit_spin"]:
                fit = self._fits.get(fid)
            ctx = Context(frame=frame, calibration=None, notes=notes, spin_fit=fit)
            t = time.perf_counter()
            previous = state
            state = STAGES[stage.name].run(state, params, ctx)
            timings[f"{i + 1}:{stage.name}"] = time.perf_counter() - t
            if stage.name == "stitch" and params["fit_spin"] and state.fit is not None:
                self._fits.setdefault(fid, state.fit)
            self._store(keys[i], state, notes, previous, set(keys))
        assert state.rgb is not None
        return PreviewResult(
            rgb=final_image(state),
            rerun_from=start,
            seconds=time.perf_counter() - t0,
            timings=timings,
            notes=list(notes),
            fit=state.fit,
            labels=[f"{i + 1:02d}-{s.name}" for i, s in enumerate(pipeline.stages)],
        )

    def _store(
        self,
        key: tuple[Any, ...],
        state: State,
        notes: list[str],
        previous: State,
        protected: set[tuple[Any, ...]],
    ) -> None:
        """Keep ``state``; drop least recently used states (not the current recipe's)."""
        nbytes = _state_bytes(state, previous)
        old = self._cache.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        self._cache[key] = _Cached(state, list(notes), nbytes)
        self._bytes += nbytes
        if self._bytes <= self.budget_bytes:
            return
        for k in list(self._cache):
            if self._bytes <= self.budget_bytes:
                break
            if k not in protected:
                self._bytes -= self._cache.pop(k).nbytes

    def snapshots(
        self, fid: str, pipeline: Pipeline, scale: float = PREVIEW_SCALE, width: int = 240
    ) -> list[tuple[str, np.ndarray]]:
        """A small picture of the state after every stage (runs what is not cached).

        Examples
        --------
        >>> import tempfile
        >>> from junocam.output import encode_png
        >>> from junocam.simulate import JupiterScene, SimulationSpec, metadata_json, simulate_frame
        >>> d = Path(tempfile.mkdtemp())
        >>> sim = simulate_frame(JupiterScene(), SimulationSpec(n_exposures=2, oversample=1))
        >>> _ = (d / "s-raw.png").write_bytes(encode_png(sim.strip))
        >>> _ = (d / "s-raw.json").write_text(metadata_json(sim.metadata))
        >>> engine = PreviewEngine(FrameCatalog([d]))
        >>> p = Pipeline(["hot_pixels", "stitch", "compose"])
        >>> [label for label, _ in engine.snapshots(engine.catalog.frames[0].id, p)]
        ['01-hot_pixels', '02-stitch', '03-compose']
        """
        with self._lock:
            keys = self._keys(fid, pipeline, scale)
            if any(k not in self._cache for k in keys):
                self._preview(fid, pipeline, scale)
            out = []
            for i, (key, stage) in enumerate(zip(keys, pipeline.stages, strict=True)):
                cached = self._cache.get(key)
                if cached is None:  # dropped for memory between the run and now
                    continue
                out.append((f"{i + 1:02d}-{stage.name}", _snapshot(cached.state, width)))
            return out

    def spin_fit(self, fid: str) -> SpinFit | None:
        """The spin fit kept for a frame (None before its first fitted preview)."""
        return self._fits.get(fid)

    def cached_bytes(self) -> int:
        """Bytes held by the cached states."""
        return self._bytes


def _arrays(state: State) -> list[np.ndarray]:
    out = [] if state.framelets is None else [state.framelets.data]
    for group in (state.bands, state.masks):
        if group is not None:
            out += [np.asarray(v) for v in group.values()]
    out += [a for a in (state.rgb, state.mask, state.target) if a is not None]
    return out


def _state_bytes(state: State, previous: State | None = None) -> int:
    """Bytes of the arrays ``state`` holds that ``previous`` does not (stages share
    arrays they do not change, e.g. every colour state shares the stitched bands)."""
    shared = {id(a) for a in _arrays(previous)} if previous is not None else set()
    return sum(a.nbytes for a in _arrays(state) if id(a) not in shared)


def _snapshot(state: State, width: int) -> np.ndarray:
    """A [0, 1] picture of a state, about ``width`` pixels wide."""
    if state.rgb is not None:
        return _shrink(final_image(state), width)
    if state.bands is not None:
        step = max(1, next(iter(state.bands.values())).shape[1] // max(width, 1))
        bands = {b: np.asarray(v)[::step, ::step] for b, v in state.bands.items()}
        return compose_rgb(bands, normalize="per-band")
    assert state.framelets is not None
    data = state.framelets.data
    strip = data.reshape(-1, data.shape[-1])
    step = max(1, int(math.ceil(strip.shape[1] / max(width, 1))))
    small = strip[::step, ::step]
    top = float(np.percentile(small, 99.9)) or 1.0
    return np.clip(small / top, 0.0, 1.0).astype(np.float32)


def recipe_choices(extra_folders: Sequence[Path] = ()) -> list[dict[str, Any]]:
    """The recipes the page offers: built-in, the user's folder, and TOML files found
    in the served folders (each with an opaque id; paths are not sent).

    Examples
    --------
    >>> [r["origin"] for r in recipe_choices() if r["name"] == "enhanced"]
    ['built-in']
    """
    out: list[dict[str, Any]] = [
        {"id": f"{r.origin}:{r.name}", "name": r.name, "origin": r.origin, "path": r.path}
        for r in list_recipes()
    ]
    seen = {r["path"].resolve() for r in out}
    for folder in extra_folders:
        try:
            files = sorted(folder.glob("*.toml"))
        except OSError:
            continue
        for f in files:
            rp = f.resolve()
            if rp in seen or not f.is_file():
                continue
            seen.add(rp)
            out.append(
                {"id": f"folder:{frame_id(rp)}", "name": f.stem, "origin": "folder", "path": rp}
            )
    return out
