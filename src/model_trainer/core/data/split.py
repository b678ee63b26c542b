"""The split of a run's corpus into a training part and a validation part.

With a separate validation source each part is one source whole. Otherwise the last
``val_fraction`` of the characters is held out: at the document boundary whose held-out
share is nearest to ``val_fraction`` when the corpus has several documents (never cutting a
document in two, and keeping at least one document on each side), inside the one document
otherwise (as ``split_text`` cuts a text). A fraction that rounds to no character holds
nothing out.

Finding the cut takes one pass over the text that counts the characters of each document;
that pass also checks the whole source (UTF-8, fields, the size cap, emptiness) before
anything is trained on it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TypedDict

from model_trainer.core.data.sources import Document, Source
from model_trainer.core.errors import ModelTrainerError


class PartSpec(TypedDict):
    """Documents ``[docs[0], docs[1])`` of a source; within them characters ``chars``.

    ``chars`` is only set for a cut inside a corpus of one document.
    """

    source: str
    docs: list[int]
    chars: list[int] | None
    num_chars: int


class SplitSpec(TypedDict):
    """The two parts of a run's corpus; ``val`` is None when nothing is held out."""

    train: PartSpec
    val: PartSpec | None


def char_slice(pieces: Iterable[str], start: int, stop: int) -> Iterator[str]:
    """The characters ``[start, stop)`` of the text ``pieces`` hold, as pieces."""
    seen = 0
    for piece in pieces:
        end = seen + len(piece)
        if end > start and seen < stop:
            yield piece[max(start - seen, 0) : stop - seen]
        seen = end
        if seen >= stop:
            return


class Part:
    """One part of a split: the documents of a source it selects, read on demand."""

    def __init__(self, source: Source, spec: PartSpec) -> None:
        """Select ``spec``'s documents (and characters) of ``source``."""
        self.source = source
        self.spec = spec

    @property
    def num_chars(self) -> int:
        """Characters in the part."""
        return self.spec["num_chars"]

    def documents(self) -> Iterator[Document]:
        """The part's documents, in order (empty ones included)."""
        first, stop = self.spec["docs"]
        chars = self.spec["chars"]
        for document in itertools.islice(self.source.documents(), first, stop):
            yield document if chars is None else char_slice(document, chars[0], chars[1])


def count_chars(source: Source, field: str, cap: int) -> list[int]:
    """The characters of each document of ``source``, read once in pieces.

    Raises:
        ModelTrainerError: ``CORPUS_TOO_LARGE`` over ``cap`` characters when ``cap`` is set
            (not 0), at the piece that crosses it; ``CORPUS_EMPTY`` when every document is
            empty or only whitespace; and the read errors of the source.
    """
    counts: list[int] = []
    total = 0
    blank = True
    for document in source.documents():
        count = 0
        for piece in document:
            count += len(piece)
            blank = blank and (not piece or piece.isspace())
            if cap and total + count > cap:
                raise ModelTrainerError(
                    "CORPUS_TOO_LARGE",
                    f"{field}: corpus {source.name!r} has over {cap} characters, over the "
                    f"max_stream_chars setting ({cap}); raise it or set 0 (no limit) with "
                    "MODEL_TRAINER_MAX_STREAM_CHARS",
                )
        total += count
        counts.append(count)
    if blank:
        raise ModelTrainerError(
            "CORPUS_EMPTY",
            f"{field}: corpus {source.name!r} holds no text ({len(counts)} documents, "
            f"all empty or only whitespace)",
        )
    return counts


def _no_training_text(total: int, val_fraction: float) -> ModelTrainerError:
    return ModelTrainerError(
        "CORPUS_EMPTY",
        f"corpus of {total} characters leaves no training text with val_fraction={val_fraction}",
    )


def _whole(source: Source, counts: list[int]) -> PartSpec:
    return {
        "source": source.name,
        "docs": [0, len(counts)],
        "chars": None,
        "num_chars": sum(counts),
    }


def _boundary(counts: list[int], held: int) -> int:
    """The first held-out document: the boundary whose held-out share is nearest ``held``."""
    total = sum(counts)
    prefix = list(itertools.accumulate(counts, initial=0))
    return min(range(1, len(counts)), key=lambda cut: (abs(total - prefix[cut] - held), cut))


def plan_split(corpus: Source, val: Source | None, val_fraction: float, cap: int) -> SplitSpec:
    """Count the sources and cut the corpus into the run's training and validation parts.

    Raises:
        ModelTrainerError: the errors of ``count_chars`` (for ``val_path`` too), and
            ``CORPUS_EMPTY`` when the cut would leave no training text.
    """
    counts = count_chars(corpus, "corpus_path", cap)
    if val is not None:
        return {
            "train": _whole(corpus, counts),
            "val": _whole(val, count_chars(val, "val_path", cap)),
        }
    total = sum(counts)
    held = round(total * val_fraction)
    if held == 0:
        return {"train": _whole(corpus, counts), "val": None}
    if len(counts) > 1:
        cut = _boundary(counts, held)
        kept = sum(counts[:cut])
        if kept == 0:
            raise _no_training_text(total, val_fraction)
        train: PartSpec = {
            "source": corpus.name,
            "docs": [0, cut],
            "chars": None,
            "num_chars": kept,
        }
        if kept == total:
            return {"train": train, "val": None}
        return {
            "train": train,
            "val": {
                "source": corpus.name,
                "docs": [cut, len(counts)],
                "chars": None,
                "num_chars": total - kept,
            },
        }
    cut = total - held
    if cut == 0:
        raise _no_training_text(total, val_fraction)
    return {
        "train": {"source": corpus.name, "docs": [0, 1], "chars": [0, cut], "num_chars": cut},
        "val": {"source": corpus.name, "docs": [0, 1], "chars": [cut, total], "num_chars": held},
    }


def _part_problem(spec: PartSpec, source: str, name: str) -> str | None:
    """What in the part ``name`` of a split record contradicts itself or ``source``."""
    docs, chars = spec["docs"], spec["chars"]
    if spec["source"] != source:
        return f"{name}.source is {spec['source']!r}, not {source!r}"
    if len(docs) != 2 or not 0 <= docs[0] <= docs[1]:
        return f"{name}.docs {docs} is not a range of documents"
    if chars is not None and (len(chars) != 2 or not 0 <= chars[0] <= chars[1]):
        return f"{name}.chars {chars} is not a range of characters"
    size = spec["num_chars"] if chars is None else chars[1] - chars[0]
    if spec["num_chars"] < 0 or spec["num_chars"] != size:
        return f"{name}.num_chars {spec['num_chars']} disagrees with {name}.chars {chars}"
    return None


def split_problem(spec: SplitSpec, corpus: Source, val: Source | None) -> str | None:
    """What in the split record ``spec`` contradicts itself or the sources (None: nothing).

    The record is checked without reading the text: each part names its source and holds
    ranges of documents and characters that agree with its size, the training part is not
    empty, and a validation source has its part.
    """
    if val is not None and spec["val"] is None:
        return f"val is null, but {val.name!r} is the validation source"
    problems = [_part_problem(spec["train"], corpus.name, "train")]
    if spec["val"] is not None:
        problems.append(_part_problem(spec["val"], (val or corpus).name, "val"))
    found = [problem for problem in problems if problem is not None]
    if found:
        return found[0]
    return None if spec["train"]["num_chars"] > 0 else "train.num_chars is 0"
