"""Watching a model learn: samples and the probe passage's surprisal, drawn while it trains.

``Evolution`` hangs on the training loop's callbacks: every ``sample_every_steps`` updates
and at each epoch end it draws a continuation of a fixed prompt with a fixed seed from the
training weights, and at each epoch end it scores the probe passage per character, each as
a metrics event. Both run in eval mode without gradients, then hand the model back in the
mode it was in, with the random streams as they were: a run with them trains exactly as
one without. A resumed run draws no sample at a step its events already hold one for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final, TypedDict

import torch

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import (
    EpochMetrics,
    LMModelProto,
    LossUnit,
    ModelBackend,
    ModelTrainConfig,
    PreparedLMModel,
)
from model_trainer.core.contracts.schema import generate_overlay, score_overlay
from model_trainer.core.events.codec import Event
from model_trainer.core.events.trainer_metrics_events import (
    SampleAt,
    is_probe,
    is_sample,
    make_probe_event,
    make_sample_event,
)

SAMPLE_TOKENS: Final[dict[LossUnit, int]] = {"char": 120, "token": 40}
"""The length of a sample drawn while training, by what the model's tokens are."""
PROMPT_CHARS: Final = 60
"""The characters of the held-out passage that prompt a sample."""
PROBE_CHARS: Final = 160
"""The characters of the held-out passage that make the default probe."""


def last_sample_step(events: Sequence[Event]) -> int:
    """The global step of the last sample among a run's events (-1 when it has none)."""
    return max((event["step"] for event in events if is_sample(event)), default=-1)


@contextmanager
def _aside(model: LMModelProto, device: str) -> Iterator[None]:
    """Run the block on ``model`` and give it back in its mode, the random streams as they were."""
    training = model.training
    devices = [found for found in [torch.device(device)] if found.type == "cuda"]
    with torch.random.fork_rng(devices=devices):
        yield
    model.train(training)


class Evolution:
    """Samples and probe scores of one run while it trains, as ``trainer.metrics`` events.

    Args:
        emit: where each event goes.
        job_id: the job the events name.
        user_id: the user they name.
        cfg: the run's config (``sample_every_steps``, ``probe_text``, ``seed``).
        backend: the run's family (sampling and scoring when its capabilities allow).
        prepared: the model being trained, in place.
        settings: the run's settings.
        held_out: a passage of the validation split (the prompt, and the default probe).
        loss_unit: what the model's tokens are (a sample's length is counted in them).
        after_step: the step of the last sample the run already holds (-1: none).
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        *,
        job_id: str,
        user_id: int,
        cfg: ModelTrainConfig,
        backend: ModelBackend,
        prepared: PreparedLMModel,
        settings: Settings,
        held_out: str,
        loss_unit: LossUnit,
        after_step: int = -1,
    ) -> None:
        self._emit = emit
        self._job_id = job_id
        self._user_id = user_id
        self._every = cfg["sample_every_steps"]
        self._seed = cfg["seed"]
        self._backend = backend
        self._prepared = prepared
        self._settings = settings
        capabilities = backend.capabilities()
        self._samples = capabilities["supports_generate"] and bool(held_out)
        self._prompt = held_out[:PROMPT_CHARS]
        self._probe = cfg["probe_text"] or held_out[:PROBE_CHARS]
        self._probes = capabilities["supports_score"] and bool(self._probe)
        self._tokens = SAMPLE_TOKENS[loss_unit]
        self._last = after_step

    def updated(self, step: int, epoch: int) -> None:
        """An update inside an epoch: a sample at every ``sample_every_steps``-th one."""
        if self._every > 0 and step % self._every == 0:
            self._sample(step, epoch, "step")

    def epoch_end(self, metrics: EpochMetrics) -> None:
        """An epoch's end: a sample, and the probe passage scored per character."""
        step, epoch = metrics["global_step"], metrics["epoch"]
        self._sample(step, epoch, "epoch_end")
        if not self._probes:
            return
        with _aside(self._prepared["model"], self._prepared["device"]):
            scored = self._backend.score(
                prepared=self._prepared,
                cfg=score_overlay({"text": self._probe, "detail_level": "per_char"}),
                settings=self._settings,
            )
        self._emit(
            make_probe_event(
                job_id=self._job_id,
                user_id=self._user_id,
                epoch=epoch,
                step=step,
                text=self._probe,
                surprisal_bits=[char["surprisal_bits"] for char in scored.get("per_char", [])],
            )
        )

    def _sample(self, step: int, epoch: int, at: SampleAt) -> None:
        if not self._samples or step <= self._last:
            return
        self._last = step
        with _aside(self._prepared["model"], self._prepared["device"]):
            generated = self._backend.generate(
                prepared=self._prepared,
                cfg=generate_overlay(
                    {
                        "prompt_text": self._prompt,
                        "max_new_tokens": self._tokens,
                        "seed": self._seed,
                    }
                ),
                settings=self._settings,
            )
        self._emit(
            make_sample_event(
                job_id=self._job_id,
                user_id=self._user_id,
                epoch=epoch,
                step=step,
                at=at,
                prompt=self._prompt,
                text=generated["outputs"][0],
            )
        )


class EpochEvolution(TypedDict):
    """What a run's model wrote and how surprised it was by the probe, at one epoch's end."""

    epoch: int
    step: int
    prompt: str | None
    sample: str | None
    probe: str | None
    probe_bits: list[float] | None
    probe_bits_per_char: float | None


def evolution_by_epoch(events: Sequence[Event]) -> list[EpochEvolution]:
    """Each epoch's closing sample and probe among a run's events, by epoch.

    An epoch seen again (a resumed run) takes its latest; epochs with neither are left out.
    """
    epochs: dict[int, EpochEvolution] = {}

    def row(epoch: int, step: int) -> EpochEvolution:
        found = epochs.setdefault(
            epoch,
            {
                "epoch": epoch,
                "step": step,
                "prompt": None,
                "sample": None,
                "probe": None,
                "probe_bits": None,
                "probe_bits_per_char": None,
            },
        )
        found["step"] = step
        return found

    for event in events:
        if is_sample(event) and event["at"] == "epoch_end":
            sampled = row(event["epoch"], event["step"])
            sampled["prompt"], sampled["sample"] = event["prompt"], event["text"]
        elif is_probe(event):
            probed = row(event["epoch"], event["step"])
            probed["probe"], probed["probe_bits"] = event["text"], event["surprisal_bits"]
            probed["probe_bits_per_char"] = event["bits_per_char"]
    return [epochs[epoch] for epoch in sorted(epochs)]
