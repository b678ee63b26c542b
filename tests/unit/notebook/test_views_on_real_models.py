"""The views on outcomes of real (tiny, untrained) models: a char-LSTM and a GPT-2."""

import IPython.display

from model_trainer.core.backends.dispatch import generate, score
from model_trainer.core.backends.registry import default_registry
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.defaults import generate_config, score_config, train_config
from model_trainer.core.tokenizers.bpe import BPETokenizer
from model_trainer.core.tokenizers.char import CharTokenizer
from model_trainer.notebook.generation_view import StreamingGeneration, generation_html
from model_trainer.notebook.scoring_view import compare_html, score_html

TEXT = "Scores of <script>alert(1)</script> & 'quotes'\n\tend."
CORPUS = TEXT * 3 + "the quick brown fox jumps over the lazy dog\n" * 20


def test_a_char_lstm_and_a_gpt2_compared_on_the_same_characters(settings: Settings) -> None:
    char_tok = CharTokenizer.from_text(CORPUS)
    bpe_tok = BPETokenizer.train(CORPUS, 300)
    char_cfg = train_config(
        model_family="char_lstm",
        model_size="tiny",
        tokenizer_kind="char",
        vocab_size=char_tok.vocab_size,
        max_seq_len=32,
        device="cpu",
    )
    gpt2_cfg = train_config(
        model_family="gpt2",
        model_size="tiny",
        tokenizer_kind="bpe",
        vocab_size=bpe_tok.vocab_size,
        max_seq_len=32,
        device="cpu",
    )
    char_model = default_registry.get("char_lstm").prepare(char_cfg, settings, tokenizer=char_tok)
    gpt2_model = default_registry.get("gpt2").prepare(gpt2_cfg, settings, tokenizer=bpe_tok)
    cfg = score_config(text=TEXT, detail_level="per_char", top_k=3)
    by_char = score(char_model, cfg, settings)
    by_bpe = score(gpt2_model, cfg, settings)

    single = score_html(by_char)
    assert "<script" not in single.lower()
    assert single.count('<span style="background:') == len(TEXT)
    assert "expected: " in single
    page = compare_html(by_char, by_bpe, labels=("char-lstm", "gpt2"))
    assert "<script" not in page.lower()
    assert page.count('<span style="background:') == 3 * len(TEXT)
    assert "\u21b5</span><br>" in page

    stream = StreamingGeneration(prompt="Sc", min_redraw_s=0.0, display=_html_only)
    outcome = generate(
        gpt2_model,
        generate_config(prompt_text="Sc", max_new_tokens=6, num_return_sequences=2, seed=3),
        settings,
        on_token=stream.on_token,
    )
    assert stream.redraws == sum(len(seq["tokens"]) for seq in outcome["sequences"])
    stream.finish(outcome)
    assert generation_html(outcome).count('title="p = ') == stream.redraws - 1


def _html_only(obj: object, *, display_id: str | None = None, update: bool = False) -> None:
    assert isinstance(obj, IPython.display.HTML)
    assert display_id is not None
