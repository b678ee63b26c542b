"""Command-line flags derived from the config schemas: one typed, documented flag a field."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import (
    Final,
    Literal,
    TypeVar,
    get_args,
    get_origin,
)

from model_trainer.core.contracts.schema import (
    Field,
    field_types,
)
from model_trainer.core.contracts.typed_json import without_none
from model_trainer.core.errors import ModelTrainerError

ConfigT = TypeVar("ConfigT")


_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "model_family": ("--family",),
    "model_size": ("--size",),
    "corpus_path": ("--corpus",),
    "num_epochs": ("--epochs",),
    "learning_rate": ("--lr",),
    "tokenizer_kind": ("--tokenizer",),
    "prompt_text": ("--prompt",),
    "name": ("--out",),
}
_PARSERS: Final[dict[object, Callable[[str], object]]] = {int: int, float: float, str: str}


def _flag_help(field: Field) -> str:
    default = field["default"]
    return (
        field["doc"] if default is None or default == [] else f"{field['doc']} (default: {default})"
    )


def _add_switch(
    target: argparse._ActionsContainer,
    flags: tuple[str, ...],
    name: str,
    choices: tuple[object, ...],
    text: str,
) -> None:
    """``--name`` (true), ``--name WORD`` (a choice by its lower-case name), ``--no-name``."""
    words = {str(choice).lower(): choice for choice in choices}

    def parse(word: str) -> object:
        if word.lower() not in words:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(words)}, got {word!r}")
        return words[word.lower()]

    metavar = "{" + ",".join(words) + "}"
    target.add_argument(
        *flags,
        dest=name,
        nargs="?",
        const=True,
        type=parse,
        metavar=metavar,
        default=argparse.SUPPRESS,
        help=text,
    )
    target.add_argument(
        f"--no-{name.replace('_', '-')}",
        dest=name,
        action="store_const",
        const=False,
        default=argparse.SUPPRESS,
        help=f"the same as {flags[0]} false",
    )


def add_field_flag(target: argparse._ActionsContainer, field: Field, hint: object) -> None:
    """Add the flag ``--field-name`` (and its short aliases) of one config field.

    The flag's type comes from the field's annotation; an absent flag leaves no attribute.

    Raises:
        ModelTrainerError: ``INTERNAL_ERROR`` for an annotation no flag can take.
    """
    name = field["name"]
    flags = (f"--{name.replace('_', '-')}", *_ALIASES.get(name, ()))
    kind = without_none(hint)
    text = _flag_help(field)
    if kind is bool:
        target.add_argument(
            *flags,
            dest=name,
            action=argparse.BooleanOptionalAction,
            default=argparse.SUPPRESS,
            help=text,
        )
    elif get_origin(kind) is Literal and any(choice is True for choice in get_args(kind)):
        _add_switch(target, flags, name, get_args(kind), text)
    elif get_origin(kind) is Literal:
        choices = [str(choice) for choice in get_args(kind)]
        target.add_argument(
            *flags, dest=name, choices=choices, default=argparse.SUPPRESS, help=text
        )
    elif get_origin(kind) is list:
        target.add_argument(*flags, dest=name, nargs="+", default=argparse.SUPPRESS, help=text)
    elif kind in _PARSERS:
        target.add_argument(
            *flags, dest=name, type=_PARSERS[kind], default=argparse.SUPPRESS, help=text
        )
    else:
        raise ModelTrainerError("INTERNAL_ERROR", f"{name}: no command-line flag for {hint!r}")


def add_config_flags(
    parser: argparse.ArgumentParser,
    shape: type[ConfigT],
    fields: tuple[Field, ...],
    *,
    either: tuple[str, str] | None = None,
) -> None:
    """A flag for every field of a config, typed and documented by its schema.

    The two fields named by ``either`` go in a group of which exactly one must be given.
    """
    types = field_types(shape)
    pair = either or ()
    group = parser.add_mutually_exclusive_group(required=True) if pair else parser
    for field in fields:
        target = group if field["name"] in pair else parser
        add_field_flag(target, field, types[field["name"]])


def given_fields(raw: argparse.Namespace, fields: tuple[Field, ...]) -> dict[str, object]:
    """The config fields set on the command line (an absent flag leaves no attribute)."""
    values: dict[str, object] = vars(raw)
    return {field["name"]: values[field["name"]] for field in fields if field["name"] in values}
