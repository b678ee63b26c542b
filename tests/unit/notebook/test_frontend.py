from types import SimpleNamespace

import IPython.display
import pytest

from model_trainer.core.errors import ModelTrainerError
from model_trainer.notebook.frontend import (
    CONSOLE_ENV,
    choose_notebook,
    console_forced,
    html_output,
    in_notebook,
    kernel_attached,
    png_output,
)


def test_a_kernel_is_attached_only_to_a_shell_with_one() -> None:
    assert not kernel_attached(None)
    assert not kernel_attached(object())
    assert not kernel_attached(SimpleNamespace(kernel=None))
    assert kernel_attached(SimpleNamespace(kernel=object()))


def test_the_environment_forces_the_console_with_1() -> None:
    assert not console_forced({})
    assert not console_forced({CONSOLE_ENV: ""})
    assert not console_forced({CONSOLE_ENV: "0"})
    assert console_forced({CONSOLE_ENV: "1"})
    assert console_forced({CONSOLE_ENV: " 1\n"})


def test_any_other_value_is_refused() -> None:
    with pytest.raises(ModelTrainerError) as info:
        console_forced({CONSOLE_ENV: "yes"})
    assert info.value.code == "INVALID_CONFIG"
    assert info.value.message == "MODEL_TRAINER_CONSOLE must be 0 or 1, got 'yes'"


@pytest.mark.parametrize(
    ("kernel", "value", "expected"),
    [(True, "0", True), (True, "1", False), (False, "0", False), (False, "1", False)],
)
def test_widgets_need_a_kernel_and_no_console_override(
    kernel: bool, value: str, expected: bool
) -> None:
    assert choose_notebook(kernel=kernel, environ={CONSOLE_ENV: value}) is expected


def test_a_test_process_is_not_a_notebook() -> None:
    assert not in_notebook({})
    assert not in_notebook({CONSOLE_ENV: "1"})
    assert not in_notebook()


def test_outputs_are_ipython_rich_objects() -> None:
    page = html_output("<b>x</b>")
    assert isinstance(page, IPython.display.HTML)
    assert page.data == "<b>x</b>"
    picture = png_output(b"\x89PNG\r\n\x1a\nrest")
    assert isinstance(picture, IPython.display.Image)
    assert picture.data == b"\x89PNG\r\n\x1a\nrest"
    assert picture.format == "png"
