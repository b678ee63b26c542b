"""A sink that writes a run's metrics as TensorBoard event files under its run folder.

``tensorboard --logdir runs`` then shows every run written with it. Scalars, by global
step: ``train/loss``, ``train/learning_rate`` and ``train/tokens_per_second`` at each
reading; ``epoch/train_loss``, ``epoch/val_loss``, their perplexities and
``epoch/val_bits_per_char`` at each epoch; ``eval/val_loss`` and ``eval/val_perplexity``
at each validation inside an epoch. The run's settings (from its config event) are written
as hyperparameters when the run's job ends (its completed or failed event, or ``close``),
with its best validation loss as their metric.

``emit`` only hands the figures to torch's ``SummaryWriter``, whose own thread writes the
file; the writer of a run is opened at its first event, in
``<runs_dir>/<job id>/tensorboard`` (a train job's id is its run id). Needs the
``tensorboard`` extra. A folder it cannot make (a file in the way, a read-only disk) is
``ARTIFACT_UPLOAD_FAILED``: the job switches the sink off with a warning and goes on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Final, Protocol

from model_trainer.core.contracts.units import bits_per_char, perplexity
from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import is_completed, is_failed
from model_trainer.core.events.trainer_metrics_events import (
    TrainerConfigV1,
    is_config,
    is_epoch,
    is_eval,
    is_probe,
    is_progress_metrics,
    is_sample,
)
from model_trainer.core.extras import require_extra
from model_trainer.core.faults import writing

TENSORBOARD_DIR: Final = "tensorboard"
HPARAMS: Final = (
    "model_family",
    "model_size",
    "batch_size",
    "max_seq_len",
    "learning_rate",
    "vocab_size",
    "tokenizer_kind",
    "total_epochs",
)


class _Writer(Protocol):
    """The part of ``torch.utils.tensorboard.SummaryWriter`` the sink uses."""

    def add_scalar(self, tag: str, scalar_value: float, global_step: int) -> None: ...

    def add_text(self, tag: str, text_string: str, global_step: int) -> None: ...

    def add_hparams(
        self,
        hparam_dict: Mapping[str, str | int | float],
        metric_dict: Mapping[str, float],
        *,
        run_name: str,
    ) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def tensorboard_dir(runs_dir: str, run_id: str) -> str:
    """Where the TensorBoard files of run ``run_id`` go."""
    return os.path.join(runs_dir, run_id, TENSORBOARD_DIR)


class TensorBoardSink:
    """Writes the metrics events of each run it sees into that run's TensorBoard folder."""

    def __init__(self, runs_dir: str) -> None:
        self._runs_dir = runs_dir
        self._writers: dict[str, _Writer] = {}
        self._configs: dict[str, TrainerConfigV1] = {}
        self._best: dict[str, float] = {}

    def _writer(self, job_id: str) -> _Writer:
        if job_id not in self._writers:
            require_extra("tensorboard", extra="tensorboard", needed_by="tensorboard=True")
            from torch.utils.tensorboard import SummaryWriter

            folder = tensorboard_dir(self._runs_dir, job_id)
            with writing(folder):
                opened: _Writer = SummaryWriter(folder)
            self._writers[job_id] = opened
        return self._writers[job_id]

    def emit(self, event: Event) -> None:
        """Hand the figures of one metrics event to its run's writer."""
        job = event["job_id"]
        if is_config(event):
            self._configs[job] = event
        elif is_progress_metrics(event):
            writer, step = self._writer(job), event["step"]
            writer.add_scalar("train/loss", event["loss"], step)
            writer.add_scalar("train/learning_rate", event["learning_rate"], step)
            writer.add_scalar("train/tokens_per_second", event["tokens_per_second"], step)
        elif is_epoch(event):
            writer, step = self._writer(job), event["global_step"]
            writer.add_scalar("epoch/train_loss", event["train_loss"], step)
            writer.add_scalar("epoch/train_perplexity", event["train_perplexity"], step)
            writer.add_scalar("epoch/tokens_per_second", event["tokens_per_second"], step)
            val = event["val_loss"]
            if val is not None:
                writer.add_scalar("epoch/val_loss", val, step)
                writer.add_scalar("epoch/val_perplexity", perplexity(val), step)
                writer.add_scalar("epoch/val_bits_per_char", self._bits(job, val), step)
                self._best[job] = min(val, self._best.get(job, math.inf))
        elif is_eval(event):
            writer, step = self._writer(job), event["global_step"]
            writer.add_scalar("eval/val_loss", event["val_loss"], step)
            writer.add_scalar("eval/val_perplexity", event["val_perplexity"], step)
        elif is_sample(event):
            prompt = event["prompt"].replace("\n", "  \n")
            text = event["text"].replace("\n", "  \n")
            self._writer(job).add_text("samples", f"**{prompt}**{text}", event["step"])
        elif is_probe(event):
            self._writer(job).add_scalar(
                "probe/bits_per_char", event["bits_per_char"], event["step"]
            )
        elif (is_completed(event) or is_failed(event)) and job in self._writers:
            self._finish(job)

    def _bits(self, job: str, loss: float) -> float:
        config = self._configs.get(job)
        unit = "token" if config is None else config.get("loss_unit", "token")
        chars = 1.0 if config is None else config.get("chars_per_token", 1.0)
        return bits_per_char(loss, unit, chars)

    def _finish(self, job: str) -> None:
        """Write run ``job``'s hyperparameters and close its file (its job has ended)."""
        writer = self._writers.pop(job)
        config = self._configs.get(job)
        if config is not None:
            values = {name: config.get(name) for name in HPARAMS}
            hparams = {
                name: value
                for name, value in values.items()
                if isinstance(value, str | int | float)
            }
            best = self._best.get(job)
            metrics = {} if best is None else {"hparam/best_val_loss": best}
            writer.add_hparams(hparams, metrics, run_name=".")
        writer.close()

    def close(self) -> None:
        """Finish every run still open."""
        for job in list(self._writers):
            self._finish(job)
