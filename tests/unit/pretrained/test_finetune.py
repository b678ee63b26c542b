"""Fine-tuning from a pretrained start: a normal run that lowers the loss and resumes exactly."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

import model_trainer as mt
from model_trainer.core.backends.hf_causal_lm.tiny import ARCHS, Arch
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.codec import Event
from model_trainer.core.events.sinks import CallbackSink, ListSink
from model_trainer.core.events.trainer_metrics_events import is_config, is_epoch
from model_trainer.core.training.manifest import read_manifest

STEPS = 3


def _train(
    source: str, corpus: str, runs: str, *, sinks: list[CallbackSink] | None = None, **extra: int
) -> mt.api.TrainJob:
    return mt.train(
        init_from=source,
        corpus_path=corpus,
        num_epochs=extra.get("num_epochs", 2),
        max_seq_len=32,
        batch_size=4,
        max_steps_per_epoch=STEPS,
        learning_rate=3e-3,
        warmup_steps=1,
        lora_rank=extra.get("lora_rank", 0),
        gradient_checkpointing=bool(extra.get("gradient_checkpointing", 0)),
        device="cpu",
        runs_dir=runs,
        show=False,
        sinks=sinks or [],
    )


@pytest.mark.parametrize("arch", ARCHS)
def test_fine_tuning_lowers_the_loss_and_saves_a_hugging_face_folder(
    checkpoints: dict[Arch, str], corpus: str, tmp_path: Path, arch: Arch
) -> None:
    runs = str(tmp_path / "runs")
    text = Path(corpus).read_text(encoding="utf-8")[:600]
    before = mt.score(mt.load_model(checkpoints[arch], device="cpu"), text=text)
    sink = ListSink()
    job = _train(
        checkpoints[arch],
        corpus,
        runs,
        sinks=[CallbackSink(sink.emit)],
        gradient_checkpointing=arch == "gpt_neox",
    )
    outcome = job.result()
    assert not outcome["cancelled"]
    config = next(event for event in sink.events if is_config(event))
    assert (config["model_family"], config["tokenizer_kind"]) == ("hf_causal_lm", "pretrained")
    manifest = read_manifest(job.run_dir)["config"]
    assert (manifest["model_family"], manifest["model_size"]) == ("hf_causal_lm", "pretrained")
    tuned = mt.load_run(job.run_id, runs_dir=runs)
    after = mt.score(tuned, text=text)
    assert after["loss"] < before["loss"] - 0.1
    assert job.prepared is not None
    assert job.prepared.get("start_id") == tuned.get("start_id")
    assert mt.score(job, text=text[:40])["loss"] == pytest.approx(
        mt.score(tuned, text=text[:40])["loss"], abs=1e-5
    )
    folder = Path(job.run_dir) / "model"
    hf = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    ids = torch.tensor([AutoTokenizer.from_pretrained(str(folder))("The file").input_ids])
    with torch.no_grad():
        assert torch.allclose(hf(ids).logits, tuned["model"](ids), atol=1e-5)
    assert mt.evaluate(job.run_id, runs_dir=runs)["loss"] == pytest.approx(
        outcome["val_loss"], rel=1e-4
    )


def test_a_stopped_fine_tune_resumes_to_the_weights_of_a_straight_run(
    checkpoints: dict[Arch, str], corpus: str, tmp_path: Path
) -> None:
    runs = str(tmp_path / "runs")
    reached = threading.Event()
    go_on = threading.Event()

    def pause_after_first_epoch(event: Event) -> None:
        if is_epoch(event) and event["epoch"] == 1:
            reached.set()
            assert go_on.wait(10.0)

    job = _train(checkpoints["llama"], corpus, runs, sinks=[CallbackSink(pause_after_first_epoch)])
    assert reached.wait(60.0)
    job.cancel()
    go_on.set()
    assert job.result()["cancelled"]
    resumed = mt.resume(job.run_id, runs_dir=runs, show=False).result()
    straight_job = _train(checkpoints["llama"], corpus, runs)
    straight = straight_job.result()
    assert (resumed["loss"], resumed["val_loss"]) == (straight["loss"], straight["val_loss"])
    ours = load_file(str(Path(job.run_dir) / "model" / "model.safetensors"))
    theirs = load_file(str(Path(straight_job.run_dir) / "model" / "model.safetensors"))
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[name], theirs[name]) for name in ours)


def test_lora_trains_adapters_only_and_saves_them_beside_the_merged_model(
    checkpoints: dict[Arch, str], corpus: str, tmp_path: Path
) -> None:
    runs = str(tmp_path / "runs")
    job = _train(checkpoints["gpt2"], corpus, runs, lora_rank=4, num_epochs=1)
    job.result()
    folder = Path(job.run_dir) / "model"
    assert (folder / "adapter" / "adapter_config.json").is_file()
    merged = load_file(str(folder / "model.safetensors"))
    assert not [name for name in merged if "lora" in name]
    base = load_file(str(Path(checkpoints["gpt2"]) / "model.safetensors"))
    changed = [name for name in base if not torch.equal(base[name], merged[name])]
    assert changed  # the adapters, merged, moved some weights
    assert "transformer.wte.weight" not in changed  # embeddings carry no adapter
    mt.score(mt.load_run(job.run_id, runs_dir=runs), text="The file")


def test_conflicting_fields_are_refused_before_a_run_starts(
    checkpoints: dict[Arch, str], corpus: str, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    with pytest.raises(ModelTrainerError) as error:
        mt.train(init_from=checkpoints["gpt2"], model_size="tiny", runs_dir=str(runs), show=False)
    assert error.value.code == "INVALID_CONFIG"
    assert error.value.message == (
        f"model_size 'tiny' conflicts with init_from={checkpoints['gpt2']!r}: a pretrained "
        "model brings its own size, vocabulary and tokenizer; leave model_size unset"
    )
    with pytest.raises(ModelTrainerError) as error:
        mt.train(init_from=checkpoints["gpt2"], vocab_size=300, runs_dir=str(runs), show=False)
    assert error.value.message.startswith("vocab_size 300 conflicts with init_from=")
    with pytest.raises(ModelTrainerError) as error:
        mt.train(
            model_family="hf_causal_lm", model_size="pretrained", runs_dir=str(runs), show=False
        )
    assert error.value.message == (
        "model_family must be used with init_from naming a pretrained model, got 'hf_causal_lm'"
    )
    with pytest.raises(ModelTrainerError) as error:
        mt.train(tokenizer_kind="pretrained", runs_dir=str(runs), show=False)
    assert error.value.message == (
        "tokenizer_kind must be used with init_from naming a pretrained model, got 'pretrained'"
    )
    with pytest.raises(ModelTrainerError) as error:
        mt.train(model_family="gpt2", lora_rank=8, runs_dir=str(runs), show=False)
    assert (
        error.value.message == "lora_rank must be 0 without init_from (a pretrained start), got 8"
    )
    assert not runs.exists()
    del corpus


def test_lr_find_ramps_a_pretrained_start_with_its_own_tokenizer(
    checkpoints: dict[Arch, str], corpus: str, tmp_path: Path
) -> None:
    runs = str(tmp_path / "runs")
    result = mt.lr_find(
        init_from=checkpoints["gpt2"],
        corpus_path=corpus,
        max_seq_len=32,
        batch_size=4,
        num_steps=6,
        device="cpu",
        runs_dir=runs,
        show=False,
    ).result()
    assert len(result["losses"]) == 6
    assert result["suggested_lr"] in result["learning_rates"]
    assert mt.list_runs(runs_dir=runs) == []
    with pytest.raises(ModelTrainerError) as error:
        mt.lr_find(init_from=checkpoints["gpt2"], model_size="tiny", runs_dir=runs, show=False)
    assert error.value.message.startswith("model_size 'tiny' conflicts with init_from=")
