"""A model whose weights are NaN is refused by name in score and generate, not scored as nan."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from model_trainer import api
from model_trainer.cli import main
from model_trainer.core.data.corpus import builtin_text
from model_trainer.core.errors import ModelTrainerError

ADVICE = (
    "so all it would score, sample or evaluate is NaN; train it again (a lower learning_rate, "
    "grad_clip), or use the weights of its best checkpoint (which='best')"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A runs folder with one completed run whose saved weights were then set to NaN."""
    root = tmp_path_factory.mktemp("nan")
    corpus = root / "corpus.txt"
    corpus.write_text(builtin_text()[:4000], encoding="utf-8")
    runs = str(root / "runs")
    api.train(
        model_family="char_lstm",
        model_size="tiny",
        corpus_path=str(corpus),
        num_epochs=1,
        max_seq_len=16,
        batch_size=8,
        max_steps_per_epoch=2,
        warmup_steps=1,
        device="cpu",
        run_id="nan",
        runs_dir=runs,
        show=False,
    ).result()
    (weights,) = (Path(runs) / "nan" / "model").glob("*.safetensors")
    tensors = load_file(str(weights))
    first = sorted(tensors)[0]
    tensors[first] = tensors[first].fill_(float("nan"))
    save_file(tensors, str(weights))
    return runs


def test_score_and_generate_refuse_nan_weights(runs: str) -> None:
    for call in (
        lambda: api.score("nan", text="some text", runs_dir=runs),
        lambda: api.generate("nan", prompt_text="some", max_new_tokens=3, runs_dir=runs),
    ):
        with pytest.raises(ModelTrainerError) as info:
            call()
        assert info.value.code == "MODEL_LOAD_FAILED"
        assert info.value.message.startswith(
            "the model of run 'nan' has NaN or infinite weights (1 of "
        )
        assert info.value.message.endswith(ADVICE)


def test_a_model_in_hand_is_named_by_family(runs: str) -> None:
    prepared = api.load_run("nan", runs_dir=runs)
    with pytest.raises(ModelTrainerError) as info:
        api.score(prepared, text="some text")
    assert info.value.message.startswith("the char_lstm model has NaN or infinite weights")


def test_the_command_line_says_so_in_one_line(
    runs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["score", "nan", "--text", "some text", "--runs-dir", runs],
        ["generate", "nan", "--prompt", "some", "--max-new-tokens", "3", "--runs-dir", runs],
    ):
        assert main(argv) == 1
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(
            "error[MODEL_LOAD_FAILED]: the model of run 'nan' (last) has NaN or infinite weights"
        )
