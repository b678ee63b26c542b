"""The token cache: encoded once, memory-mapped, rebuilt when torn, built once by two."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.data.cache import encode_ids, ids_dtype
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.data.memory import save_corpus
from model_trainer.core.data.prepare import (
    RunData,
    RunSource,
    prepare_run_data,
    run_tokenizer,
    stage_events,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event
from model_trainer.core.tokenizers.bpe import BPETokenizer, safe_pieces
from model_trainer.core.tokenizers.char import CharTokenizer
from model_trainer.core.training.dataset import TokenWindows

DOCS = ["alpha beta\n", "", "gamma\ndelta\n", "epsilon"]


def _cfg(path: str, **fields: object) -> ModelTrainConfig:
    return train_config(corpus_path=path, **fields)


def _jsonl(folder: Path, docs: list[str]) -> str:
    path = folder / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": doc}) + "\n" for doc in docs), encoding="utf-8")
    return str(path)


def _prepare(cfg: ModelTrainConfig, settings: Settings, kind: str = "char") -> RunData:
    source = RunSource(cfg, settings)
    tokenizer = run_tokenizer(source, "bpe" if kind == "bpe" else "char", 300)
    return prepare_run_data(source, tokenizer)


def _ids(data: RunData, split: str = "train") -> list[int]:
    tensor = data["data"]["train_ids"] if split == "train" else data["data"]["val_ids"]
    assert tensor is not None
    values: list[int] = tensor.long().tolist()
    return values


def test_documents_are_joined_by_the_end_of_text_id(tmp_path: Path, settings: Settings) -> None:
    cfg = _cfg(_jsonl(tmp_path, DOCS), val_fraction=0.0)
    source = RunSource(cfg, settings)
    tokenizer = run_tokenizer(source, "char", 0)
    run = prepare_run_data(source, tokenizer)
    eos = [tokenizer.eos_id]
    words = [tokenizer.encode(doc) for doc in DOCS if doc]
    assert _ids(run) == [*words[0], *eos, *words[1], *eos, *words[2]]
    assert run["data"]["val_ids"] is None
    assert run["data"]["train_ids"].dtype == torch.uint16
    assert run["chars_per_token"] == pytest.approx(sum(map(len, DOCS)) / len(_ids(run)))
    assert run["snippet"] == "".join(DOCS)
    assert run["built"] == ["train"]


def test_bpe_ids_equal_the_tokenizer_on_each_document(tmp_path: Path, settings: Settings) -> None:
    text = builtin_text()[:20_000]
    docs = [text[:9000], text[9000:]]
    run = _prepare(_cfg(_jsonl(tmp_path, docs), val_fraction=0.0), settings, "bpe")
    tokenizer = BPETokenizer.load(str(next(Path(settings["runs_dir"]).rglob("tokenizer-*.json"))))
    expected = [*tokenizer.encode(docs[0]), tokenizer.eos_id, *tokenizer.encode(docs[1])]
    assert _ids(run) == expected


def test_a_split_text_file_encodes_each_part(tmp_path: Path, settings: Settings) -> None:
    file = tmp_path / "corpus.txt"
    text = builtin_text()[:5000]
    file.write_text(text, encoding="utf-8")
    run = _prepare(_cfg(str(file), val_fraction=0.1), settings)
    tokenizer = CharTokenizer.from_text(text[:4500])
    assert _ids(run) == tokenizer.encode(text[:4500])
    assert _ids(run, "val") == tokenizer.encode(text[4500:])
    assert run["snippet"] == text[4500:]
    assert run["built"] == ["train", "val"]


def test_a_second_run_reads_everything_from_the_cache(tmp_path: Path, settings: Settings) -> None:
    cfg = _cfg(_jsonl(tmp_path, DOCS * 50), val_fraction=0.2)
    stages: list[tuple[str, float]] = []
    first_source = RunSource(cfg, settings)
    first = prepare_run_data(
        first_source,
        run_tokenizer(first_source, "char", 0, lambda *stage: stages.append(stage)),
        lambda *stage: stages.append(stage),
    )
    assert [stage for stage, done in stages if done == 1.0] == [
        "training the char tokenizer",
        "encoding the train split",
        "encoding the val split",
    ]
    stages.clear()
    source = RunSource(cfg, settings)
    again = prepare_run_data(
        source,
        run_tokenizer(source, "char", 0, lambda *stage: stages.append(stage)),
        lambda *stage: stages.append(stage),
    )
    assert stages == []
    assert again["built"] == []
    assert _ids(again) == _ids(first)
    assert _ids(again, "val") == _ids(first, "val")


def test_the_ids_are_memory_mapped_from_the_cache_file(tmp_path: Path, settings: Settings) -> None:
    run = _prepare(_cfg(_jsonl(tmp_path, DOCS), val_fraction=0.0), settings)
    (ids_file,) = Path(settings["runs_dir"]).rglob("train.bin")
    assert str(ids_file) in Path("/proc/self/maps").read_text(encoding="utf-8")
    assert ids_file.stat().st_size == 2 * run["data"]["train_ids"].numel()
    windows = TokenWindows(run["data"]["train_ids"], seq_len=4, batch_size=2, seed=0)
    inputs, targets = next(windows.batches(0))
    assert (inputs.dtype, targets.dtype) == (torch.int64, torch.int64)


def test_a_truncated_ids_file_is_rebuilt(tmp_path: Path, settings: Settings) -> None:
    cfg = _cfg(_jsonl(tmp_path, DOCS), val_fraction=0.0)
    whole = _ids(_prepare(cfg, settings))
    (ids_file,) = Path(settings["runs_dir"]).rglob("train.bin")
    ids_file.write_bytes(ids_file.read_bytes()[:-3])
    rebuilt = _prepare(cfg, settings)
    assert rebuilt["built"] == ["train"]
    assert _ids(rebuilt) == whole
    (record,) = Path(settings["runs_dir"]).rglob("train.json")
    record.unlink()
    assert _prepare(cfg, settings)["built"] == ["train"]


def test_two_builders_at_once_build_once(tmp_path: Path, settings: Settings) -> None:
    cfg = _cfg(_jsonl(tmp_path, DOCS * 200), val_fraction=0.1)
    runs: list[RunData] = []
    threads = [threading.Thread(target=lambda: runs.append(_prepare(cfg, settings))) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each part is built by one of them; the other waits for it, then reads it.
    assert sorted(name for run in runs for name in run["built"]) == ["train", "val"]
    assert _ids(runs[0]) == _ids(runs[1])
    assert not list(Path(settings["runs_dir"]).rglob("*.tmp"))


def test_a_failed_build_leaves_nothing_to_read(tmp_path: Path, settings: Settings) -> None:
    good = "".join(json.dumps({"text": doc}) + "\n" for doc in DOCS)
    path = tmp_path / "docs.jsonl"
    path.write_text(good + '{"text": 5}\n', encoding="utf-8")
    with pytest.raises(ModelTrainerError) as info:
        _prepare(_cfg(str(path), val_fraction=0.0), settings)
    assert "line 5" in info.value.message
    cache = Path(settings["runs_dir"])
    assert not list(cache.rglob("*.bin"))
    assert not list(cache.rglob("*.tmp"))


def test_encode_ids_of_a_tokenizer_without_arrays() -> None:
    tokenizer = CharTokenizer.from_text("abc")

    class Listing:
        def encode(self, text: str) -> list[int]:
            return tokenizer.encode(text)

        def decode(self, ids: list[int]) -> str:
            return tokenizer.decode(ids)

    assert encode_ids(Listing(), "cab").tolist() == tokenizer.encode("cab")
    assert encode_ids(tokenizer, "cab").dtype == np.uint32


def test_ids_dtype_fits_the_vocabulary() -> None:
    assert ids_dtype(65_536) == "uint16"
    assert ids_dtype(65_537) == "uint32"


def test_safe_pieces_encode_as_the_whole_text() -> None:
    text = builtin_text()[:30_000]
    tokenizer = BPETokenizer.train(text[:10_000], 300)
    blocks = [text[i : i + 997] for i in range(0, len(text), 997)]
    pieces = list(safe_pieces(blocks))
    assert "".join(pieces) == text
    assert [i for piece in pieces for i in tokenizer.encode(piece)] == tokenizer.encode(text)
    assert list(safe_pieces(["one-line", "-text", " then\r\n", "more"])) == [
        "one-line-text then",
        "\r\nmore",
    ]
    assert list(safe_pieces(["  ", "\n\n"])) == ["  \n\n"]


def test_stage_events_emit_each_whole_percent_once() -> None:
    events: list[Event] = []
    stage = stage_events(events.append, job_id="j", user_id=0)
    for done in (0.0, 0.004, 0.5, 0.5, 1.0):
        stage("encoding", done)
    stage("next", 1.0)
    assert [(e["type"], e.get("progress"), e.get("message")) for e in events] == [
        ("trainer.job.progress.v1", 0, "encoding"),
        ("trainer.job.progress.v1", 50, "encoding"),
        ("trainer.job.progress.v1", 100, "encoding"),
        ("trainer.job.progress.v1", 100, "next"),
    ]


def test_in_memory_corpora_are_saved_once_by_content(settings: Settings) -> None:
    first = save_corpus(DOCS, settings, field="corpus", text_field="text", split="train")
    stamp = Path(first).stat().st_mtime_ns
    again = save_corpus(list(DOCS), settings, field="corpus", text_field="text", split="train")
    assert again == first
    assert Path(first).stat().st_mtime_ns == stamp
    text = save_corpus("one text", settings, field="corpus", text_field="body", split="train")
    assert Path(text).read_text(encoding="utf-8") == '{"body": "one text"}\n'
    with pytest.raises(ModelTrainerError) as info:
        save_corpus(["a", 2], settings, field="corpus", text_field="text", split="train")
    assert info.value.message == "corpus: document 1 is a int, not a str"
    with pytest.raises(ModelTrainerError) as lone:
        save_corpus("\ud83d!", settings, field="corpus", text_field="text", split="train")
    assert lone.value.message.startswith(
        "corpus (a str) has a lone surrogate U+D83D at character offset 0"
    )
    assert not list(Path(settings["runs_dir"]).rglob("*.tmp"))


def test_a_tokenizer_handle_is_enough(tmp_path: Path, settings: Settings) -> None:
    handle: TokenizerHandle = CharTokenizer.from_text("".join(DOCS))
    run = prepare_run_data(
        RunSource(_cfg(_jsonl(tmp_path, DOCS), val_fraction=0.0), settings), handle
    )
    assert run["data"]["train_ids"].numel() == sum(map(len, DOCS)) + 2
