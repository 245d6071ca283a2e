"""``junocam pipelines``: the recipes usable by name and where each comes from; every stage.

Examples
--------
>>> from click.testing import CliRunner
>>> out = CliRunner().invoke(pipelines_cmd, []).output
>>> [ln.split()[:2] for ln in out.splitlines() if ln.startswith("raw ")]
[['raw', 'built-in']]
"""

from __future__ import annotations

import click

from ..pipeline.engine import Pipeline
from ..pipeline.recipes import (
    RECIPE_DIR_ENV,
    builtin_recipe_dir,
    list_recipes,
    user_recipe_dir,
)
from ..pipeline.stages import STAGES
from .options import CONTEXT


@click.command("pipelines", context_settings=CONTEXT)
@click.option("-v", "--verbose", is_flag=True, help="Also list each recipe's stages.")
@click.option("--stages", "list_stages", is_flag=True, help="List every stage and parameter.")
def pipelines_cmd(verbose: bool, list_stages: bool) -> None:
    """List the recipes usable by name and where each comes from (and, with --stages, all stages).

    Each line: name, origin (built-in; user, from the user recipe folder; user*, a
    user recipe in place of the built-in of that name) and description.

    \b
    Examples:
      junocam pipelines
      junocam pipelines --verbose
      junocam pipelines --stages
    """
    if list_stages:
        for spec in STAGES.values():
            click.echo(f"{spec.name} ({spec.kind}): {spec.doc}")
            for pname, prm in spec.params.items():
                rng = ""
                if prm.low is not None or prm.high is not None:
                    rng = f" [{prm.low}, {prm.high}]"
                elif prm.choices:
                    rng = f" {{{', '.join(prm.choices)}}}"
                click.echo(f"    {pname} = {prm.default!r}{rng}  {prm.doc}")
        return
    for source in list_recipes():
        p = Pipeline.from_toml(source.path)
        origin = "user*" if source.shadows_builtin else source.origin
        click.echo(f"{source.name:12s} {origin:9s} {p.description}")
        if verbose:
            click.echo(f"{'':22s} file: {source.path}")
            click.echo(f"{'':22s} stages: {' -> '.join(s.name for s in p.stages)}")
    if verbose:
        click.echo(f"built-in recipes: {builtin_recipe_dir()}")
        click.echo(f"user recipes:     {user_recipe_dir()} (set {RECIPE_DIR_ENV} to change)")
