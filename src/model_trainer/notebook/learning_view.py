"""The live panel's view of what the model has learned: its newest sample and probe heatmap."""

from __future__ import annotations

import html
from typing import Final

from model_trainer.core.events.trainer_metrics_events import TrainerProbeV1, TrainerSampleV1
from model_trainer.core.jobs.report import bits_html

_MONO: Final = "font-family: monospace; white-space: pre-wrap"


def learning_html(sample: TrainerSampleV1 | None, probe: TrainerProbeV1 | None) -> str:
    """The newest sample (its prompt set apart, in grey) and the probe's heatmap, as HTML."""
    parts: list[str] = []
    if sample is not None:
        parts.append(
            f"<div><b>sample</b> (epoch {sample['epoch']}, step {sample['step']})</div>"
            f'<div style="{_MONO}"><span style="color: #888">{html.escape(sample["prompt"])}'
            f'</span><span class="mt-sample-text">{html.escape(sample["text"])}</span></div>'
        )
    if probe is not None:
        parts.append(
            f"<div><b>probe surprisal</b> (epoch {probe['epoch']}: "
            f"{probe['bits_per_char']:.2f} bits/char; deep red: 8 bits or more)</div>"
            f'<div style="{_MONO}">{bits_html(probe["text"], probe["surprisal_bits"])}</div>'
        )
    return "".join(parts)
