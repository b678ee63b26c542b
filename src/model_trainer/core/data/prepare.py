"""A run's data: its split, its tokenizer and its ids, each made once and then cached.

A run calls, in order: ``RunSource`` (resolves the paths, reads no text),
``start_tokenizer`` (a model folder's own, else ``run_tokenizer``'s: trained on the
training part, streamed, or read from the cache) and
``prepare_run_data`` (each part's ids, memory-mapped). A second run on the same source and
tokenizer reads every one of them from the cache.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypedDict

from torch import Tensor

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.model import ModelTrainConfig, TrainData
from model_trainer.core.contracts.tokenizer import TokenizerHandle, TokenizerKind
from model_trainer.core.contracts.typed_json import read_typed
from model_trainer.core.data.cache import (
    TokenFile,
    cache_root,
    cached_ids,
    encode_part,
    ids_dtype,
    locked,
    temporary,
    write_atomic,
)
from model_trainer.core.data.evict import keep_within, mark_used
from model_trainer.core.data.heal import (
    DAMAGED,
    ENTRY,
    Repairs,
    clear_scratch,
    damaged,
    discard,
    healed,
)
from model_trainer.core.data.source_options import refuse_unread
from model_trainer.core.data.sources import Source, digest, open_source
from model_trainer.core.data.split import Part, SplitSpec, plan_split, split_problem
from model_trainer.core.events.codec import Event
from model_trainer.core.events.job_events import make_progress_event
from model_trainer.core.tokenizers.io import (
    load_tokenizer,
    read_model_tokenizer,
    train_tokenizer_pieces,
)

Stage = Callable[[str, float], None]
"""Called with what is being done and the share of it done, 0 to 1."""


def quiet(stage: str, done: float) -> None:
    """A ``Stage`` that reports nowhere."""


def stage_events(emit: Callable[[Event], None], *, job_id: str, user_id: int) -> Stage:
    """A ``Stage`` that emits a ``trainer.job.progress`` event per whole percent done."""
    last: list[tuple[str, int]] = []

    def stage(what: str, done: float) -> None:
        now = (what, min(100, int(done * 100)))
        if last != [now]:
            last[:] = [now]
            emit(make_progress_event(job_id=job_id, user_id=user_id, progress=now[1], message=what))

    return stage


class RunData(TypedDict):
    """A run's ids and what was measured while making them.

    ``chars_per_token`` and ``snippet`` (the first characters) are the validation part's
    when there is one, else the training part's; ``built`` names the parts encoded by this
    call (none on a cache hit).
    """

    data: TrainData
    chars_per_token: float
    snippet: str
    built: list[str]


class RunSource:
    """A run's corpus and optional validation source, and their folder in the cache."""

    def __init__(self, cfg: ModelTrainConfig, settings: Settings) -> None:
        """Resolve ``cfg``'s ``corpus_path`` and ``val_path``; no text is read.

        Raises:
            ModelTrainerError: the errors of ``open_source`` and of ``refuse_unread``.
        """
        self.corpus = open_source(
            cfg["corpus_path"],
            field="corpus_path",
            text_field=cfg["text_field"],
            glob=cfg["glob"],
            split=cfg["dataset_split"],
        )
        val_path = cfg["val_path"]
        self.val: Source | None = (
            None
            if val_path is None
            else open_source(
                val_path,
                field="val_path",
                text_field=cfg["text_field"],
                glob=cfg["glob"],
                split=cfg["val_split"],
            )
        )
        refuse_unread(cfg, self.corpus, self.val)
        fraction = None if self.val is not None else cfg["val_fraction"]
        held = None if self.val is None else self.val.fingerprint
        self.fingerprint = digest([self.corpus.fingerprint, held, fraction])
        """The corpus, the validation source and the split, as one digest."""
        self.root = cache_root(settings)
        self.folder: Path = self.root / self.fingerprint
        self.val_fraction = cfg["val_fraction"]
        self.cap = settings["max_stream_chars"]
        self.cache_max_mb = settings["cache_max_mb"]
        self.repairs = Repairs()
        """Damaged cache entries rebuilt for this source, until a ``Stage`` is told of them."""

    def parts(self) -> tuple[Part, Part | None]:
        """The training and validation parts, the split planned once and then cached.

        A split record that cannot be read or contradicts the sources is planned again
        (``heal.healed``; told to ``repairs``).

        Raises:
            ModelTrainerError: the errors of ``plan_split`` (only when planning) and of
                ``heal.healed``.
        """
        path = self.folder / "split.json"

        def plan() -> None:
            discard(path)
            write_atomic(
                path, json.dumps(plan_split(self.corpus, self.val, self.val_fraction, self.cap))
            )

        with locked(self.folder, self.repairs):
            mark_used(self.folder)
            clear_scratch(self.folder)
            spec, _ = healed(
                path,
                present=path.exists(),
                read=lambda: self._read_split(path),
                build=plan,
                repairs=self.repairs,
            )
        held = spec["val"]
        val = None if held is None else Part(self.val or self.corpus, held)
        return Part(self.corpus, spec["train"]), val

    def _read_split(self, path: Path) -> SplitSpec:
        """The split record at ``path``, checked against the sources (no text read)."""
        if not path.is_file():
            raise damaged(path, "not a file")
        spec = read_typed(path, SplitSpec, where=f"{ENTRY} {str(path)!r}", code=DAMAGED)
        problem = split_problem(spec, self.corpus, self.val)
        if problem is not None:
            raise damaged(path, problem)
        return spec


def _pieces(part: Part, stage: Stage, what: str) -> Iterator[str]:
    """The text of ``part``'s documents as pieces, reporting the share read to ``stage``."""
    done = 0
    for document in part.documents():
        for piece in document:
            done += len(piece)
            stage(what, done / part.num_chars)
            yield piece


def run_tokenizer(
    source: RunSource, kind: TokenizerKind, vocab_size: int, stage: Stage = quiet
) -> TokenizerHandle:
    """The tokenizer of ``kind`` trained on ``source``'s training part (once; then cached).

    A cached file that does not load, or holds another kind, is trained again; the rebuilds
    of this source's entries so far are told to ``stage``.

    Raises:
        ModelTrainerError: the errors of ``RunSource.parts``, of tokenizer training and of
            ``heal.healed``.
    """
    train, _ = source.parts()
    path = source.folder / f"tokenizer-{kind}-{vocab_size}.json"

    def train_one() -> None:
        discard(path)
        pieces = _pieces(train, stage, f"training the {kind} tokenizer")
        scratch = temporary(path)
        train_tokenizer_pieces(kind, pieces, vocab_size).save(str(scratch))
        os.replace(scratch, path)

    with locked(source.folder, source.repairs):
        clear_scratch(source.folder)
        tokenizer, _ = healed(
            path,
            present=path.exists(),
            read=lambda: _read_tokenizer(path, kind),
            build=train_one,
            repairs=source.repairs,
        )
    source.repairs.report(stage)
    return tokenizer


def _read_tokenizer(path: Path, kind: TokenizerKind) -> TokenizerHandle:
    """The cached tokenizer at ``path``, which must load and be of ``kind``."""
    tokenizer = load_tokenizer(str(path))
    if tokenizer.kind != kind:
        raise damaged(path, f"holds a {tokenizer.kind} tokenizer, not a {kind} one")
    return tokenizer


def start_tokenizer(
    cfg: ModelTrainConfig, source: RunSource, stage: Stage = quiet
) -> TokenizerHandle:
    """The tokenizer a new run of ``cfg`` starts with.

    A start from a model folder (``init_from``) reads the folder's own, of the kind its
    family fixed (``resolve_start``); otherwise ``run_tokenizer``'s.

    Raises:
        ModelTrainerError: the errors of ``read_model_tokenizer`` or ``run_tokenizer``.
    """
    if cfg["init_from"]:
        return read_model_tokenizer(cfg["init_from"], cfg["tokenizer_kind"])
    return run_tokenizer(source, cfg["tokenizer_kind"], cfg["vocab_size"], stage)


def prepare_run_data(
    source: RunSource, tokenizer: TokenizerHandle, stage: Stage = quiet
) -> RunData:
    """Each part of ``source`` as ids of ``tokenizer``, encoded once, memory-mapped.

    Once new ids are built, the cache is trimmed to its size (``evict.keep_within``). A
    damaged ids file or record is encoded again (``cache.cached_ids``); the rebuilds of this
    source's entries so far are told to ``stage``.

    Raises:
        ModelTrainerError: the errors of ``RunSource.parts`` and of reading the source.
    """
    train, val = source.parts()
    folder = source.folder / tokenizer.tokenizer_id
    dtype = ids_dtype(tokenizer.vocab_size)
    built: list[str] = []

    def ids(name: str, part: Part) -> tuple[Tensor, TokenFile]:
        what = f"encoding the {name} split"
        tensor, record, fresh = cached_ids(
            folder,
            name,
            lambda out: encode_part(
                part,
                tokenizer,
                eos_id=tokenizer.eos_id,
                dtype=dtype,
                out=out,
                progress=lambda done: stage(what, done / part.num_chars),
            ),
            vocab_size=tokenizer.vocab_size,
            num_chars=part.num_chars,
            repairs=source.repairs,
        )
        if fresh:
            built.append(name)
        return tensor, record

    train_ids, record = ids("train", train)
    val_ids = None
    if val is not None:
        val_ids, record = ids("val", val)
    if built:
        keep_within(source.root, source.cache_max_mb, keep=source.folder)
    source.repairs.report(stage)
    return {
        "data": {"train_ids": train_ids, "val_ids": val_ids},
        "chars_per_token": record["num_chars"] / record["num_tokens"],
        "snippet": record["snippet"],
        "built": built,
    }


def load_run_data(cfg: ModelTrainConfig, settings: Settings, tokenizer: TokenizerHandle) -> RunData:
    """``prepare_run_data`` of ``cfg``'s source, reporting nowhere."""
    return prepare_run_data(RunSource(cfg, settings), tokenizer)
