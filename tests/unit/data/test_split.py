"""The split of a corpus: at a document boundary, inside one document, or a second source."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from model_trainer.core.data.corpus import split_text
from model_trainer.core.data.sources import Document, Source
from model_trainer.core.data.split import Part, char_slice, count_chars, plan_split
from model_trainer.core.errors import ModelTrainerError

CAP = 10_000


def _memory(*documents: str, name: str = "docs") -> Source:
    def read() -> Iterator[Document]:
        # Each document in two pieces, as a file's blocks come.
        return iter([[doc[: len(doc) // 2], doc[len(doc) // 2 :]] for doc in documents])

    return Source(name=name, fingerprint=name, read=read)


def _texts(part: Part | None) -> list[str]:
    assert part is not None
    return ["".join(document) for document in part.documents()]


def _parts(source: Source, val: Source | None, fraction: float) -> tuple[Part, Part | None]:
    spec = plan_split(source, val, fraction, CAP)
    held = spec["val"]
    return Part(source, spec["train"]), None if held is None else Part(val or source, held)


def test_char_slice_crosses_pieces() -> None:
    assert "".join(char_slice(["abc", "def", "gh"], 2, 7)) == "cdefg"
    assert list(char_slice(["abc", "def"], 3, 6)) == ["def"]
    assert list(char_slice(["abc", "def"], 0, 0)) == []
    assert list(char_slice(["ab"], 1, 9)) == ["b"]


def test_one_document_is_cut_as_split_text_cuts() -> None:
    text = "abcdefghijklmnopqrstuvwxyz" * 7
    train, val = _parts(_memory(text), None, 0.1)
    expected = split_text(text, 0.1)
    assert (_texts(train), _texts(val)) == ([expected[0]], [expected[1]])
    assert (train.num_chars, val and val.num_chars) == (len(expected[0]), len(expected[1]))


def test_documents_are_never_cut() -> None:
    docs = ["a" * 50, "b" * 30, "c" * 12, "d" * 8]
    train, val = _parts(_memory(*docs), None, 0.2)
    # 20 held-out characters: the boundary before "c" holds 20 out exactly.
    assert _texts(train) == docs[:2]
    assert _texts(val) == docs[2:]


def test_at_least_one_document_each_side() -> None:
    train, val = _parts(_memory("a" * 10, "b" * 1000), None, 0.1)
    assert _texts(train) == ["a" * 10]
    assert _texts(val) == ["b" * 1000]


def test_a_fraction_below_one_character_holds_nothing_out() -> None:
    train, val = _parts(_memory("abc", "def"), None, 0.01)
    assert _texts(train) == ["abc", "def"]
    assert val is None


def test_held_out_documents_without_text_hold_nothing_out() -> None:
    train, val = _parts(_memory("a" * 100, ""), None, 0.1)
    assert _texts(train) == ["a" * 100]
    assert val is None


def test_no_training_text_left() -> None:
    with pytest.raises(ModelTrainerError) as info:
        plan_split(_memory("", "b" * 100), None, 0.5, CAP)
    assert info.value.code == "CORPUS_EMPTY"
    assert "leaves no training text with val_fraction=0.5" in info.value.message
    with pytest.raises(ModelTrainerError) as info:
        plan_split(_memory("ab"), None, 0.9, CAP)
    assert info.value.code == "CORPUS_EMPTY"


def test_a_second_source_is_the_validation_part() -> None:
    train, val = _parts(_memory("abc", "def"), _memory("xyz", name="val"), 0.5)
    assert _texts(train) == ["abc", "def"]
    assert _texts(val) == ["xyz"]


def test_empty_and_blank_sources() -> None:
    for source in (_memory(), _memory("", ""), _memory(" \n", "\t")):
        with pytest.raises(ModelTrainerError) as info:
            count_chars(source, "corpus_path", CAP)
        assert info.value.code == "CORPUS_EMPTY"
        assert "holds no text" in info.value.message
    with pytest.raises(ModelTrainerError) as info:
        plan_split(_memory("abc"), _memory("", name="held"), 0.0, CAP)
    assert info.value.message.startswith("val_path: corpus 'held' holds no text (1 documents")


def test_over_the_cap_stops_reading() -> None:
    with pytest.raises(ModelTrainerError) as info:
        count_chars(_memory("a" * 6, "b" * 6), "corpus_path", 10)
    assert info.value.code == "CORPUS_TOO_LARGE"
    assert info.value.message == (
        "corpus_path: corpus 'docs' has over 10 characters, over the max_stream_chars "
        "setting (10); raise it or set 0 (no limit) with MODEL_TRAINER_MAX_STREAM_CHARS"
    )


def test_no_cap_reads_every_character() -> None:
    assert count_chars(_memory("a" * 6, "b" * 6), "corpus_path", 0) == [6, 6]
