"""What the command line prints on stdout: outcomes as JSON (its progress: ``ConsoleSink``)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import (
    TextIO,
)


def json_ready(value: object) -> object:
    """``value`` with every NaN or infinity inside it replaced by None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [json_ready(item) for item in value]
    return value


JSON_CHUNK = 4096
"""Items of a long sequence encoded per write (a text's per-character scores)."""


def write_json(value: object, out: TextIO, depth: int = 0) -> None:
    """Write ``value`` to ``out`` as ``json.dumps(json_ready(value), indent=2)`` would.

    Mappings and sequences are written an item at a time, a long sequence read
    ``JSON_CHUNK`` items at a time, so the memory it takes does not grow with the length of
    a text's per-character scores.
    """
    inner = "\n" + "  " * (depth + 1)
    if isinstance(value, Mapping):
        if not value:
            out.write("{}")
            return
        for index, (key, item) in enumerate(value.items()):
            out.write(("," if index else "{") + inner + json.dumps(str(key)) + ": ")
            write_json(item, out, depth + 1)
        out.write("\n" + "  " * depth + "}")
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            out.write("[]")
            return
        for first in range(0, len(value), JSON_CHUNK):
            for index, item in enumerate(value[first : first + JSON_CHUNK], start=first):
                out.write(("," if index else "[") + inner)
                write_json(item, out, depth + 1)
        out.write("\n" + "  " * depth + "]")
    else:
        out.write(json.dumps(json_ready(value), allow_nan=False))


def print_json(value: object) -> None:
    """Print ``value`` as indented JSON on standard output, written as it is encoded."""
    write_json(value, sys.stdout)
    sys.stdout.write("\n")
