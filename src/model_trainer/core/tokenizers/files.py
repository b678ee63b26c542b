"""A tokenizer file read as text, and its top-level JSON object: what every format shares."""

from __future__ import annotations

import json
from pathlib import Path

from model_trainer.core.errors import ModelTrainerError


def read_tokenizer_text(path: str) -> str:
    """Return the text of the tokenizer file at ``path``.

    Raises:
        ModelTrainerError: ``TOKENIZER_NOT_FOUND`` when there is no file at ``path``;
            ``TOKENIZER_LOAD_FAILED`` when the file is not UTF-8.
    """
    file = Path(path)
    if not file.is_file():
        raise ModelTrainerError("TOKENIZER_NOT_FOUND", f"tokenizer_path: no file at {path!r}")
    data = file.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelTrainerError(
            "TOKENIZER_LOAD_FAILED",
            f"tokenizer_path: file {path!r} is not UTF-8 "
            f"(invalid byte 0x{data[exc.start]:02x} at byte offset {exc.start})",
        ) from exc


def parse_tokenizer_json(text: str, path: str) -> dict[str, object]:
    """Parse the text of a tokenizer file into its top-level JSON object.

    Raises:
        ModelTrainerError: ``TOKENIZER_LOAD_FAILED`` naming ``path`` when ``text`` is not
            JSON or not a JSON object.
    """
    try:
        raw: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelTrainerError(
            "TOKENIZER_LOAD_FAILED", f"tokenizer_path: file {path!r} is not JSON ({exc})"
        ) from exc
    if not isinstance(raw, dict):
        raise ModelTrainerError(
            "TOKENIZER_LOAD_FAILED",
            f"tokenizer_path: file {path!r} holds a JSON {type(raw).__name__}, not an object",
        )
    return {str(key): value for key, value in raw.items()}
