import re

import pytest

from model_trainer.core.contracts.model import CharScore, ScoreOutcome
from model_trainer.core.errors import ModelTrainerError
from model_trainer.notebook.scoring_view import (
    CompareView,
    ScoreView,
    compare_html,
    heatmap_html,
    scale_max,
    score_html,
    surprising_spans,
    visible,
    words,
)

XSS = "<script>alert(1)</script>"


def _outcome(text: str, bits: list[float], *, top_k: bool = True) -> ScoreOutcome:
    per_char: list[CharScore] = []
    for index, (char, cost) in enumerate(zip(text, bits, strict=True)):
        score: CharScore = {
            "char": char,
            "surprisal_bits": cost,
            "token_index": index,
            "rank": index + 1,
        }
        if top_k:
            score["top_k"] = [
                {"text": "e", "prob": 0.5},
                {"text": '<img src=x onerror="y">', "prob": 0.25},
            ]
        per_char.append(score)
    total = sum(bits)
    return {
        "loss": total / len(text) * 0.6931,
        "perplexity": 2.0 ** (total / len(text)),
        "bits_per_char": total / len(text),
        "num_tokens": len(text),
        "num_chars": len(text),
        "num_unknown_chars": 0,
        "canonical_bits": total,
        "per_char": per_char,
    }


def _costs(text: str) -> list[float]:
    return [float(index % 9) for index in range(len(text))]


def test_a_scored_script_is_shown_as_text_never_run() -> None:
    text = f"say {XSS} now"
    page = score_html(_outcome(text, _costs(text)), title=f"title {XSS}")
    lowered = page.lower()
    assert "<script" not in lowered
    assert "</script" not in lowered
    assert "<img" not in lowered
    assert 'onerror="' not in lowered
    assert "&lt;img src=x onerror=&quot;y&quot;&gt;" in page
    assert f"title {XSS}".replace("<", "&lt;").replace(">", "&gt;") in page
    shown = "".join(re.findall(r'">([^<]*)</span>', page))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "http" not in lowered
    assert "<style" not in lowered
    assert "<link" not in lowered


def test_each_character_is_a_shaded_span_with_its_alternatives() -> None:
    page = score_html(_outcome("ab", [0.0, 4.0]))
    first, second = re.findall(r"<span style=\"background:[^>]*>[^<]*</span>", page)
    assert first == (
        '<span style="background:rgb(255,255,255);color:#000" title="&#x27;a&#x27; 0.00 bits,'
        " rank 1&#10;expected: &#x27;e&#x27; 50.0%, &#x27;&lt;img src=x onerror=&quot;y&quot;"
        '&gt;&#x27; 25.0%">a</span>'
    )
    assert second.startswith('<span style="background:rgb(215,48,39);color:#fff"')
    assert "0 bits" in page
    assert "4 bits or more" in page
    assert "linear-gradient" in page
    assert "2.000 bits/char" in page


def test_no_alternatives_no_expected_line() -> None:
    page = score_html(_outcome("a", [1.0], top_k=False))
    assert 'title="&#x27;a&#x27; 1.00 bits, rank 1"' in page


def test_newlines_tabs_and_control_characters_are_visible() -> None:
    assert visible("a\nb\tc\x01\x7fd") == "a\u21b5b\u21e5c\u2401\u2421d"
    page = score_html(_outcome("a\nb", [1.0, 2.0, 3.0]))
    assert ">\u21b5</span><br>" in page


def test_a_fixed_scale_clamps_the_colour() -> None:
    page = score_html(_outcome("ab", [1.0, 30.0]), vmax=2.0)
    assert "2 bits or more" in page
    assert page.count("background:rgb(215,48,39)") == 1


def test_infinite_surprisal_is_the_deepest_colour() -> None:
    page = score_html(_outcome("ab", [1.0, float("inf")]))
    assert "1 bits or more" in page
    assert "background:rgb(215,48,39)" in page


def test_words_and_the_most_surprising_ones() -> None:
    text = " ab  cde f "
    scores = _outcome(text, [0.0, 1.0, 2.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0])["per_char"]
    assert words(scores) == [
        {"start": 1, "end": 3, "text": "ab", "bits": 3.0, "mean_bits": 1.5},
        {"start": 5, "end": 8, "text": "cde", "bits": 3.0, "mean_bits": 1.0},
        {"start": 9, "end": 10, "text": "f", "bits": 3.0, "mean_bits": 3.0},
    ]
    assert [span["text"] for span in surprising_spans(scores, 2)] == ["ab", "cde"]
    assert words(_outcome("  ", [1.0, 1.0])["per_char"]) == []
    assert words([]) == []


def test_the_span_list() -> None:
    page = score_html(_outcome("xy z", [5.0, 1.0, 0.0, 2.0]), num_spans=1)
    assert "<li><code>xy</code> 6.0 bits (3.00 bits/char), chars 0-2</li>" in page
    assert "<code>z</code>" not in page
    assert "no words to list" in score_html(_outcome(" ", [1.0]))


def test_a_summary_only_outcome_says_how_to_get_the_heatmap() -> None:
    outcome = _outcome("ab", [1.0, 1.0])
    del outcome["per_char"]
    page = score_html(outcome)
    assert "detail_level=&#x27;per_char&#x27;" in page
    assert "1.000 bits/char" in page
    assert "<span style" not in page


def test_compare_puts_two_models_side_by_side_and_their_difference() -> None:
    text = f"{XSS} ok"
    char_model = _outcome(text, [2.0] * len(text))
    bpe_model = _outcome(text, [2.0] * (len(text) - 2) + [0.0, 1.0])
    page = compare_html(char_model, bpe_model, labels=("char-lstm", "gpt2 <bpe>"))
    assert "<script" not in page.lower()
    assert "gpt2 &lt;bpe&gt;" in page
    assert "difference, gpt2 &lt;bpe&gt; minus char-lstm" in page
    assert f"{-3.0 / len(text):+.3f} bits/char" in page
    assert "<span>-2 bits</span>" in page
    assert "<span>+2 bits</span>" in page
    assert "background:rgb(33,102,172)" in page
    assert "char-lstm 2.00 bits, gpt2 &lt;bpe&gt; 0.00 bits, difference -2.00 bits" in page
    assert "difference -1.00 bits" in page
    assert (
        'words that moved most:</div><ol style="margin:4px 0"><li><code>ok</code> -3.0 bits' in page
    )
    assert page.count('style="flex:1;min-width:0"') == 2


def test_compare_refuses_different_texts_or_missing_scores() -> None:
    with pytest.raises(ModelTrainerError) as info:
        compare_html(_outcome("abc", [1.0] * 3), _outcome("abd", [1.0] * 3), labels=("m1", "m2"))
    assert info.value.code == "INVALID_CONFIG"
    assert info.value.message == (
        "per_char of 'm1' and 'm2' score different texts (3 and 3 chars, first 'abc' and 'abd')"
    )
    summary = _outcome("abc", [1.0] * 3)
    del summary["per_char"]
    with pytest.raises(ModelTrainerError) as missing:
        compare_html(_outcome("abc", [1.0] * 3), summary)
    assert missing.value.message == (
        "per_char of 'B' is missing: score with detail_level='per_char'"
    )


def test_views_display_as_html() -> None:
    outcome = _outcome("ab", [1.0, 2.0])
    view = ScoreView(outcome, title="t")
    assert view._repr_html_() == score_html(outcome, title="t") == view.html()
    other = _outcome("ab", [2.0, 2.0])
    both = CompareView(outcome, other, labels=("x", "y"), title="c")
    assert both._repr_html_() == compare_html(outcome, other, labels=("x", "y"), title="c")


def test_a_heatmap_frames_the_marked_characters_under_its_scale() -> None:
    text = "ab\ncd <e>"
    scores = _outcome(text, [0.5, 1.5, 0.0, 2.2, 9.0, 0.1, 3.0, 1.0, 0.0])["per_char"]
    assert scale_max(scores) == 9.0
    page = heatmap_html(scores, mark=(3, 7))
    assert "9 bits or more" in page
    framed = re.findall(r'<span style="outline:[^"]*">(.*?)</span></span><span', page)
    assert len(framed) == 1
    assert re.findall(r">([^<]*)</span>", framed[0] + "</span>") == ["c", "d", " ", "&lt;"]
    assert "4 bits or more" in heatmap_html(scores, vmax=4.0)
    assert "outline:" not in heatmap_html(scores, vmax=4.0)
