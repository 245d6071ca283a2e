"""Pipelines: ordered, validated lists of stages, written as TOML recipes.

A frame flows through four kinds of stage, in this order:

1. ``linear`` stages clean the decompanded framelets (float32 DN, per band):
   ``black_level``, ``dark``, ``flat``, ``inpaint``, ``hot_pixels``,
   ``fixed_pattern``, ``blemishes``, ``exposure``, ``denoise``;
2. exactly one ``geometry`` stage, ``stitch``, puts every band on one grid
   (spin cylinder, perspective virtual camera, the naive stacking, or a map);
3. an optional ``photometric`` stage (``photometry``, on maps);
4. exactly one ``compose`` stage makes an RGB float32 image in [0, 1]
   (``compose`` or ``methane_composite``);
5. ``color`` stages shape it: ``white_balance``, ``band_weights``, ``stretch``,
   ``gamma``, ``filmic``, ``flatten``, ``clahe``, ``unsharp``, ``saturation``,
   ``true_color``.

Modules
-------
parameters
    A stage parameter's type, range and default (:class:`Param`), and
    ``stage.param=value`` overrides.
registry
    What a stage is (:class:`StageSpec`) and what flows between stages
    (:class:`State`, :class:`Context`).
stages
    The stages, one module per kind; each stage's function sits next to its
    registry entry. :data:`STAGES` collects them.
engine
    :class:`Pipeline` (validation, order, running) and :class:`PipelineResult`.
recipes
    Where recipes are found: the built-in TOML files shipped as package data and the
    user's recipe folder.

Recipes can only name registered stages (no eval, no imports by string). Every
parameter has a type, a range and a default, and a recipe is validated completely
before any frame is touched: errors name the recipe file, the stage and the parameter.

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
>>> p = Pipeline.named("raw")
>>> [s.name for s in p.stages], p.digest() == Pipeline.named("raw").digest()
(['stitch', 'compose'], True)
>>> STAGES["stretch"].params["high"].default
99.5
"""

from __future__ import annotations

from ..compose import target_weight
from .engine import DefaultPipeline, Pipeline, PipelineResult, Stage
from .parameters import Param, parse_override
from .recipes import RecipeSource, builtin_recipes, list_recipes, recipe_path, user_recipe_dir
from .registry import KINDS, Context, StageSpec, State
from .stages import STAGES

__all__ = [
    "Param",
    "StageSpec",
    "Stage",
    "State",
    "Context",
    "KINDS",
    "Pipeline",
    "DefaultPipeline",
    "PipelineResult",
    "STAGES",
    "builtin_recipes",
    "list_recipes",
    "RecipeSource",
    "user_recipe_dir",
    "recipe_path",
    "parse_override",
    "target_weight",
]
