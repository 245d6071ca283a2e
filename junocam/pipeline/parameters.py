"""Stage parameters: type, range and default of each, and ``stage.param=value`` overrides.

A recipe names stages and sets their parameters; every value goes through
:meth:`Param.check` before any frame is touched, so an error names the recipe
file, the stage and the parameter. :func:`number`, :func:`whole` and
:func:`choice` are the short forms the stage modules declare their parameters with.

Examples
--------
>>> number(2.2, 0.1, 10.0, "exponent").check(1.8, "gamma")
1.8
>>> parse_override("gamma.gamma=2.0")
('gamma', 'gamma', 2.0)
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import RecipeError


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


def number(default: float, low: float, high: float, doc: str = "") -> Param:
    return Param("float", default, low, high, doc=doc)


def whole(default: int, low: int, high: int, doc: str = "") -> Param:
    return Param("int", default, low, high, doc=doc)


def choice(default: str, choices: Sequence[str], doc: str = "") -> Param:
    return Param("str", default, choices=tuple(choices), doc=doc)


GAIN_NAMES = ("none", "gill", "eichstaedt", "epoch")
