"""The shape of each event, read from its TypedDict, and the checks that hold a payload to it.

An event TypedDict is the one source of its shape: ``shapes_of`` turns each into a field table
(name -> kind, required or optional), and everything else reads that table: the codec
(``encode``, ``decode``, both ways strict) and the type guards (``misfit`` with
``wire=False``). A field's kind comes from its annotation: ``str``, ``int`` (a bool is not
one), ``float`` (an int is taken; on the wire finite and written as a float),
``float | None``, ``list[float]`` (on the wire finite, each written as a float), a ``Literal``
of strings (one of them), or ``dict[str, JsonValue]`` (a JSON object; on the wire without NaN
or infinity). ``percent`` names the int fields
that hold a percent (0 to 100 on the wire).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import (
    Final,
    Literal,
    NotRequired,
    TypedDict,
    TypeGuard,
    TypeVar,
    get_args,
    get_origin,
    get_type_hints,
)

from model_trainer.core.errors import ModelTrainerError

Kind = (
    Literal["str", "int", "float", "float_or_none", "floats", "percent", "object"] | tuple[str, ...]
)


class Shape(TypedDict):
    """The fields of one event type besides ``type``: the required ones and the optional ones."""

    required: dict[str, Kind]
    optional: dict[str, Kind]


class EventDecodeError(ValueError):
    """A payload that is not a valid event; the message names the field and the value."""


class EventEncodeError(ValueError):
    """An event that would not read back (a NaN, a bool for an int, ...); names the field."""


EventT = TypeVar("EventT")

_FLOAT_KINDS: Final[tuple[Kind, ...]] = ("float", "float_or_none")
_SHOW_CHARS: Final = 80


def shapes_of(
    typed_dicts: Iterable[type], *, percent: frozenset[str] = frozenset()
) -> dict[str, Shape]:
    """Each event TypedDict's shape, by the value of its ``type`` Literal.

    Raises:
        ModelTrainerError: ``INTERNAL_ERROR`` for an annotation that has no kind.
    """
    return dict(_shape_of(typed_dict, percent) for typed_dict in typed_dicts)


def _shape_of(typed_dict: type, percent: frozenset[str]) -> tuple[str, Shape]:
    hints = get_type_hints(typed_dict, include_extras=True)
    shape: Shape = {"required": {}, "optional": {}}
    for name, hint in hints.items():
        if name == "type":
            continue
        optional = get_origin(hint) is NotRequired
        bare: object = get_args(hint)[0] if optional else hint
        kind = "percent" if name in percent else _kind(typed_dict, name, bare)
        shape["optional" if optional else "required"][name] = kind
    type_name: str = get_args(hints["type"])[0]
    return type_name, shape


def _kind(typed_dict: type, name: str, hint: object) -> Kind:
    if get_origin(hint) is Literal:
        return tuple(str(choice) for choice in get_args(hint))
    if get_origin(hint) is dict:
        return "object"
    if hint == list[float]:
        return "floats"
    kinds: dict[object, Kind] = {str: "str", int: "int", float: "float"}
    if hint == float | None:
        return "float_or_none"
    if hint not in kinds:
        raise ModelTrainerError(
            "INTERNAL_ERROR", f"{typed_dict.__name__}.{name}: annotation {hint!r} has no kind"
        )
    return kinds[hint]


def encode(event: Mapping[str, object], shapes: Mapping[str, Shape]) -> str:
    """One JSON line (sorted keys, no newline) for an event; ints in float fields become floats.

    Raises:
        EventEncodeError: the event would not decode (a NaN or infinity, a bool for an int, a
            value outside its choices, a missing or an unknown field); names field and value.
    """
    normalized = with_floats(dict(event), shapes)
    problem = misfit(normalized, shapes, wire=True)
    if problem is not None:
        raise EventEncodeError(problem)
    return json.dumps(normalized, sort_keys=True, allow_nan=False, separators=(",", ":"))


def decode(
    payload: str,
    shapes: Mapping[str, Shape],
    is_event: Callable[[Mapping[str, object]], TypeGuard[EventT]],
    *,
    where: str = "",
) -> EventT:
    """The event a payload holds, checked field by field against the shape of its type.

    ``is_event`` is ``misfit(..., shapes, wire=True) is None`` as a type guard.

    Raises:
        EventDecodeError: bad JSON, not an object, an unknown type, a missing, extra or
            ill-typed field, a non-finite number or a value outside its choices; the message
            starts with ``where``.
    """
    try:
        parsed: object = json.loads(payload, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise EventDecodeError(f"{where}not valid JSON ({exc}): {show(payload)}") from exc
    if not isinstance(parsed, dict):
        raise EventDecodeError(
            f"{where}an event must be a JSON object, got {type(parsed).__name__} {show(parsed)}"
        )
    normalized = with_floats(parsed, shapes)
    if is_event(normalized):
        return normalized
    raise EventDecodeError(f"{where}{misfit(normalized, shapes, wire=True)}")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        names = [name for name, _ in pairs]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise EventDecodeError(f"duplicate field(s) {duplicates}")
    return obj


def with_floats(obj: dict[str, object], shapes: Mapping[str, Shape]) -> dict[str, object]:
    """A copy of obj with the ints of its float fields turned into floats."""
    type_name = obj.get("type")
    shape = shapes.get(type_name) if isinstance(type_name, str) else None
    kinds = {} if shape is None else {**shape["required"], **shape["optional"]}
    return {name: _floats(kinds.get(name), value) for name, value in obj.items()}


def _floats(kind: Kind | None, value: object) -> object:
    if kind in _FLOAT_KINDS:
        return _float_if_int(value)
    if kind == "floats" and isinstance(value, list):
        return [_float_if_int(item) for item in value]
    return value


def _float_if_int(value: object) -> object:
    if type(value) is int and abs(value) <= sys.float_info.max:
        return float(value)
    return value


def misfit(obj: Mapping[str, object], shapes: Mapping[str, Shape], *, wire: bool) -> str | None:
    """The first way obj misfits the shape of its type, or None when it fits.

    ``wire`` holds obj to what a JSON line may carry (floats as finite floats, a percent from
    0 to 100, JSON objects without NaN); without it, to the TypedDict's types (an int is a
    float, any float is one).
    """
    if "type" not in obj:
        return "field 'type' is missing"
    type_name = obj["type"]
    if not isinstance(type_name, str) or type_name not in shapes:
        return f"field 'type' must be a known event type, got {show(type_name)}"
    required = shapes[type_name]["required"]
    optional = shapes[type_name]["optional"]
    for name, kind in required.items():
        if name not in obj:
            return f"{type_name}: field {name!r} is missing"
        if not _fits(kind, obj[name], wire=wire):
            return _misfit(type_name, name, kind, obj[name])
    for name, value in obj.items():
        if name == "type" or name in required:
            continue
        if name not in optional:
            return f"{type_name}: unexpected field {name!r} = {show(value)}"
        if not _fits(optional[name], value, wire=wire):
            return _misfit(type_name, name, optional[name], value)
    return None


def _fits(kind: Kind, value: object, *, wire: bool) -> bool:
    if isinstance(kind, tuple):
        return isinstance(value, str) and value in kind
    if kind == "str":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict) and (not wire or _finite_json(value))
    if kind == "floats":
        return isinstance(value, list) and all(_fits("float", item, wire=wire) for item in value)
    if kind in ("int", "percent"):
        in_range = not wire or kind == "int" or (type(value) is int and 0 <= value <= 100)
        return type(value) is int and in_range
    if kind == "float_or_none" and value is None:
        return True
    if wire:
        return type(value) is float and math.isfinite(value)
    return type(value) in (int, float)


def _finite_json(value: dict[str, object]) -> bool:
    """Whether a JSON object holds only JSON values, with no NaN or infinity at any depth."""
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif item is not None and not isinstance(item, str | int):
            return False
    return True


def _misfit(type_name: str, name: str, kind: Kind, value: object) -> str:
    return f"{type_name}: field {name!r} must be {_describe(kind)}, got {show(value)}"


def _describe(kind: Kind) -> str:
    if isinstance(kind, tuple):
        return "one of " + ", ".join(repr(choice) for choice in kind)
    descriptions: dict[str, str] = {
        "str": "a string",
        "int": "an integer",
        "float": "a finite number",
        "float_or_none": "a finite number or null",
        "floats": "a list of finite numbers",
        "percent": "an integer from 0 to 100",
        "object": "a JSON object of finite values",
    }
    return descriptions[kind]


def show(value: object) -> str:
    """``repr`` of a value, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."
