from collections.abc import Callable

import pytest

from model_trainer.core.backends.registry import default_registry
from model_trainer.core.contracts.defaults import (
    generate_config,
    score_config,
    train_config,
    train_config_from_json,
    train_config_from_mapping,
)
from model_trainer.core.contracts.model import GenerateConfig, ModelTrainConfig, ScoreConfig
from model_trainer.core.contracts.validators import (
    validate_generate_config,
    validate_model_train_config,
    validate_score_config,
)
from model_trainer.core.errors import ConfigError, ModelTrainerError

BAD_TRAIN: list[tuple[str, object]] = [
    ("corpus_path", ""),
    ("tokenizer_kind", "word"),
    ("vocab_size", 0),
    ("max_seq_len", 0),
    ("num_epochs", 0),
    ("batch_size", -3),
    ("batch_size", True),
    ("batch_size", 2.5),
    ("learning_rate", 0.0),
    ("learning_rate", float("nan")),
    ("learning_rate", "fast"),
    ("weight_decay", -0.1),
    ("weight_decay", "none"),
    ("warmup_steps", -1),
    ("grad_clip", float("inf")),
    ("grad_accum_steps", 0),
    ("val_fraction", 1.0),
    ("val_fraction", -0.5),
    ("val_fraction", "tenth"),
    ("eval_every_steps", -1),
    ("checkpoint_every_steps", -1),
    ("max_steps_per_epoch", -1),
    ("seed", -1),
    ("seed", 10**24),
    ("seed", 2**32),
    ("batch_size", 10**20),
    ("max_seq_len", 2**20 + 1),
    ("vocab_size", 10**8),
    ("grad_accum_steps", 2**20 + 1),
    ("num_epochs", 2**40 + 1),
    ("max_steps_per_epoch", 10**30),
    ("device", "tpu"),
    ("device", "gpu"),
    ("device", "cuda:"),
    ("device", "cuda:-1"),
    ("device", "cuda:x"),
    ("device", "cuda:01"),
    ("device", 0),
    ("precision", "fp8"),
    ("compile", "yes"),
    ("eval_max_tokens", -1),
    ("epoch_eval_max_tokens", -1),
    ("text_field", ""),
    ("glob", ""),
    ("dataset_split", ""),
    ("val_split", ""),
    ("val_path", ""),
]


@pytest.mark.parametrize(("field", "value"), BAD_TRAIN)
def test_train_validator_names_field_and_value(field: str, value: object) -> None:
    cfg = train_config()
    raw: dict[str, object] = dict(cfg)
    raw[field] = value
    with pytest.raises(ModelTrainerError) as info:
        validate_model_train_config(_as_train(raw))
    assert info.value.code == "INVALID_CONFIG"
    assert info.value.message.startswith(field)
    assert repr(value) in info.value.message


def _as_train(raw: dict[str, object]) -> ModelTrainConfig:
    # JSON-like input goes through the strict overlay with the bad value put back after.
    cfg = train_config()
    for key, value in raw.items():
        cfg.__setitem__(key, value)
    return cfg


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "mps", "cuda:0", "cuda:12"])
def test_a_device_is_a_kind_or_a_cuda_index(device: str) -> None:
    assert train_config(device=device)["device"] == device


def test_bpe_needs_a_byte_vocabulary() -> None:
    with pytest.raises(ModelTrainerError, match="vocab_size must be an integer >= 260, got 100"):
        train_config(tokenizer_kind="bpe", vocab_size=100)
    assert train_config(tokenizer_kind="bpe", vocab_size=260)["vocab_size"] == 260


def test_size_checked_against_capabilities() -> None:
    caps = default_registry.get_capabilities("gpt2")
    validate_model_train_config(train_config(model_family="gpt2", model_size="small"), caps)
    with pytest.raises(ModelTrainerError) as info:
        validate_model_train_config(train_config(model_family="gpt2", model_size="huge"), caps)
    assert info.value.code == "INVALID_MODEL_SIZE"
    assert "'huge'" in info.value.message
    assert "tiny, small, medium, gpt2" in info.value.message


def test_defaults_validate() -> None:
    cfg = train_config()
    validate_model_train_config(cfg)
    assert cfg["corpus_path"] == "builtin:python-docs"
    assert cfg["model_family"] == "char_lstm"


def test_json_overlay_is_strict() -> None:
    cfg = train_config_from_json(
        '{"model_family": "gpt2", "model_size": "tiny", "num_epochs": 2,'
        ' "learning_rate": 1, "device": "cpu", "precision": "bf16",'
        ' "tokenizer_kind": "bpe", "vocab_size": 300, "compile": true}'
    )
    assert cfg["model_family"] == "gpt2"
    assert cfg["num_epochs"] == 2
    assert cfg["learning_rate"] == 1.0
    assert isinstance(cfg["learning_rate"], float)
    assert (cfg["device"], cfg["precision"], cfg["compile"]) == ("cpu", "bf16", True)
    base = train_config(num_epochs=7)
    assert train_config_from_mapping({"seed": 3}, base)["num_epochs"] == 7


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", "config: not JSON"),
        ("[1]", "config: must hold a JSON object, got list"),
        ('{"epochs": 3}', "config: has unknown field(s) epochs"),
        ('{"num_epochs": "3"}', "num_epochs must be an integer, got '3'"),
        ('{"num_epochs": true}', "num_epochs must be an integer, got True"),
        ('{"learning_rate": "fast"}', "learning_rate must be a number, got 'fast'"),
        ('{"learning_rate": false}', "learning_rate must be a number, got False"),
        ('{"model_size": 3}', "model_size must be a string, got 3"),
        ('{"device": "tpu"}', "device must be one of auto, cpu, cuda, mps, or cuda:N"),
        ('{"device": "cuda:x"}', "(N a device index), got 'cuda:x'"),
        ('{"device": 1}', "device must be a string, got 1"),
        ('{"precision": "fp8"}', "precision must be one of auto, fp32, bf16, got 'fp8'"),
        ('{"tokenizer_kind": "word"}', "tokenizer_kind must be one of char, bpe"),
        ('{"compile": 1}', "compile must be one of True, False, auto, got 1"),
        ('{"num_epochs": 0}', "num_epochs must be an integer >= 1, got 0"),
    ],
)
def test_json_overlay_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ModelTrainerError) as info:
        train_config_from_json(text)
    assert info.value.code == "INVALID_CONFIG"
    assert fragment in info.value.message


def test_score_config_rules() -> None:
    assert score_config(text="abc")["detail_level"] == "summary"
    assert score_config(path="x.txt", detail_level="per_char", top_k=3, seed=1)["top_k"] == 3
    cases: list[tuple[ScoreConfig, str]] = [
        (_score(text=None, path=None), "requires either text or path"),
        (_score(text="a", path="b"), "not both (path='b')"),
        (_score(text=""), "text must be a non-empty string, got ''"),
        (_score(text="a", top_k=0), "top_k must be an integer >= 1, got 0"),
        (_score(text="a", seed=-2), "seed must be an integer >= 0, got -2"),
        (_score(text="a", beam=0), "beam must be an integer >= 1, got 0"),
        (_score(text="a", beam=65), "beam must be an integer in [1, 64], got 65"),
        (
            _score(text="a", seed=10**24),
            f"seed must be an integer in [0, 4_294_967_295], got {10**24}",
        ),
        (_score(text="a", top_k=2**21), "top_k must be an integer in [1, 1_048_576], got 2097152"),
    ]
    for cfg, fragment in cases:
        with pytest.raises(ModelTrainerError) as info:
            validate_score_config(cfg)
        assert info.value.code == "INVALID_CONFIG"
        assert fragment in info.value.message
    bad_level = _score(text="a")
    bad_level.__setitem__("detail_level", "all")
    with pytest.raises(ModelTrainerError, match="detail_level must be one of summary, per_char"):
        validate_score_config(bad_level)
    bad_attribution = _score(text="a")
    bad_attribution.__setitem__("attribution", "even")
    with pytest.raises(ModelTrainerError, match="one of char_probability, even_spread"):
        validate_score_config(bad_attribution)


def _score(
    *,
    text: str | None = None,
    path: str | None = None,
    top_k: int | None = None,
    seed: int = 0,
    beam: int = 1,
) -> ScoreConfig:
    return {
        "text": text,
        "path": path,
        "detail_level": "summary",
        "top_k": top_k,
        "seed": seed,
        "attribution": "char_probability",
        "beam": beam,
        "word_pattern": r"\w+",
    }


def _gen(**changes: object) -> GenerateConfig:
    cfg = generate_config(prompt_text="def ")
    for key, value in changes.items():
        cfg.__setitem__(key, value)
    return cfg


def test_generate_config_rules() -> None:
    cfg = generate_config(prompt_text="x", stop_sequences=["\n\n"])
    assert cfg["stop_sequences"] == ["\n\n"]
    assert generate_config(prompt_path="p.txt", seed=None)["seed"] is None
    cases: list[tuple[GenerateConfig, str]] = [
        (_gen(prompt_text=None), "requires either prompt_text or prompt_path"),
        (_gen(prompt_path="p.txt"), "not both (prompt_path='p.txt')"),
        (_gen(max_new_tokens=0), "max_new_tokens must be an integer >= 1, got 0"),
        (_gen(temperature=0.0), "temperature must be a finite number > 0, got 0.0"),
        (_gen(top_k=0), "top_k must be an integer >= 1, got 0"),
        (_gen(top_p=0.0), "top_p must be in (0, 1], got 0.0"),
        (_gen(top_p=1.5), "top_p must be in (0, 1], got 1.5"),
        (_gen(top_p="all"), "top_p must be in (0, 1], got 'all'"),
        (_gen(num_return_sequences=0), "num_return_sequences must be an integer >= 1, got 0"),
        (_gen(seed=-1), "seed must be an integer >= 0, got -1"),
        (_gen(seed=2**32), "seed must be an integer in [0, 4_294_967_295], got 4294967296"),
        (_gen(top_k=2**21), "top_k must be an integer in [1, 1_048_576], got 2097152"),
        (_gen(num_return_sequences=2**21), "num_return_sequences must be an integer in [1, "),
        (_gen(stop_sequences=[""]), "stop_sequences must be a list of non-empty strings"),
    ]
    for bad, fragment in cases:
        with pytest.raises(ModelTrainerError) as info:
            validate_generate_config(bad)
        assert info.value.code == "INVALID_CONFIG"
        assert fragment in info.value.message


def _bad_train() -> None:
    train_config(num_epochs=0)


def _bad_train_json() -> None:
    train_config_from_json('{"epochs": 3}')


def _bad_size() -> None:
    caps = default_registry.get_capabilities("gpt2")
    validate_model_train_config(train_config(model_family="gpt2", model_size="huge"), caps)


def _bad_score() -> None:
    score_config(text="a", path="b")


def _bad_generate() -> None:
    generate_config(prompt_text="x", top_p=1.5)


@pytest.mark.parametrize(
    ("build", "code", "fragment"),
    [
        (_bad_train, "INVALID_CONFIG", "num_epochs must be an integer >= 1, got 0"),
        (_bad_train_json, "INVALID_CONFIG", "has unknown field(s) epochs"),
        (_bad_size, "INVALID_MODEL_SIZE", "model_size 'huge' is not a size of gpt2"),
        (_bad_score, "INVALID_CONFIG", "not both (path='b')"),
        (_bad_generate, "INVALID_CONFIG", "top_p must be in (0, 1], got 1.5"),
    ],
)
def test_except_value_error_catches_a_bad_config(
    build: Callable[[], None], code: str, fragment: str
) -> None:
    caught: ValueError | None = None
    try:
        build()
    except ValueError as exc:
        caught = exc
    assert isinstance(caught, ConfigError)
    assert isinstance(caught, ModelTrainerError)
    assert caught.code == code
    assert fragment in caught.message
