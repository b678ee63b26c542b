from __future__ import annotations

import _thread
import io
import json
import math
import runpy
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import overload

import pytest

from model_trainer.cli import demo_config, exit_status, main
from model_trainer.cli_output import JSON_CHUNK, json_ready, write_json
from model_trainer.core.data.corpus import builtin_text

SUBCOMMANDS = [
    ["demo"],
    ["train"],
    ["resume"],
    ["eval"],
    ["runs"],
    ["score"],
    ["generate"],
    ["tokenizer"],
    ["tokenizer", "train"],
]


def _corpus(folder: Path, chars: int = 5000) -> str:
    path = folder / "corpus.txt"
    path.write_text(builtin_text()[:chars], encoding="utf-8")
    return str(path)


def _train_args(corpus: str, runs: Path, run_id: str, *extra: str) -> list[str]:
    return [
        "train",
        "--family", "char_lstm",
        "--size", "tiny",
        "--corpus", corpus,
        "--epochs", "1",
        "--batch-size", "8",
        "--lr", "0.003",
        "--max-seq-len", "16",
        "--seed", "1",
        "--device", "cpu",
        "--precision", "fp32",
        "--tokenizer", "char",
        "--vocab-size", "64",
        "--max-steps-per-epoch", "3",
        "--runs-dir", str(runs),
        "--run-id", run_id,
        *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("words", [[], *SUBCOMMANDS])
def test_every_subcommand_has_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*words, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {' '.join(['model-trainer', *words])}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "error[INVALID_CONFIG]: model-trainer: the following arguments are required: COMMAND"),
        (
            ["train", "--epochs", "x"],
            "error[INVALID_CONFIG]: model-trainer train: argument --num-epochs/--epochs: "
            "invalid int value: 'x'",
        ),
        (
            ["score", "r1"],
            "error[INVALID_CONFIG]: model-trainer score: one of the arguments --text --path "
            "is required",
        ),
        (["eval", "../x"], "error[INVALID_CONFIG]: run_id must be"),
        (["eval", "ghost", "--runs-dir", "/nonexistent"], "error[MODEL_NOT_FOUND]: run_id 'ghost'"),
        (["train", "--config", "/nonexistent.json"], "error[INVALID_CONFIG]: --config: no file"),
        (["train", "--family", "nope"], "error[MODEL_NOT_FOUND]: model_family 'nope'"),
    ],
)
def test_usage_and_validation_errors_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(message)
    assert captured.err.count("\n") == 1


def test_runs_of_an_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "no runs yet\n"


def test_train_then_use_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    corpus = _corpus(tmp_path)
    assert main(_train_args(corpus, runs, "cli-run", "--json")) == 0
    captured = capsys.readouterr()
    outcome = json.loads(captured.out)
    assert outcome["epochs_completed"] == 1
    assert outcome["steps"] == 3
    assert outcome["cancelled"] is False
    assert "epoch 1/1: train " in captured.err
    assert "bits/char" in captured.err

    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert (run["run_id"], run["state"], run["epochs_done"]) == ("cli-run", "completed", 1)
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["run", "id", "state"]
    assert table[1].split()[:4] == ["cli-run", "completed", "char_lstm", "tiny"]
    broken = runs / "broken"
    broken.mkdir()
    (broken / "job.json").write_text("{", encoding="utf-8")
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[:3] == ["broken", "unreadable", "MODEL_LOAD_FAILED:"]
    assert table[2].split()[:2] == ["cli-run", "completed"]
    shutil.rmtree(broken)

    assert main(["eval", "cli-run", "--runs-dir", str(runs), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss_unit"] == "char"
    assert main(["eval", "cli-run", "--runs-dir", str(runs)]) == 0
    assert "bits per char" in capsys.readouterr().out

    score = ["score", "cli-run", "--runs-dir", str(runs), "--text", "The if"]
    assert main([*score, "--per-char", "--top-k", "2", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert [item["char"] for item in scored["per_char"]] == list("The if")
    assert main([*score, "--per-char", "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("bits per char")
    assert "expected" in lines[-1]
    assert main([*score, "--per-char"]) == 0
    out = capsys.readouterr().out
    assert "expected" not in out
    assert "character bits" in out
    assert main([*score, "--per-word"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split()[0] == "'The'"
    assert "(ending " in lines[-1]
    assert lines[-1].endswith("chars 4-6")
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text("The ", encoding="utf-8")
    assert main(["score", "cli-run", "--runs-dir", str(runs), "--path", str(prompt_file)]) == 0
    assert "characters       4" in capsys.readouterr().out

    generate = ["generate", "cli-run", "--runs-dir", str(runs), "--max-new-tokens", "5"]
    assert main([*generate, "--prompt", "The", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["outputs"]) == 1
    assert main([*generate, "--prompt", "The"]) == 0
    assert len(capsys.readouterr().out) > 0
    assert main([*generate, "--prompt-path", str(prompt_file), "--num-return-sequences", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("--- sequence 1 (")
    assert "--- sequence 2 (" in out

    assert main(["resume", "cli-run", "--runs-dir", str(runs)]) == 2
    assert "error[INVALID_CONFIG]: run_id 'cli-run' is completed" in capsys.readouterr().err


def test_human_train_output_and_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"num_epochs": 3, "val_fraction": 0.2}), encoding="utf-8")
    runs = tmp_path / "runs"
    argv = _train_args(_corpus(tmp_path), runs, "from-file", "--config", str(config))
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "run from-file completed: 1 epoch(s)"
    assert out[1].startswith("train loss")
    assert out[3].startswith("validation")
    assert out[3].endswith("bits per character")
    assert out[-2:] == [
        f"curves           {runs / 'from-file' / 'curves.png'}",
        f"report           {runs / 'from-file' / 'report.html'}",
    ]


def test_run_without_validation_prints_no_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"val_fraction": 0.0}), encoding="utf-8")
    argv = _train_args(_corpus(tmp_path), tmp_path / "runs", "no-val", "--config", str(config))
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("train loss")
    assert not [line for line in lines if line.startswith("validation")]


def test_demo_config_is_a_small_char_lstm_on_the_builtin_corpus() -> None:
    cfg = demo_config(quick=False)
    assert (cfg["model_family"], cfg["model_size"]) == ("char_lstm", "small")
    assert cfg["corpus_path"] == "builtin:python-docs"
    quick = demo_config(quick=True)
    assert quick["model_size"] == "tiny"


def test_bad_config_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.json"
    config.write_text('{"num_epochs": "three"}', encoding="utf-8")
    assert main(["train", "--config", str(config)]) == 2
    message = (
        f"error[INVALID_CONFIG]: --config {config}: num_epochs must be an integer, got 'three'"
    )
    assert message in capsys.readouterr().err


def test_failures_exit_with_their_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    missing = str(tmp_path / "missing.txt")
    assert main(_train_args(missing, runs, "no-corpus")) == 2
    assert capsys.readouterr().err.startswith("error[CORPUS_NOT_FOUND]: corpus_path")
    config = tmp_path / "wild.json"
    config.write_text(json.dumps({"grad_clip": 0.0, "warmup_steps": 0}), encoding="utf-8")
    wild = _train_args(_corpus(tmp_path), runs, "wild", "--lr", "1e30", "--config", str(config))
    assert main(wild) == 1
    assert "error[TRAINING_NAN_LOSS]" in capsys.readouterr().err


def test_demo_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert main(["demo", "--quick", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "bits per character" in out
    assert "sample           The " in out
    assert "report.html" in out
    assert main(["demo", "--quick", "--runs-dir", str(runs), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["prompt"] == "The "
    assert summary["val_bits_per_char"] > 0.0
    assert Path(summary["report_path"]).is_file()
    assert Path(summary["curves_path"]).is_file()
    assert summary["outcome"]["epochs_completed"] == 1
    assert summary["run_id"].startswith("char_lstm-tiny-")


def _interrupt_when(events: Path, count: int) -> threading.Thread:
    """A thread that sends Ctrl-C once ``events`` holds ``count`` progress events."""

    def watch() -> None:
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            text = events.read_text("utf-8") if events.is_file() else ""
            if text.count("trainer.metrics.progress.v1") >= count:
                _thread.interrupt_main()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    return watcher


def test_ctrl_c_cancels_cleanly_and_resume_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_TRAINER_PROGRESS_INTERVAL_S", "0")
    runs = tmp_path / "runs"
    events = runs / "stopped" / "events.jsonl"
    watcher = _interrupt_when(events, 1)
    argv = _train_args(_corpus(tmp_path), runs, "stopped", "--epochs", "500", "--json")
    status = main(argv)
    watcher.join()
    assert status == 130
    captured = capsys.readouterr()
    assert json.loads(captured.out)["cancelled"] is True
    assert "cancelling: stopping at the next step" in captured.err
    assert "continue it with: model-trainer resume stopped" in captured.err
    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["state"] == "cancelled"

    seen = events.read_text("utf-8").count("trainer.metrics.progress.v1")
    watcher = _interrupt_when(events, seen + 2)
    status = main(["resume", "stopped", "--runs-dir", str(runs)])
    watcher.join()
    assert status == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "continue it with: model-trainer resume stopped" in captured.err


def test_tokenizer_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = _corpus(tmp_path, 2000)
    out = tmp_path / "bpe.json"
    argv = ["tokenizer", "train", "--corpus", corpus, "--kind", "bpe", "--vocab-size", "300"]
    assert main([*argv, "--out", str(out), "--json"]) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert (outcome["kind"], outcome["path"]) == ("bpe", str(out))
    char = ["tokenizer", "train", "--corpus", corpus, "--kind", "char"]
    assert main([*char, "--out", str(tmp_path / "char.json")]) == 0
    assert capsys.readouterr().out.startswith("saved a char tokenizer of ")
    assert main([*argv[:-1], str(10**8), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "error[INVALID_CONFIG]: vocab_size must be an integer in [1, 1_048_576], got 100000000\n"
    )


def test_exit_status_of_codes() -> None:
    assert exit_status("TRAINING_CANCELLED") == 130
    assert exit_status("CORPUS_EMPTY") == 2
    assert exit_status("MODEL_NOT_FOUND") == 2
    assert exit_status("TRAINING_NAN_LOSS") == 1
    assert exit_status("INTERNAL_ERROR") == 1


def test_json_ready_replaces_non_finite_numbers() -> None:
    value = {"a": math.nan, "b": [1.0, math.inf, (2, -math.inf)], "c": "x", "d": None}
    assert json_ready(value) == {"a": None, "b": [1.0, None, [2, None]], "c": "x", "d": None}


class Counted(Sequence[dict[str, object]]):
    """A long sequence built item by item, that counts the items it has made."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.made = 0

    def __len__(self) -> int:
        return self.length

    @overload
    def __getitem__(self, index: int) -> dict[str, object]: ...

    @overload
    def __getitem__(
        self, index: slice[int | None, int | None, int | None]
    ) -> list[dict[str, object]]: ...

    def __getitem__(
        self, index: int | slice[int | None, int | None, int | None]
    ) -> dict[str, object] | list[dict[str, object]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.length))]
        if index >= self.length:
            raise IndexError(index)
        self.made += 1
        return {"char": chr(65 + index % 26), "bits": index / 7, "top_k": [{"p": math.nan}]}


def test_json_is_written_as_json_dumps_writes_it_a_chunk_at_a_time() -> None:
    chars = Counted(JSON_CHUNK * 2 + 5)
    value = {
        "loss": 1.5, "nan": math.nan, "empty": {}, "none": [], "text": "a\"b\u00e9",
        "nested": {"a": [1, (2, 3), {"b": True, "c": None}]}, "per_char": chars,
    }  # fmt: skip
    out = io.StringIO()
    made: list[int] = []

    class Watched(io.StringIO):
        def write(self, text: str, /) -> int:
            made.append(chars.made)
            return out.write(text)

    write_json(value, Watched())
    assert chars.made == len(chars)
    assert made.count(JSON_CHUNK) > 1000  # the first chunk is written before the next is made
    assert out.getvalue() == json.dumps(json_ready(value), indent=2, allow_nan=False)


def test_python_dash_m(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["model-trainer", "runs", "--runs-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("model_trainer", run_name="__main__")
    assert exited.value.code == 0
    assert capsys.readouterr().out == "no runs yet\n"
