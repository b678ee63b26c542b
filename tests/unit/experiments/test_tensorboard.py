"""The TensorBoard files of a run, read back with TensorBoard's own event reader."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from model_trainer import api
from model_trainer.cli import main
from model_trainer.core.events.codec import read_events
from model_trainer.core.events.tensorboard_sink import TensorBoardSink, tensorboard_dir
from model_trainer.core.events.trainer_metrics_events import (
    is_config,
    is_epoch,
    is_eval,
    is_probe,
    is_progress_metrics,
    is_sample,
    make_epoch_event,
)
from model_trainer.core.jobs.run_store import EVENTS_FILE


def scalars(folder: str, tag: str) -> list[tuple[int, float]]:
    reader = EventAccumulator(folder)
    reader.Reload()
    return [(event.step, event.value) for event in reader.Scalars(tag)]


def texts(folder: str, tag: str) -> list[tuple[int, str]]:
    reader = EventAccumulator(folder)
    reader.Reload()
    return [
        (event.step, event.tensor_proto.string_val[0].decode("utf-8"))
        for event in reader.Tensors(tag)
    ]


def close(pairs: list[tuple[int, float]], expected: list[tuple[int, float]]) -> bool:
    return [step for step, _ in pairs] == [step for step, _ in expected] and all(
        got == pytest.approx(want, rel=1e-6)
        for (_, got), (_, want) in zip(pairs, expected, strict=True)
    )


def test_a_runs_tensorboard_scalars_are_its_events_numbers(corpus: str, runs: str) -> None:
    job = api.train(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=corpus,
        num_epochs=2,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=4,
        eval_every_steps=2,
        device="cpu",
        runs_dir=runs,
        show=False,
        run_id="board",
        tensorboard=True,
    )
    job.result()
    events = read_events(Path(runs) / "board" / EVENTS_FILE)
    folder = tensorboard_dir(runs, "board")
    progress = [e for e in events if is_progress_metrics(e)]
    epochs = [e for e in events if is_epoch(e)]
    evals = [e for e in events if is_eval(e)]
    config = next(e for e in events if is_config(e))
    assert progress
    assert evals
    assert close(scalars(folder, "train/loss"), [(e["step"], e["loss"]) for e in progress])
    assert close(
        scalars(folder, "train/learning_rate"), [(e["step"], e["learning_rate"]) for e in progress]
    )
    assert close(
        scalars(folder, "epoch/train_loss"), [(e["global_step"], e["train_loss"]) for e in epochs]
    )
    val = [(e["global_step"], e["val_loss"] or math.nan) for e in epochs]
    assert close(scalars(folder, "epoch/val_loss"), val)
    chars = config.get("chars_per_token", 1.0)
    assert chars == 1.0
    assert close(
        scalars(folder, "epoch/val_bits_per_char"), [(s, v / math.log(2.0)) for s, v in val]
    )
    assert close(
        scalars(folder, "eval/val_loss"), [(e["global_step"], e["val_loss"]) for e in evals]
    )
    assert close(scalars(folder, "epoch/val_perplexity"), [(s, math.exp(v)) for s, v in val])
    probes = [e for e in events if is_probe(e)]
    assert len(probes) == 2
    assert close(
        scalars(folder, "probe/bits_per_char"), [(e["step"], e["bits_per_char"]) for e in probes]
    )
    samples = [e for e in events if is_sample(e)]
    assert texts(folder, "samples/text_summary") == [
        (e["step"], f"**{e['prompt']}**{e['text']}".replace("\n", "  \n")) for e in samples
    ]


def test_the_sink_needs_no_config_and_close_finishes_open_runs(tmp_path: Path) -> None:
    sink = TensorBoardSink(str(tmp_path))
    sink.emit(
        make_epoch_event(
            job_id="bare",
            user_id=0,
            epoch=1,
            total_epochs=1,
            global_step=3,
            elapsed_s=1.0,
            train_loss=2.0,
            train_perplexity=math.exp(2.0),
            val_loss=None,
            val_perplexity=None,
            tokens_per_second=5.0,
            learning_rate=1e-3,
            loss_unit="token",
        )
    )
    sink.close()
    assert scalars(tensorboard_dir(str(tmp_path), "bare"), "epoch/train_loss") == [(3, 2.0)]
    reader = EventAccumulator(tensorboard_dir(str(tmp_path), "bare"))
    reader.Reload()
    assert "epoch/val_loss" not in reader.Tags()["scalars"]


def test_the_command_line_writes_tensorboard_files(
    corpus: str, runs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "train",
            "--family",
            "char_lstm",
            "--size",
            "tiny",
            "--corpus",
            corpus,
            "--epochs",
            "1",
            "--max-seq-len",
            "16",
            "--batch-size",
            "8",
            "--max-steps-per-epoch",
            "2",
            "--device",
            "cpu",
            "--run-id",
            "cli-board",
            "--runs-dir",
            runs,
            "--tensorboard",
            "--sample-every-steps",
            "1",
            "--probe-text",
            "The probe.",
        ]
    )
    assert status == 0
    folder = tensorboard_dir(runs, "cli-board")
    assert len(scalars(folder, "epoch/train_loss")) == 1
    assert [step for step, _ in texts(folder, "samples/text_summary")] == [1, 2]
    probes = [e for e in read_events(Path(runs) / "cli-board" / EVENTS_FILE) if is_probe(e)]
    assert [(e["text"], len(e["surprisal_bits"])) for e in probes] == [("The probe.", 10)]
    samples = [e for e in read_events(Path(runs) / "cli-board" / EVENTS_FILE) if is_sample(e)]
    printed = capsys.readouterr().err
    for sample in samples:
        line = f"sample at step {sample['step']}: [{sample['prompt']}]{sample['text']}\n"
        assert printed.count(line) == 1
