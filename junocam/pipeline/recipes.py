"""Where recipes come from: built-in TOML files shipped in the package, the user's folder.

Built-in recipes are package data (``junocam/pipeline/recipes/*.toml``), read through
:mod:`importlib.resources`, so they are found in any install: a wheel, pipx, a conda
package or an editable checkout. Users keep their own recipes in one folder:

* ``$JUNOCAM_RECIPE_DIR`` when that environment variable is set, else
* the platform's configuration folder for junocam, ``recipes/`` inside it
  (``~/.config/junocam/recipes`` on Linux, ``~/Library/Application
  Support/junocam/recipes`` on macOS, ``%LOCALAPPDATA%\\junocam\\junocam\\recipes``
  on Windows; from :func:`platformdirs.user_config_path`).

A recipe there is used by its file name's stem, like a built-in one; a user recipe
with a built-in's name takes its place (``junocam pipelines`` says so). Any other
recipe file is used by its path (``--pipeline my/recipe.toml``).

Examples
--------
>>> sorted(builtin_recipes())[:3]
['enhanced', 'late-mission', 'map']
>>> recipe_path("raw").name
'raw.toml'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import RecipeError

__all__ = [
    "RECIPE_DIR_ENV",
    "RecipeSource",
    "builtin_recipe_dir",
    "user_recipe_dir",
    "builtin_recipes",
    "list_recipes",
    "recipe_path",
    "DEFAULT_RECIPE",
    "SINGLE_BAND_RECIPE",
    "default_recipe",
]

#: The recipe used when none is named: for frames with two or more bands ...
DEFAULT_RECIPE = "enhanced"
#: ... and for single-band frames (methane-only products): grey, no noise amplification.
SINGLE_BAND_RECIPE = "mono"

#: Environment variable naming the user's recipe folder (overrides the platform default).
RECIPE_DIR_ENV = "JUNOCAM_RECIPE_DIR"


@dataclass(frozen=True)
class RecipeSource:
    """One recipe that ``--pipeline NAME`` can use, and where it comes from.

    Attributes
    ----------
    name : str
        The name to use (the file's stem).
    path : Path
        The TOML file.
    origin : str
        ``"built-in"`` (shipped with junocam) or ``"user"`` (the user's recipe folder).
    shadows_builtin : bool
        A user recipe that takes the place of the built-in recipe of the same name.
    """

    name: str
    path: Path
    origin: str
    shadows_builtin: bool = False


def builtin_recipe_dir() -> Path:
    """The folder of the built-in recipes inside the installed package.

    Examples
    --------
    >>> (builtin_recipe_dir() / "enhanced.toml").is_file()
    True
    """
    folder = resources.files("junocam.pipeline") / "recipes"
    # a wheel, sdist or editable install has the package on disk; only a zipped
    # package (zipimport) would not, and junocam is never shipped that way
    return Path(str(folder))


def user_recipe_dir() -> Path:
    """The user's recipe folder (it need not exist).

    Examples
    --------
    >>> import os
    >>> os.environ["JUNOCAM_RECIPE_DIR"] = "/tmp/my-recipes"
    >>> str(user_recipe_dir())
    '/tmp/my-recipes'
    >>> del os.environ["JUNOCAM_RECIPE_DIR"]
    """
    env = os.environ.get(RECIPE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_config_path("junocam", appauthor=False) / "recipes"


def _toml_files(folder: Path) -> dict[str, Path]:
    try:
        return {f.stem: f for f in sorted(folder.glob("*.toml")) if f.is_file()}
    except OSError:  # an unreadable user folder hides its recipes, it does not break listing
        return {}


def builtin_recipes() -> dict[str, Path]:
    """Built-in recipe names and their files.

    Examples
    --------
    >>> {"raw", "true-color", "enhanced", "vivid", "methane"} <= set(builtin_recipes())
    True
    """
    return _toml_files(builtin_recipe_dir())


def list_recipes() -> list[RecipeSource]:
    """Every recipe usable by name, sorted by name, user recipes in place of built-ins.

    Examples
    --------
    >>> [(r.name, r.origin) for r in list_recipes() if r.name == "raw"]
    [('raw', 'built-in')]
    """
    builtin = builtin_recipes()
    user = _toml_files(user_recipe_dir())
    out = {n: RecipeSource(n, p, "built-in") for n, p in builtin.items()}
    for n, p in user.items():
        out[n] = RecipeSource(n, p, "user", shadows_builtin=n in builtin)
    return [out[n] for n in sorted(out)]


def recipe_path(name_or_path: str | Path) -> Path:
    """Resolve a recipe name (``enhanced``) or a path to a recipe file.

    Names are looked up in the user's recipe folder first, then among the built-in
    recipes; anything else must be an existing file.

    Raises
    ------
    RecipeError
        Neither a known name nor an existing file.

    Examples
    --------
    >>> recipe_path("enhanced").parent == builtin_recipe_dir()
    True
    """
    text = str(name_or_path)
    known = {r.name: r.path for r in list_recipes()}
    if text in known:
        return known[text]
    p = Path(text)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise RecipeError("recipe file not found", path=p)
        return p
    raise RecipeError(
        f"unknown pipeline {text!r}; known: {', '.join(sorted(known)) or 'none'} "
        f"(built-in, or *.toml in {user_recipe_dir()}; or give a path to a .toml recipe)"
    )


def default_recipe(n_filters: int) -> str:
    """The recipe name used when none is given: ``mono`` for one band, else ``enhanced``.

    Examples
    --------
    >>> default_recipe(1), default_recipe(3)
    ('mono', 'enhanced')
    """
    return SINGLE_BAND_RECIPE if n_filters == 1 else DEFAULT_RECIPE
