import IPython.display
import pytest

from model_trainer.core.contracts.model import GenerateOutcome
from model_trainer.core.errors import ModelTrainerError
from model_trainer.notebook.generation_view import (
    StreamingGeneration,
    generation_html,
    prob_color,
)


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A display function with IPython's signature that keeps what it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, bool]] = []

    def __call__(self, obj: object, *, display_id: str | None = None, update: bool = False) -> None:
        assert isinstance(obj, IPython.display.HTML)
        self.calls.append((obj.data, display_id, update))


def _outcome() -> GenerateOutcome:
    return {
        "outputs": ["Hi <b>\n", ""],
        "sequences": [
            {
                "text": "Hi <b>\n",
                "stop_reason": "eos",
                "tokens": ["Hi", " <b>", "\n"],
                "token_probs": [1.0, 0.5, 0.0],
            },
            {"text": "", "stop_reason": "max_new_tokens", "tokens": [], "token_probs": []},
        ],
        "prompt_tokens": 2,
        "prompt_truncated": False,
    }


def test_prob_color_shades_unlikely_tokens() -> None:
    assert prob_color(1.0) == "rgba(215,48,39,0.00)"
    assert prob_color(0.5) == "rgba(215,48,39,0.42)"
    assert prob_color(0.0) == "rgba(215,48,39,0.85)"
    assert prob_color(1.5) == prob_color(1.0)
    assert prob_color(-0.5) == prob_color(0.0)


def test_each_sequence_shows_its_tokens_shaded_and_escaped() -> None:
    page = generation_html(_outcome(), prompt="<i>Say</i>", title="two <samples>")
    assert "<b>" not in page.replace("<b>#", "").replace("</b>", "")
    assert "<i>" not in page
    assert "two &lt;samples&gt;" in page
    assert '<span style="color:#777">&lt;i&gt;Say&lt;/i&gt;</span>' in page
    assert "#1 · stop: eos · 3 tokens · mean p 0.500" in page
    assert "#2 · stop: max_new_tokens · 0 tokens · mean p -" in page
    assert '<span style="background:rgba(215,48,39,0.42)" title="p = 0.5000"> &lt;b&gt;</span>' in (
        page
    )
    assert '<span style="background:rgba(215,48,39,0.85)" title="p = 0.0000">\u21b5<br></span>' in (
        page
    )
    assert "<script" not in page.lower()


def test_without_a_prompt_only_the_continuation_shows() -> None:
    assert "color:#777" not in generation_html(_outcome())


def test_a_sequence_needs_one_probability_per_token() -> None:
    outcome = _outcome()
    outcome["sequences"][0]["token_probs"] = [1.0]
    with pytest.raises(ModelTrainerError) as info:
        generation_html(outcome)
    assert info.value.code == "INVALID_CONFIG"
    assert info.value.message == "sequences[0] has 3 tokens but 1 token_probs"


def test_streaming_updates_one_display_at_most_once_per_interval() -> None:
    clock = Clock()
    recorder = Recorder()
    stream = StreamingGeneration(
        prompt="Q:", min_redraw_s=0.25, display=recorder, clock=clock, title="live"
    )
    stream.show()
    stream.on_token(0, "A", 0.9)
    stream.on_token(1, "<x>", 0.1)
    clock.now = 0.1
    stream.on_token(0, "B", 0.7)
    assert stream.redraws == 1
    clock.now = 0.3
    stream.on_token(0, "C", 0.5)
    assert stream.redraws == 2
    display_ids = {call[1] for call in recorder.calls}
    assert len(display_ids) == 1
    assert [call[2] for call in recorder.calls] == [False, True]
    page = recorder.calls[-1][0]
    assert "#1 · 3 tokens so far · mean p 0.700" in page
    assert "#2 · 1 tokens so far · mean p 0.100" in page
    assert "&lt;x&gt;" in page
    assert page.index("#1") < page.index("#2")
    assert page == stream.html()
    stream.finish(_outcome())
    assert recorder.calls[-1] == (
        generation_html(_outcome(), prompt="Q:", title="live"),
        recorder.calls[0][1],
        True,
    )
    stream.finish()
    assert recorder.calls[-1][0] == stream.html()
    assert stream.redraws == 4


def test_the_first_token_displays_the_view_when_show_was_not_called() -> None:
    recorder = Recorder()
    stream = StreamingGeneration(display=recorder, clock=Clock())
    stream.on_token(0, "x", 1.0)
    assert len(recorder.calls) == 1
    assert recorder.calls[0][2] is False
    assert "color:#777" not in recorder.calls[0][0]
