"""Corpora: read a text file, a folder of ``.txt`` files or the builtin text, and split it.

Files are read as strict UTF-8, byte for byte (line endings are kept as written). The
builtin corpus ``builtin:python-docs`` is the text of the standard library's
``pydoc_data.topics``: about 465,000 characters, present wherever Python is.
"""

from __future__ import annotations

import stat
from functools import cache
from pathlib import Path
from pydoc_data.topics import topics

from model_trainer.core.config.settings import Settings
from model_trainer.core.errors import ModelTrainerError

BUILTIN_PYTHON_DOCS = "builtin:python-docs"
BUILTIN_PREFIX = "builtin:"
SEPARATOR = "\n\n"
# A UTF-8 character has at most this many bytes, so a file of N bytes holds at least N / 4.
MAX_UTF8_BYTES = 4


@cache
def builtin_text() -> str:
    """Return the builtin corpus: ``pydoc_data.topics`` texts by sorted key, blank-line apart."""
    return SEPARATOR.join(topics[key] for key in sorted(topics))


def builtin(name: str, field: str = "corpus_path") -> str:
    """The text of the builtin corpus ``name``, given as the config field ``field``.

    Raises:
        ModelTrainerError: ``CORPUS_NOT_FOUND`` for an unknown name, listing the known one.
    """
    if name != BUILTIN_PYTHON_DOCS:
        raise ModelTrainerError(
            "CORPUS_NOT_FOUND",
            f"{field}: unknown builtin corpus {name!r}; known: {BUILTIN_PYTHON_DOCS!r}",
        )
    return builtin_text()


def _decode(data: bytes, field: str, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"{field}: file {str(path)!r} is not UTF-8: invalid byte 0x{data[exc.start]:02x} "
            f"at byte offset {exc.start}",
        ) from exc


def _kind(path: Path) -> str | None:
    """What ``path`` is when it is neither a regular file nor a folder, else None."""
    mode = path.stat().st_mode
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "a socket"


def require_regular(path: Path, field: str) -> None:
    """Raise ``INVALID_CONFIG`` when ``path`` exists but is no regular file or folder."""
    kind = _kind(path) if path.exists() else None
    if kind is not None:
        raise ModelTrainerError(
            "INVALID_CONFIG",
            f"{field}: {str(path)!r} is {kind}, not a regular file or folder; "
            f"save the text to a file first",
        )


def read_text_file(path: str, field: str) -> str:
    """Return the text of the UTF-8 file at ``path``, given as the config field ``field``.

    Raises:
        ModelTrainerError: ``CORPUS_NOT_FOUND`` when there is no file at ``path``;
            ``INVALID_CONFIG`` naming ``field``, the path and the byte offset of the first
            byte that is not UTF-8.
    """
    file = Path(path)
    require_regular(file, field)
    if not file.is_file():
        raise ModelTrainerError("CORPUS_NOT_FOUND", f"{field}: no file at {path!r}")
    return _decode(file.read_bytes(), field, file)


def _corpus_files(path: str) -> list[Path]:
    root = Path(path)
    require_regular(root, "corpus_path")
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise ModelTrainerError("CORPUS_NOT_FOUND", f"corpus_path: nothing at {path!r}")
    found = sorted(
        (file.relative_to(root).as_posix(), file)
        for file in root.rglob("*.txt")
        if file.is_file() and not any(part.startswith(".") for part in file.relative_to(root).parts)
    )
    if not found:
        raise ModelTrainerError(
            "CORPUS_NOT_FOUND", f"corpus_path: folder {path!r} holds no .txt files"
        )
    return [file for _, file in found]


def _too_large(path: str, count: str, cap: int) -> ModelTrainerError:
    return ModelTrainerError(
        "CORPUS_TOO_LARGE",
        f"corpus_path: corpus {path!r} has {count}, over the max_corpus_chars setting "
        f"({cap}); raise it with MODEL_TRAINER_MAX_CORPUS_CHARS",
    )


def load_corpus(path: str, settings: Settings) -> str:
    """Return the corpus at ``path``: a text file, a folder, or a ``builtin:`` name.

    A folder gives its ``.txt`` files, recursively, sorted by relative path and joined by a
    blank line; files and folders whose name starts with a dot (``.ipynb_checkpoints``) are
    skipped. A file's size is checked before it is read, so a file far over the cap is never
    loaded.

    Raises:
        ModelTrainerError: ``CORPUS_NOT_FOUND`` (nothing at ``path``, a folder without
            ``.txt`` files, an unknown builtin name); ``CORPUS_EMPTY`` (only whitespace);
            ``CORPUS_TOO_LARGE`` (over ``settings["max_corpus_chars"]``); ``INVALID_CONFIG``
            (a file that is not UTF-8, a FIFO, a device file or a socket).
    """
    cap = settings["max_corpus_chars"]
    if path.startswith(BUILTIN_PREFIX):
        text = builtin(path)
    elif not path:
        raise ModelTrainerError("CORPUS_NOT_FOUND", "corpus_path: empty path")
    else:
        files = _corpus_files(path)
        size = sum(file.stat().st_size for file in files)
        least = -(-size // MAX_UTF8_BYTES)
        if least > cap:
            raise _too_large(path, f"{size} bytes, so at least {least} characters", cap)
        text = SEPARATOR.join(_decode(file.read_bytes(), "corpus_path", file) for file in files)
    if len(text) > cap:
        raise _too_large(path, f"{len(text)} characters", cap)
    if not text.strip():
        raise ModelTrainerError(
            "CORPUS_EMPTY", f"corpus_path: corpus {path!r} holds no text (only whitespace)"
        )
    return text


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """Split ``text`` into ``(train, validation)``: validation is the last ``val_fraction``.

    The cut is at ``len(text) - round(len(text) * val_fraction)``; ``val_fraction=0`` gives
    ``(text, "")``.

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` when ``val_fraction`` is outside ``[0, 1)``;
            ``CORPUS_EMPTY`` when the training part would be empty.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ModelTrainerError(
            "INVALID_CONFIG", f"val_fraction must be in [0, 1), got {val_fraction!r}"
        )
    cut = len(text) - round(len(text) * val_fraction)
    if cut == 0:
        raise ModelTrainerError(
            "CORPUS_EMPTY",
            f"corpus of {len(text)} characters leaves no training text "
            f"with val_fraction={val_fraction}",
        )
    return text[:cut], text[cut:]
