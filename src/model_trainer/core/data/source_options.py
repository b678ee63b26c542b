"""A source option that no source of a run reads is refused, not ignored.

``glob`` is read by a folder, ``text_field`` by a ``.jsonl``/``.csv``/``.parquet`` file or a
saved dataset, a split by a saved ``DatasetDict``. Set away from its default for a run none
of whose sources reads it, the option would be ignored without a word.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from model_trainer.core.contracts.model import ModelTrainConfig
from model_trainer.core.contracts.schema import TRAIN_DEFAULTS
from model_trainer.core.data.sources import Source, SourceOption
from model_trainer.core.errors import ConfigError

READERS: Final[dict[SourceOption, str]] = {
    "glob": "a folder",
    "text_field": "a .jsonl, .csv or .parquet file or a saved dataset",
    "split": "a saved DatasetDict",
}
"""What kind of source reads each option."""


def refuse_unread(cfg: ModelTrainConfig, corpus: Source, val: Source | None) -> None:
    """Refuse ``glob``, ``text_field``, ``dataset_split`` or ``val_split`` set for no reader.

    Raises:
        ConfigError: ``INVALID_CONFIG`` naming the field, its value, what reads it and the
            run's sources.
    """
    fields: Mapping[str, object] = cfg
    defaults: Mapping[str, object] = TRAIN_DEFAULTS
    both = (corpus,) if val is None else (corpus, val)
    checks: tuple[tuple[str, SourceOption, tuple[Source, ...]], ...] = (
        ("glob", "glob", both),
        ("text_field", "text_field", both),
        ("dataset_split", "split", (corpus,)),
        ("val_split", "split", () if val is None else (val,)),
    )
    for name, option, sources in checks:
        if fields[name] == defaults[name] or any(option in source.reads for source in sources):
            continue
        named = " or ".join(repr(source.name) for source in sources) or "no val_path"
        raise ConfigError(
            "INVALID_CONFIG",
            f"{name}={fields[name]!r} would be ignored: only {READERS[option]} reads it, and "
            f"the run reads {named}; leave {name} out, or point the run at such a source",
        )
