"""Strict JSON reading: a JSON object checked against a TypedDict's own annotations.

One reader for every JSON file the package reads back (configs, ``job.json``, manifests,
checkpoint state, model metadata). The TypedDict is the schema: ``int`` (never a bool),
``float`` (an integer is widened), ``str``, ``bool``, ``None``, unions, ``Literal``,
``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``, ``object`` (anything) and nested
TypedDicts, with their ``NotRequired`` or ``total=False`` keys. A mismatch is a
``ModelTrainerError`` whose message names the file, the field (a dotted path such as
``history[0].loss``), what was expected and what was found.
"""

from __future__ import annotations

import json
import math
import types
from pathlib import Path
from typing import (
    Literal,
    NotRequired,
    Required,
    TypedDict,
    TypeGuard,
    TypeVar,
    Union,
    get_args,
    get_origin,
)
from typing import get_type_hints as type_hints
from typing import is_typeddict as typeddict

from model_trainer.core.errors import ModelTrainerError, ModelTrainerErrorCode

T = TypeVar("T")
Unknown = Literal["reject", "ignore"]
_NONE = type(None)


class Rules(TypedDict):
    """How strictly to read: reject or drop unknown keys; accept NaN and infinities or not."""

    unknown: Unknown
    finite: bool


class Problem(TypedDict):
    """The first mismatch found: the dotted path of the field and what is wrong with it."""

    field: str
    detail: str


Walked = tuple[object, Problem | None]


def _at(path: str, key: str) -> str:
    return key if not path else f"{path}.{key}"


_WORDS: dict[object, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    _NONE: "null",
    object: "any value",
}


def expected(hint: object, *, finite: bool = False) -> str:
    """What a JSON value of annotation ``hint`` must be, in words (``"an integer"``).

    Raises:
        ModelTrainerError: ``INTERNAL_ERROR`` for an annotation the reader cannot check.
    """
    if hint is float and finite:
        return "a finite number"
    if hint in _WORDS:
        return _WORDS[hint]
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(str(arg) for arg in args)
    if origin is Union or origin is types.UnionType:
        arms = sorted(args, key=lambda arm: arm is _NONE)
        return " or ".join(expected(arm, finite=finite) for arm in arms)
    if origin is list or origin is tuple:
        return "a list"
    if origin is dict or typeddict(hint):
        return "an object"
    raise ModelTrainerError("INTERNAL_ERROR", f"cannot read a JSON value as {hint!r}")


def without_none(hint: object) -> object:
    """``X`` of the annotation ``X | None``; any other annotation as it is."""
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        arms = [arm for arm in get_args(hint) if arm is not _NONE]
        if len(arms) == 1:
            return arms[0]
    return hint


def _bad(path: str, hint: object, value: object, rules: Rules) -> Walked:
    detail = f"must be {expected(hint, finite=rules['finite'])}, got {value!r}"
    return value, {"field": path, "detail": detail}


def _scalar(value: object, hint: object, path: str, rules: Rules) -> Walked:
    if hint is object:
        return value, None
    if hint is float and not isinstance(value, bool) and isinstance(value, int | float):
        number = float(value)
        if math.isfinite(number) or not rules["finite"]:
            return number, None
    elif type(value) is hint:
        return value, None
    return _bad(path, hint, value, rules)


def _union(value: object, hint: object, path: str, rules: Rules) -> Walked:
    arms = get_args(hint)
    if value is None and _NONE in arms:
        return None, None
    problems: list[Problem] = []
    for arm in arms:
        walked, problem = walk(value, arm, path, rules)
        if problem is None:
            return walked, None
        problems.append(problem)
    deeper = [problem for problem in problems if problem["field"] != path]
    if len(deeper) == 1:
        return value, deeper[0]
    return _bad(path, hint, value, rules)


def _literal(value: object, hint: object, path: str, rules: Rules) -> Walked:
    for choice in get_args(hint):
        if type(value) is type(choice) and value == choice:
            return choice, None
    return _bad(path, hint, value, rules)


def _items(
    values: list[object], hints: list[object], path: str, rules: Rules
) -> tuple[list[object], Problem | None]:
    items: list[object] = []
    for index, (item, hint) in enumerate(zip(values, hints, strict=True)):
        walked, problem = walk(item, hint, f"{path}[{index}]", rules)
        if problem is not None:
            return items, problem
        items.append(walked)
    return items, None


def _sequence(value: object, hint: object, path: str, rules: Rules) -> Walked:
    if not isinstance(value, list):
        return _bad(path, hint, value, rules)
    values: list[object] = list(value)
    args = get_args(hint)
    fixed = get_origin(hint) is tuple and not (len(args) == 2 and args[1] is Ellipsis)
    if fixed and len(values) != len(args):
        detail = f"must be a list of {len(args)} items, got {value!r}"
        return value, {"field": path, "detail": detail}
    hints: list[object] = list(args) if fixed else [args[0]] * len(values)
    items, problem = _items(values, hints, path, rules)
    if get_origin(hint) is list:
        return items, problem
    return tuple(items), problem


def _mapping(value: object, hint: object, path: str, rules: Rules) -> Walked:
    if not isinstance(value, dict):
        return _bad(path, hint, value, rules)
    item_hint = get_args(hint)[1]
    entries: dict[str, object] = {}
    for key, item in value.items():
        walked, problem = walk(item, item_hint, _at(path, str(key)), rules)
        if problem is not None:
            return entries, problem
        entries[str(key)] = walked
    return entries, None


def _keys(shape: object) -> tuple[dict[str, object], set[str]]:
    """The field annotations of the TypedDict ``shape`` and its required keys.

    The keys are read from the annotations: with postponed annotations Python 3.11 counts a
    ``NotRequired`` key among ``__required_keys__``.
    """
    hints: dict[str, object] = {}
    required: set[str] = set(vars(shape)["__required_keys__"])
    for key, hint in type_hints(shape, include_extras=True).items():
        origin = get_origin(hint)
        if origin is NotRequired:
            required.discard(key)
        elif origin is Required:
            required.add(key)
        hints[key] = get_args(hint)[0] if origin is NotRequired or origin is Required else hint
    return hints, required


def _fields(
    value: object, hint: object, path: str, rules: Rules
) -> tuple[dict[str, object], Problem | None]:
    if not isinstance(value, dict):
        detail = f"must be an object, got {value!r}"
        return {}, {"field": path, "detail": detail}
    data = {str(key): item for key, item in value.items()}
    hints, required = _keys(hint)
    missing = sorted(required - set(data))
    if missing:
        return {}, {"field": path, "detail": f"lacks {', '.join(missing)}"}
    unknown = sorted(set(data) - set(hints))
    if unknown and rules["unknown"] == "reject":
        detail = f"has unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(hints))}"
        return {}, {"field": path, "detail": detail}
    fields: dict[str, object] = {}
    for key, field_hint in hints.items():
        if key in data:
            walked, problem = walk(data[key], field_hint, _at(path, key), rules)
            if problem is not None:
                return fields, problem
            fields[key] = walked
    return fields, None


def walk(value: object, hint: object, path: str, rules: Rules) -> Walked:
    """Check ``value`` against ``hint``: the value read and the first problem, if any.

    The value read has integers widened where a float is expected and lists made tuples
    where a tuple is; a problem names the field by its dotted ``path``.

    Raises:
        ModelTrainerError: ``INTERNAL_ERROR`` for an annotation the reader cannot check.
    """
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return _union(value, hint, path, rules)
    if origin is Literal:
        return _literal(value, hint, path, rules)
    if origin is list or origin is tuple:
        return _sequence(value, hint, path, rules)
    if origin is dict:
        return _mapping(value, hint, path, rules)
    if typeddict(hint):
        return _fields(value, hint, path, rules)
    if hint not in _WORDS:
        expected(hint)
    return _scalar(value, hint, path, rules)


def conforms(
    data: dict[str, object], shape: type[T], rules: Rules, problems: list[Problem]
) -> TypeGuard[T]:
    """True when ``data`` fits the TypedDict ``shape``, which narrows it to ``shape``.

    Its values are then replaced by the values read (unknown keys dropped, integers widened
    where a float is expected). Else ``data`` is left as it was and the first problem is
    appended to ``problems``.
    """
    fields, problem = _fields(data, shape, "", rules)
    if problem is not None:
        problems.append(problem)
        return False
    data.clear()
    data.update(fields)
    return True


def parse_typed(
    value: object,
    shape: type[T],
    *,
    where: str,
    code: ModelTrainerErrorCode,
    unknown: Unknown = "reject",
    finite: bool = False,
) -> T:
    """``value`` (a parsed JSON value) read as the TypedDict ``shape``.

    ``where`` names the file in errors; ``unknown`` says whether keys the TypedDict lacks
    are an error or dropped; with ``finite`` a float must not be NaN or infinite.

    Raises:
        ModelTrainerError: ``code``, with ``where``, the field, what was expected and what
            was found, when ``value`` does not fit ``shape``.
    """
    if not isinstance(value, dict):
        raise ModelTrainerError(
            code, f"{where}: must hold a JSON object, got {type(value).__name__}"
        )
    data = {str(key): item for key, item in value.items()}
    problems: list[Problem] = []
    if conforms(data, shape, {"unknown": unknown, "finite": finite}, problems):
        return data
    problem = problems[0]
    field = f" {problem['field']}" if problem["field"] else ""
    raise ModelTrainerError(code, f"{where}:{field} {problem['detail']}")


def load_json(text: str, *, where: str, code: ModelTrainerErrorCode) -> object:
    """Parse the JSON ``text``.

    Raises:
        ModelTrainerError: ``code`` naming ``where`` when ``text`` is not JSON.
    """
    try:
        parsed: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelTrainerError(code, f"{where}: not JSON ({exc})") from exc
    return parsed


def read_typed(
    path: str | Path,
    shape: type[T],
    *,
    where: str,
    code: ModelTrainerErrorCode,
    unknown: Unknown = "reject",
    finite: bool = False,
) -> T:
    """The JSON file at ``path`` (which must exist) read as the TypedDict ``shape``.

    Raises:
        ModelTrainerError: ``code`` naming ``where`` when the file is not UTF-8 JSON or
            does not fit ``shape`` (see ``parse_typed``).
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelTrainerError(code, f"{where}: not JSON (not UTF-8: {exc})") from exc
    parsed = load_json(text, where=where, code=code)
    return parse_typed(parsed, shape, where=where, code=code, unknown=unknown, finite=finite)
