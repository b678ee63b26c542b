"""Whether a notebook front end is there, and typed access to IPython's display system.

The choice is made once, by ``in_notebook``: widgets only where an IPython kernel serves a
front end, and never when ``MODEL_TRAINER_CONSOLE=1`` (as in CI, where a kernel runs the
notebooks with nobody watching). Outside a kernel IPython's ``display`` prints the ``repr``
of what it is given, so nothing waits on a front end that is not there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, Protocol

import IPython
import IPython.display

from model_trainer.core.errors import ModelTrainerError

CONSOLE_ENV: Final = "MODEL_TRAINER_CONSOLE"


class DisplayFn(Protocol):
    """IPython's ``display`` as the views use it: show ``obj``, or update a display by id."""

    def __call__(self, obj: object, *, display_id: str | None = None, update: bool = False) -> None:
        """Show ``obj`` as a new output (``update=False``) or replace the one with the id."""
        ...


class _HtmlFactory(Protocol):
    def __call__(self, data: str) -> object: ...


class _ImageFactory(Protocol):
    def __call__(self, *, data: bytes, format: str) -> object: ...


class _ShellGetter(Protocol):
    def __call__(self) -> object | None: ...


ipython_display: DisplayFn = IPython.display.display
_html: _HtmlFactory = IPython.display.HTML
_image: _ImageFactory = IPython.display.Image
_get_shell: _ShellGetter = IPython.get_ipython


def html_output(text: str) -> object:
    """An object IPython displays as the HTML ``text`` (kept in a saved notebook)."""
    return _html(text)


def png_output(data: bytes) -> object:
    """An object IPython displays as the PNG ``data`` (kept in a saved notebook)."""
    return _image(data=data, format="png")


def kernel_attached(shell: object | None) -> bool:
    """Whether ``shell`` is an IPython shell run by a kernel, so a front end renders output."""
    return getattr(shell, "kernel", None) is not None


def console_forced(environ: Mapping[str, str]) -> bool:
    """Whether ``MODEL_TRAINER_CONSOLE`` asks for console output (``1``) or not (unset, ``0``).

    Raises:
        ModelTrainerError: ``INVALID_CONFIG`` for any other value.
    """
    raw = environ.get(CONSOLE_ENV, "").strip()
    if raw not in ("", "0", "1"):
        raise ModelTrainerError("INVALID_CONFIG", f"{CONSOLE_ENV} must be 0 or 1, got {raw!r}")
    return raw == "1"


def choose_notebook(*, kernel: bool, environ: Mapping[str, str]) -> bool:
    """Widgets when a kernel has a front end and the environment does not force the console."""
    return kernel and not console_forced(environ)


def in_notebook(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process shows widgets: see ``choose_notebook`` (``environ``: os.environ)."""
    source = os.environ if environ is None else environ
    return choose_notebook(kernel=kernel_attached(_get_shell()), environ=source)
