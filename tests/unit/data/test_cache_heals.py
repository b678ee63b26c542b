"""The token cache heals itself: each damaged file is discarded, rebuilt once and reported.

Every case damages a real cache on disk the way a crash, a stray edit or a bad copy would,
then runs again: the run gets the same ids as before, and one progress event names the
entry and what was wrong with it. An entry still damaged right after its rebuild is a coded
error naming it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model_trainer import api
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.data.heal import Repairs, clear_scratch, damaged, discard, healed
from model_trainer.core.data.prepare import (
    RunData,
    RunSource,
    prepare_run_data,
    run_tokenizer,
    stage_events,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event
from model_trainer.core.tokenizers.char import CharTokenizer

DOCS = ["alpha beta\n", "gamma\ndelta\n", "epsilon zeta\n", "eta theta\n"] * 20
ENTRY = "token cache entry"


def _cfg(tmp_path: Path) -> ModelTrainConfig:
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": doc}) + "\n" for doc in DOCS), encoding="utf-8")
    return train_config(corpus_path=str(path), val_fraction=0.25)


def _run(
    cfg: ModelTrainConfig, settings: Settings, kind: str = "char"
) -> tuple[RunData, list[str]]:
    """One run's data, and the messages of its events that tell of a rebuilt entry."""
    events: list[Event] = []
    stage = stage_events(events.append, job_id="j", user_id=0)
    source = RunSource(cfg, settings)
    tokenizer = run_tokenizer(source, "bpe" if kind == "bpe" else "char", 300, stage)
    data = prepare_run_data(source, tokenizer, stage)
    messages = [str(event.get("message")) for event in events]
    return data, [message for message in messages if message.startswith(ENTRY)]


def _ids(data: RunData) -> tuple[list[int], list[int]]:
    val = data["data"]["val_ids"]
    assert val is not None
    return data["data"]["train_ids"].long().tolist(), val.long().tolist()


def _file(settings: Settings, name: str) -> Path:
    (found,) = Path(settings["runs_dir"]).rglob(name)
    return found


def _heals(
    tmp_path: Path,
    settings: Settings,
    name: str,
    damage: Callable[[Path], object],
    told: str,
    *,
    kind: str = "char",
    named: str | None = None,
) -> RunData:
    """Build, damage ``name``, run again: the same ids, and one event matching ``told``.

    The event names ``named`` (default: ``name``).
    """
    cfg = _cfg(tmp_path)
    first, repaired = _run(cfg, settings, kind)
    assert repaired == []
    before = _ids(first)  # read now: the first run's map shows the file as damaged later
    path = _file(settings, name)
    told_of = _file(settings, named or name)
    damage(path)
    again, repaired = _run(cfg, settings, kind)
    assert _ids(again) == before
    assert len(repaired) == 1, repaired
    assert re.fullmatch(f"{ENTRY} '{re.escape(str(told_of))}': {told}; rebuilding it", repaired[0])
    # Whole again: a third run reads it as it is, and tells of nothing.
    third, repaired = _run(cfg, settings, kind)
    assert (repaired, third["built"]) == ([], [])
    return again


def _write(text: str) -> Callable[[Path], object]:
    return lambda path: path.write_text(text, encoding="utf-8")


def _edit(change: Callable[[dict[str, object]], object]) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        record: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
        change(record)
        path.write_text(json.dumps(record), encoding="utf-8")

    return edit


def _set(key: str, value: object) -> Callable[[dict[str, object]], None]:
    return lambda record: record.update({key: value})


def _set_part(key: str, value: object) -> Callable[[dict[str, object]], None]:
    def change(record: dict[str, object]) -> None:
        train = record["train"]
        assert isinstance(train, dict)
        train[key] = value

    return change


@pytest.mark.parametrize(
    ("damage", "told"),
    [
        (_write("{oops"), r"not JSON \(.+\)"),
        (_write("[]"), "must hold a JSON object, got list"),
        (_edit(_set_part("docs", "all")), r"train\.docs .+"),
        (_edit(_set("val", 7)), r"val .+"),
        (_edit(_set_part("docs", [3, 1])), r"train\.docs \[3, 1\] is not a range of documents"),
        (
            _edit(_set_part("num_chars", -4)),
            r"train\.num_chars -4 disagrees with train\.chars None",
        ),
        (_edit(_set_part("source", "elsewhere.txt")), r"train\.source is 'elsewhere\.txt', not .+"),
        (_edit(_set_part("chars", [9, 2])), r"train\.chars \[9, 2\] is not a range of characters"),
        (
            _edit(_set_part("chars", [0, 2])),
            r"train\.num_chars \d+ disagrees with train\.chars \[0, 2\]",
        ),
    ],
    ids=[
        "not-json",
        "a-list",
        "docs-type",
        "val-type",
        "docs-reversed",
        "negative-size",
        "other-source",
        "chars-reversed",
        "chars-disagree",
    ],
)
def test_a_damaged_split_record_is_planned_again(
    tmp_path: Path, settings: Settings, damage: Callable[[Path], object], told: str
) -> None:
    _heals(tmp_path, settings, "split.json", damage, told)


def test_a_split_record_without_training_text_or_its_validation_source(
    tmp_path: Path, settings: Settings
) -> None:
    def empty(record: dict[str, object]) -> None:
        record["train"] = {
            "source": record_source(record),
            "docs": [0, 0],
            "chars": None,
            "num_chars": 0,
        }

    def record_source(record: dict[str, object]) -> object:
        train = record["train"]
        assert isinstance(train, dict)
        return train["source"]

    _heals(tmp_path, settings, "split.json", _edit(empty), "train.num_chars is 0")
    corpus = tmp_path / "docs.jsonl"
    held = tmp_path / "held.txt"
    held.write_text("held out text\n" * 10, encoding="utf-8")
    cfg = train_config(corpus_path=str(corpus), val_path=str(held))
    source = RunSource(cfg, settings)
    source.parts()
    path = source.folder / "split.json"
    _edit(_set("val", None))(path)
    events: list[Event] = []
    source = RunSource(cfg, settings)
    run_tokenizer(source, "char", 0, stage_events(events.append, job_id="j", user_id=0))
    assert [
        event.get("message") for event in events if str(event.get("message")).startswith(ENTRY)
    ] == [
        f"{ENTRY} '{path}': val is null, but {str(held)!r} is the validation source; rebuilding it"
    ]


def test_a_split_record_in_the_way_as_a_folder_is_replaced(
    tmp_path: Path, settings: Settings
) -> None:
    def folder(path: Path) -> None:
        path.unlink()
        (path / "inside").mkdir(parents=True)

    _heals(tmp_path, settings, "split.json", folder, "not a file")


@pytest.mark.parametrize(
    ("damage", "told"),
    [
        (_write("garbage, not a tokenizer"), r"tokenizer_path: file .+ is not JSON \(.+\)"),
        (
            lambda path: path.write_bytes(b"\xff\xfe\x00"),
            r"tokenizer_path: file .+ is not UTF-8 .+",
        ),
        (
            _write(json.dumps({"kind": "char", "version": 1, "chars": ["a"]})),
            "holds a char tokenizer, not a bpe one",
        ),
    ],
    ids=["garbage", "not-utf8", "other-kind"],
)
def test_a_damaged_tokenizer_is_trained_again(
    tmp_path: Path, settings: Settings, damage: Callable[[Path], object], told: str
) -> None:
    _heals(tmp_path, settings, "tokenizer-bpe-300.json", damage, told, kind="bpe")


def test_a_char_tokenizer_of_other_characters_makes_other_ids(
    tmp_path: Path, settings: Settings
) -> None:
    # A valid tokenizer of the right kind is a different tokenizer, not a damaged one: its
    # ids live in a folder of their own, and nothing is reported.
    cfg = _cfg(tmp_path)
    _run(cfg, settings)
    path = _file(settings, "tokenizer-char-300.json")
    CharTokenizer.from_text("xyz").save(str(path))
    data, repaired = _run(cfg, settings)
    assert repaired == []
    assert data["built"] == ["train", "val"]


@pytest.mark.parametrize(
    ("damage", "told"),
    [
        (_write("not json"), r"not JSON \(.+\)"),
        (_edit(_set("dtype", "float32")), r"dtype .+float32.+"),
        (
            _edit(_set("dtype", "uint32")),
            "dtype 'uint32', but a vocabulary of \\d+ is kept as uint16",
        ),
        (_edit(_set("num_chars", 3)), r"num_chars 3, but its part of the split has \d+"),
        (_edit(_set("snippet", None)), r"snippet .+"),
        (_edit(lambda record: record.pop("num_documents")), r".*num_documents.*"),
    ],
    ids=[
        "not-json",
        "unknown-dtype",
        "dtype-disagrees",
        "num-chars",
        "snippet-type",
        "missing-field",
    ],
)
def test_a_damaged_ids_record_is_encoded_again(
    tmp_path: Path, settings: Settings, damage: Callable[[Path], object], told: str
) -> None:
    _heals(tmp_path, settings, "train.json", damage, told)


def test_an_ids_record_in_the_way_as_a_folder_is_replaced(
    tmp_path: Path, settings: Settings
) -> None:
    def folder(path: Path) -> None:
        path.unlink()
        (path / "inside").mkdir(parents=True)

    _heals(tmp_path, settings, "train.json", folder, "not a file")


def test_an_ids_record_of_another_length_is_encoded_again(
    tmp_path: Path, settings: Settings
) -> None:
    told = r"\d+ bytes, but its record says 5 uint16 ids"
    _heals(tmp_path, settings, "train.json", _edit(_set("num_tokens", 5)), told, named="train.bin")


def _out_of_range(path: Path) -> None:
    ids = np.fromfile(path, dtype=np.uint16)
    ids[len(ids) // 2] = 60_000
    ids.tofile(path)


@pytest.mark.parametrize(
    ("damage", "told", "entry"),
    [
        (_out_of_range, r"holds the id 60000, outside the vocabulary of \d+", "train.bin"),
        (
            lambda path: path.write_bytes(path.read_bytes()[:-3]),
            r"\d+ bytes, but its record says \d+ uint16 ids",
            "train.bin",
        ),
        (lambda path: path.unlink(), r"no file, but its record says \d+ uint16 ids", "train.bin"),
    ],
    ids=["ids-out-of-range", "truncated", "missing"],
)
def test_a_damaged_ids_file_is_encoded_again(
    tmp_path: Path, settings: Settings, damage: Callable[[Path], object], told: str, entry: str
) -> None:
    cfg = _cfg(tmp_path)
    first, _ = _run(cfg, settings)
    before = _ids(first)
    path = _file(settings, entry)
    damage(path)
    again, repaired = _run(cfg, settings)
    assert _ids(again) == before
    assert again["built"] == ["train"]
    assert len(repaired) == 1
    assert re.fullmatch(f"{ENTRY} '{re.escape(str(path))}': {told}; rebuilding it", repaired[0])


def test_a_killed_builds_temporary_files_go_with_the_next_build(
    tmp_path: Path, settings: Settings
) -> None:
    cfg = _cfg(tmp_path)
    _run(cfg, settings)
    ids_folder = _file(settings, "train.bin").parent
    leftovers = [
        ids_folder / ".train.bin.4242.17.tmp",
        ids_folder.parent / ".split.json.4242.17.tmp",
        ids_folder.parent / ".tokenizer-char-300.json.4242.17.tmp",
    ]
    for leftover in leftovers:
        leftover.write_bytes(b"\0" * 1000)
    _, repaired = _run(cfg, settings)
    assert repaired == []
    assert not list(Path(settings["runs_dir"]).rglob("*.tmp"))


def test_a_file_in_the_way_of_a_cache_folder_or_a_folder_in_the_way_of_a_lock(
    tmp_path: Path, settings: Settings
) -> None:
    cfg = _cfg(tmp_path)
    first, _ = _run(cfg, settings)
    before = _ids(first)
    source_folder = _file(settings, "split.json").parent
    ids_lock = _file(settings, "train.bin").parent / ".lock"
    ids_lock.unlink()
    ids_lock.mkdir()
    (source_folder / ".lock").unlink()
    (source_folder / ".lock").mkdir()
    again, repaired = _run(cfg, settings)
    assert _ids(again) == before
    assert repaired == [
        f"{ENTRY} {str(source_folder / '.lock')!r}: not a file; replaced",
        f"{ENTRY} {str(ids_lock)!r}: not a file; replaced",
    ]
    shutil.rmtree(source_folder)
    source_folder.write_text("in the way", encoding="utf-8")
    third, repaired = _run(cfg, settings)
    assert _ids(third) == before
    assert repaired == [
        f"{ENTRY} {str(source_folder)!r}: a file where a cache folder belongs; replaced"
    ]


def test_clear_scratch_and_discard_on_real_files(tmp_path: Path) -> None:
    (tmp_path / ".a.bin.1.2.tmp").write_text("x", encoding="utf-8")
    (tmp_path / "kept.bin").write_text("x", encoding="utf-8")
    assert clear_scratch(tmp_path) == [tmp_path / ".a.bin.1.2.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.bin"]
    (tmp_path / "folder" / "deep").mkdir(parents=True)
    discard(tmp_path / "folder")
    discard(tmp_path / "kept.bin")
    discard(tmp_path / "absent")
    (tmp_path / "target").write_text("x", encoding="utf-8")
    os.symlink(tmp_path / "target", tmp_path / "link")
    discard(tmp_path / "link")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]


def test_an_entry_still_damaged_after_its_rebuild_is_a_coded_error(tmp_path: Path) -> None:
    entry = tmp_path / "train.bin"
    built: list[str] = []
    repairs = Repairs()

    def read() -> str:
        raise damaged(entry, "holds the id 9, outside the vocabulary of 3")

    with pytest.raises(ModelTrainerError) as info:
        healed(entry, present=True, read=read, build=lambda: built.append("built"), repairs=repairs)
    assert built == ["built"]
    assert info.value.code == "ARTIFACT_DOWNLOAD_FAILED"
    assert info.value.message == (
        f"{ENTRY} {str(entry)!r} cannot be read right after it was built ({ENTRY} "
        f"{str(entry)!r}: holds the id 9, outside the vocabulary of 3); check the disk, then "
        f"remove {str(tmp_path)!r} and run again"
    )
    told: list[tuple[str, float]] = []
    repairs.report(lambda what, done: told.append((what, done)))
    repairs.report(lambda what, done: told.append((what, done)))
    assert told == [
        (f"{ENTRY} {str(entry)!r}: holds the id 9, outside the vocabulary of 3; rebuilding it", 1.0)
    ]
    # Absent, built, and still unreadable: the same error, and nothing to report.
    with pytest.raises(ModelTrainerError) as fresh:
        healed(
            entry, present=False, read=read, build=lambda: built.append("again"), repairs=repairs
        )
    assert fresh.value.code == "ARTIFACT_DOWNLOAD_FAILED"
    assert built == ["built", "again"]


class NarrowChars(CharTokenizer):
    """A char tokenizer that claims fewer ids than it hands out: its ids cannot be cached."""

    @property
    def vocab_size(self) -> int:
        return 4


def test_ids_outside_a_tokenizers_vocabulary_fail_by_name(
    tmp_path: Path, settings: Settings
) -> None:
    cfg = _cfg(tmp_path)
    chars = sorted(set("".join(DOCS)))
    with pytest.raises(ModelTrainerError) as info:
        prepare_run_data(RunSource(cfg, settings), NarrowChars(chars))
    assert info.value.code == "ARTIFACT_DOWNLOAD_FAILED"
    assert "train.bin' cannot be read right after it was built" in info.value.message
    assert "outside the vocabulary of 4" in info.value.message


def test_a_run_on_a_damaged_cache_completes_and_its_events_say_what_was_rebuilt(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(DOCS), encoding="utf-8")

    def train(run_id: str) -> list[str]:
        api.train(
            model_family="fake",
            model_size="tiny",
            corpus_path=str(corpus),
            num_epochs=1,
            max_steps_per_epoch=2,
            max_seq_len=16,
            batch_size=4,
            device="cpu",
            run_id=run_id,
            runs_dir=str(runs),
            show=False,
        ).result()
        lines = (runs / run_id / "events.jsonl").read_text(encoding="utf-8").splitlines()
        events = [json.loads(line) for line in lines]
        return [str(e.get("message")) for e in events if str(e.get("message")).startswith(ENTRY)]

    assert train("first") == []
    (split,) = runs.rglob("split.json")
    split.write_text("{", encoding="utf-8")
    (ids,) = runs.rglob("train.bin")
    _out_of_range(ids)
    told = train("second")
    assert [message.split(":")[0] for message in told] == [
        f"{ENTRY} {str(split)!r}",
        f"{ENTRY} {str(ids)!r}",
    ]
    assert all(message.endswith("; rebuilding it") for message in told)
