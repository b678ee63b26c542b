"""The token cache stays within its size: least recently used sources go, busy ones stay."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import train_config
from model_trainer.core.data.cache import CACHE_DIR, LOCK_FILE
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.data.evict import (
    MB,
    USED_FILE,
    folder_bytes,
    keep_within,
    last_used,
    mark_used,
    trim_cache,
)
from model_trainer.core.data.memory import SOURCES_DIR
from model_trainer.core.data.prepare import RunSource, prepare_run_data, run_tokenizer


def _source(root: Path, name: str, size: int, used: float) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "ids.bin").write_bytes(b"\0" * size)
    mark_used(folder)
    os.utime(folder / USED_FILE, (used, used))
    return folder


def test_the_least_recently_used_sources_go_first_until_the_cache_fits(tmp_path: Path) -> None:
    old = _source(tmp_path, "old", 400, used=100.0)
    middle = _source(tmp_path, "middle", 300, used=200.0)
    new = _source(tmp_path, "new", 200, used=300.0)
    saved = tmp_path / SOURCES_DIR
    saved.mkdir()
    (saved / "corpus.jsonl").write_bytes(b"x" * 1000)  # saved corpora: never removed
    assert last_used(old) == 100.0
    assert folder_bytes(tmp_path) == 1900
    assert trim_cache(tmp_path, 1600, keep=new) == {"folders": ["old"], "freed_bytes": 400}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["middle", "new", SOURCES_DIR]
    assert trim_cache(tmp_path, 0, keep=new) == {"folders": ["middle"], "freed_bytes": 300}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["new", SOURCES_DIR]
    assert not middle.exists()
    assert trim_cache(tmp_path, 0) == {"folders": ["new"], "freed_bytes": 200}
    assert trim_cache(tmp_path / "none", 0) == {"folders": [], "freed_bytes": 0}


def test_a_folder_without_a_stamp_counts_from_its_own_time(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    os.utime(bare, (50.0, 50.0))
    assert last_used(bare) == 50.0


def test_a_source_being_built_is_never_removed(tmp_path: Path) -> None:
    busy = _source(tmp_path, "busy", 500, used=100.0)
    idle = _source(tmp_path, "idle", 500, used=200.0)
    with (busy / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert trim_cache(tmp_path, 0) == {"folders": ["idle"], "freed_bytes": 500}
    assert busy.exists()
    assert not idle.exists()


def test_a_limit_of_zero_megabytes_keeps_everything(tmp_path: Path) -> None:
    _source(tmp_path, "a", 100, used=100.0)
    assert keep_within(tmp_path, 0, keep=tmp_path / "b") == {"folders": [], "freed_bytes": 0}
    assert keep_within(tmp_path, 1, keep=tmp_path / "b") == {"folders": [], "freed_bytes": 0}
    assert MB == 1 << 20


def test_a_run_that_builds_a_new_source_trims_the_oldest_away(
    tmp_path: Path, settings: Settings
) -> None:
    small: Settings = {**settings, "runs_dir": str(tmp_path / "runs"), "cache_max_mb": 1}
    root = tmp_path / "runs" / CACHE_DIR
    texts = [builtin_text()[i * 100_000 : (i + 1) * 100_000] * 4 for i in range(3)]
    folders = []
    for index, text in enumerate(texts):
        path = tmp_path / f"corpus{index}.txt"
        path.write_text(text, encoding="utf-8")
        source = RunSource(train_config(corpus_path=str(path)), small)
        prepare_run_data(source, run_tokenizer(source, "char", 0))
        os.utime(source.folder / USED_FILE, (100.0 * (index + 1),) * 2)
        folders.append(source.folder)
    # Each source holds about 0.8 MB of ids: the limit keeps the one just built alone.
    assert [folder.exists() for folder in folders] == [False, False, True]
    assert folder_bytes(root) <= MB
    (root / SOURCES_DIR).mkdir()
    (root / SOURCES_DIR / "saved.jsonl").write_text('{"text": "kept"}\n', encoding="utf-8")
    again = RunSource(train_config(corpus_path=str(tmp_path / "corpus0.txt")), small)
    prepare_run_data(again, run_tokenizer(again, "char", 0))  # rebuilt when needed again
    assert again.folder.exists()
    assert not folders[2].exists()
    assert (root / SOURCES_DIR).is_dir()


def test_clear_cache_empties_the_cache_but_keeps_saved_corpora(tmp_path: Path) -> None:
    import model_trainer as mt

    runs = tmp_path / "runs"
    root = runs / CACHE_DIR
    _source(root, "one", 300, used=100.0)
    _source(root, "two", 200, used=200.0)
    (root / SOURCES_DIR).mkdir()
    assert mt.clear_cache(runs_dir=str(runs)) == {"folders": ["one", "two"], "freed_bytes": 500}
    assert [path.name for path in root.iterdir()] == [SOURCES_DIR]
    assert mt.clear_cache(runs_dir=str(tmp_path / "empty")) == {"folders": [], "freed_bytes": 0}
