"""Contracts shared by every backend: configs, outcomes, the prepared model and the backend.

Configs and outcomes are TypedDicts (plain data, JSON-ready). Models, tokenizers and
backends are Protocols, so any architecture that fits them plugs in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Literal, NotRequired, Protocol, Self, TypedDict, runtime_checkable

from torch import Tensor, device
from torch.nn import Parameter

from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.tokenizer import Encoder, TokenizerHandle, TokenizerKind

DeviceName = str
"""``auto``, ``cpu``, ``cuda``, ``mps``, or ``cuda:N`` (the CUDA device of index N).

A string rather than a ``Literal`` so that ``cuda:1`` passes the CLI flag and JSON as it is;
``check_device`` (``validators.py``) is the rule.
"""
Precision = Literal["auto", "fp32", "bf16"]
CompileChoice = Literal[True, False, "auto"]
LossUnit = Literal["token", "char"]
DetailLevel = Literal["summary", "per_char", "per_word"]
Attribution = Literal["char_probability", "even_spread"]
"""How a token model's surprisal reaches characters: each character's own probability under
the model's distribution over strings, or the token's surprisal shared evenly."""
StopReason = Literal["max_new_tokens", "eos", "stop_sequence", "context_full"]
TrainStop = Literal["completed", "early_stopping", "cancelled"]
"""Why a run ended: all its epochs, early stopping, or a Stop."""
TokenCallback = Callable[[int, str, float], None]
"""``on_token(sequence_index, token_text, prob)``, called for every sampled token."""


class ModelTrainConfig(TypedDict):
    """Everything one training run needs; ``validate_model_train_config`` checks it."""

    model_family: str
    model_size: str
    corpus_path: str
    tokenizer_kind: TokenizerKind
    vocab_size: int
    max_seq_len: int
    num_epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_steps: int
    grad_clip: float
    grad_accum_steps: int
    val_fraction: float
    eval_every_steps: int
    checkpoint_every_steps: int
    max_steps_per_epoch: int
    seed: int
    watch_learning: bool
    sample_every_steps: int
    probe_text: str
    device: DeviceName
    precision: Precision
    compile: CompileChoice
    eval_max_tokens: int
    epoch_eval_max_tokens: int
    early_stopping_patience: int
    early_stopping_min_delta: float
    text_field: str
    glob: str
    val_path: str | None
    dataset_split: str
    val_split: str
    init_from: str
    gradient_checkpointing: bool
    lora_rank: int


class ScoreConfig(TypedDict):
    """What to score: exactly one of ``text`` or ``path``."""

    text: str | None
    path: str | None
    detail_level: DetailLevel
    top_k: int | None
    seed: int | None
    attribution: Attribution
    beam: int
    word_pattern: str


class GenerateConfig(TypedDict):
    """How to sample: exactly one of ``prompt_text`` or ``prompt_path``."""

    prompt_text: str | None
    prompt_path: str | None
    max_new_tokens: int
    temperature: float
    top_k: int
    top_p: float
    num_return_sequences: int
    seed: int | None
    stop_sequences: list[str]


class TrainOutcome(TypedDict):
    """The end of a training run (also of a cancelled one)."""

    loss: float
    perplexity: float
    val_loss: float | None
    val_perplexity: float | None
    loss_unit: LossUnit
    steps: int
    epochs_completed: int
    tokens_per_second: float
    out_dir: str
    cancelled: bool
    stop_reason: TrainStop


class EvalOutcome(TypedDict):
    """Validation figures of a model on its run's validation split."""

    loss: float
    perplexity: float
    bits_per_char: float
    num_tokens: int
    num_chars: int
    loss_unit: LossUnit


class TopKItem(TypedDict):
    """One alternative the model expected, with its probability."""

    text: str
    prob: float


class CharScore(TypedDict):
    """One character of a scored text.

    ``surprisal_bits`` is ``-log2 P(char | text before it)``. ``token_index`` is the token
    holding the character, and ``rank`` that token's rank in its next-token distribution
    (1 = the argmax): a token's figure, the same for each of its characters. ``top_k``
    lists the characters the model expected there, the text's own among them when it is
    likely enough; inside a token, the tokens that end exactly before this character are
    not listed (what follows them needs another forward pass), so the list sums to less.
    """

    char: str
    surprisal_bits: float
    token_index: int
    rank: int
    top_k: NotRequired[list[TopKItem]]


class WordScore(TypedDict):
    """One word of a scored text, characters ``[start, end)``.

    ``surprisal_bits`` is the sum of its characters' surprisals plus ``end_bits``,
    ``-log2 P(the word ends where it ends)``.
    """

    word: str
    start: int
    end: int
    surprisal_bits: float
    end_bits: float


class ScoreOutcome(TypedDict):
    """Scores of a text; ``per_char`` or ``per_word`` with that ``detail_level``.

    ``canonical_bits`` is the surprisal of the text's one canonical tokenization (the
    tokens the tokenizer makes; ``loss``, ``perplexity`` and ``bits_per_char`` are read
    from it). ``char_bits``, present with per-character detail, is ``-log2`` of the
    probability that the model's text begins with this text, summed over the token
    sequences that spell it (the sum of the characters' surprisals): at most
    ``canonical_bits``, and equal to it for a character model.
    """

    loss: float
    perplexity: float
    bits_per_char: float
    canonical_bits: float
    char_bits: NotRequired[float]
    num_tokens: int
    num_chars: int
    num_unknown_chars: int
    per_char: NotRequired[Sequence[CharScore]]
    per_word: NotRequired[list[WordScore]]


class GeneratedSequence(TypedDict):
    """One sampled continuation."""

    text: str
    stop_reason: StopReason
    tokens: list[str]
    token_probs: list[float]


class GenerateOutcome(TypedDict):
    """Sampled continuations; ``outputs[i] == sequences[i]["text"]`` (prompt excluded)."""

    outputs: list[str]
    sequences: list[GeneratedSequence]
    prompt_tokens: int
    prompt_truncated: bool


class ModelArtifact(TypedDict):
    """A saved model folder."""

    path: str
    model_family: str
    model_size: str
    tokenizer_path: str


class LMModelProto(Protocol):
    """A causal language model: token ids ``(B, T)`` in, logits ``(B, T, vocab)`` out."""

    @property
    def training(self) -> bool:
        """Whether it is in training mode."""
        ...

    def __call__(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Return the logits of the next token at every position."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Yield the trainable parameters."""
        ...

    def train(self, mode: bool = True) -> Self:
        """Switch to training mode."""
        ...

    def eval(self) -> Self:
        """Switch to evaluation mode."""
        ...

    def to(self, device: str | device) -> Self:
        """Move to ``device``."""
        ...

    def state_dict(self) -> Mapping[str, Tensor]:
        """Return the weights by name."""
        ...

    def load_state_dict(self, state_dict: Mapping[str, Tensor]) -> object:
        """Replace the weights."""
        ...


class PreparedLMModel(TypedDict):
    """A model with its tokenizer, ready for training or inference."""

    model: LMModelProto
    model_family: str
    model_size: str
    tokenizer: TokenizerHandle
    tokenizer_id: str
    eos_id: int
    pad_id: int
    max_seq_len: int
    tok_for_dataset: Encoder
    device: str
    start_id: NotRequired[int]
    """The id a text is read after when scored or sampled (absent: ``eos_id``)."""


BatchForward = Callable[[PreparedLMModel, Tensor], Tensor]
"""The logits (B, T, V) of right-padded token ids (B, T), every row as if read alone."""


class BackendCapabilities(TypedDict):
    """What a backend can do, known without building it."""

    supports_train: bool
    supports_evaluate: bool
    supports_score: bool
    supports_generate: bool
    supports_distributed: bool
    supported_sizes: tuple[str, ...]


class EpochMetrics(TypedDict):
    """Figures at the end of one epoch; losses in nats per token."""

    epoch: int
    global_step: int
    steps: int
    elapsed_s: float
    loss: float
    perplexity: float
    val_loss: float | None
    val_perplexity: float | None
    tokens_per_second: float
    learning_rate: float


class Reading(TypedDict):
    """A progress reading of the training loss, with the figures of the same moment."""

    step: int
    epoch: int
    loss: float
    learning_rate: float
    tokens: int


class TrainData(TypedDict):
    """A run's corpus, encoded once: the training ids and the validation ids, if any.

    The ids may be of any integer dtype (a memory-mapped ``uint16`` or ``uint32`` token
    file); batches are gathered from them as ``int64``.
    """

    train_ids: Tensor  # (N,)
    val_ids: Tensor | None  # (M,)


class TrainRun(TypedDict):
    """Where a run lives and its encoded data: what the kit's loop trains on."""

    run_dir: str
    resume: bool
    data: TrainData
    settings: Settings


class TrainingCallbacks(TypedDict):
    """What a family's ``train`` is handed: the spec's hooks, and the run it trains.

    The spec's three are required: ``heartbeat(now)`` and ``progress(step, epoch, loss)``
    (the spec's arguments: batches done in the epoch, the 0-based epoch, the mean loss since
    the last reading) are called when a reading is due (the loss is read back only then),
    ``cancelled()`` before each optimizer update. The rest are optional: ``reading`` gets
    the same reading with its learning rate (read from the scheduler) and the tokens
    trained since the last one, over every rank; ``epoch_end`` gets each epoch's metrics
    after its checkpoint is written; ``evaluated(step, val_loss)`` gets each validation run
    every ``eval_every_steps`` steps; ``evaluating(what, done)`` hears how far an epoch's
    closing validation is (``done`` from 0 to 1) once it has run ``eval_quiet_s``;
    ``updated(step, epoch)`` hears each optimizer update inside an epoch (not an epoch's last;
    its time is left out of the training time). ``run``
    is the run folder and the corpus the job encoded; a job always passes it, and the kit's
    loop (``run_training``) needs it.
    """

    heartbeat: Callable[[float], None]
    cancelled: Callable[[], bool]
    progress: Callable[[int, int, float], None] | None
    reading: NotRequired[Callable[[Reading], None]]
    epoch_end: NotRequired[Callable[[EpochMetrics], None] | None]
    evaluated: NotRequired[Callable[[int, float], None]]
    evaluating: NotRequired[Callable[[str, float], None]]
    updated: NotRequired[Callable[[int, int], None]]
    run: NotRequired[TrainRun]


@runtime_checkable
class ModelBackend(Protocol):
    """One model family: build, train, evaluate, score, sample, save and load."""

    def name(self) -> str:
        """The family name the registry knows it by."""
        ...

    def capabilities(self) -> BackendCapabilities:
        """What this backend supports."""
        ...

    def prepare(
        self, cfg: ModelTrainConfig, settings: Settings, *, tokenizer: TokenizerHandle
    ) -> PreparedLMModel:
        """Build a fresh model for ``cfg`` around ``tokenizer``."""
        ...

    def train(
        self, cfg: ModelTrainConfig, *, prepared: PreparedLMModel, callbacks: TrainingCallbacks
    ) -> TrainOutcome:
        """Train ``prepared`` in place, checkpointing into ``callbacks["run"]``'s folder."""
        ...

    def evaluate(self, *, run_dir: str, cfg: ModelTrainConfig, settings: Settings) -> EvalOutcome:
        """Evaluate the run's saved model on its validation split."""
        ...

    def score(
        self, *, prepared: PreparedLMModel, cfg: ScoreConfig, settings: Settings
    ) -> ScoreOutcome:
        """Score a text."""
        ...

    def generate(
        self,
        *,
        prepared: PreparedLMModel,
        cfg: GenerateConfig,
        settings: Settings,
        on_token: TokenCallback | None = None,
    ) -> GenerateOutcome:
        """Sample continuations of a prompt, calling ``on_token`` for each sampled token."""
        ...

    def save(self, prepared: PreparedLMModel, out_dir: str) -> ModelArtifact:
        """Write the model and its tokenizer to ``out_dir``."""
        ...

    def load(
        self, artifact_path: str, settings: Settings, *, tokenizer: TokenizerHandle
    ) -> PreparedLMModel:
        """Read a model folder written by ``save``, whose tokenizer is ``tokenizer``."""
        ...

    def load_source(self, source: str, options: LoadOptions) -> PreparedLMModel:
        """Load the model ``source`` names (a folder, or a model id in a local cache)."""
        ...

    def batch_forward(self) -> BatchForward | None:
        """The family's batched forward, or None when it scores one text a pass."""
        ...


class LoadOptions(TypedDict):
    """How to load a pretrained model: device, weight precision, downloads, scoring window."""

    device: DeviceName
    dtype: Precision
    local_files_only: bool
    max_seq_len: int | None
