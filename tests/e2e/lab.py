"""A JupyterLab server for browser tests: loopback only, a token, a kernel of this Python.

The server runs in its own folders (config, runtime, settings, workspaces, kernels), so no
setting of the machine it runs on changes what the browser sees, and nothing it starts
outlives the ``running_lab`` block.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Final, TypedDict

from model_trainer.notebook.frontend import CONSOLE_ENV

CHROMIUM_ENV: Final = "MODEL_TRAINER_E2E_CHROMIUM"
ARTIFACTS_ENV: Final = "MODEL_TRAINER_E2E_ARTIFACTS"
CHROMIUM_ARGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
KERNEL_NAME: Final = "model-trainer-e2e"
KERNEL_DISPLAY_NAME: Final = "model-trainer (test)"
START_TIMEOUT_S: Final = 180.0
STOP_TIMEOUT_S: Final = 30.0


def chromium_path(environ: Mapping[str, str]) -> Path:
    """The Chromium to drive: ``MODEL_TRAINER_E2E_CHROMIUM``, else Debian's ``chromium``."""
    return Path(environ.get(CHROMIUM_ENV, "/usr/bin/chromium"))


def missing_reason(executable: Path, module: str) -> str | None:
    """Why a browser test cannot run here (no browser at ``executable``, no ``module``)."""
    if not executable.is_file():
        return f"no Chromium at {executable} (set {CHROMIUM_ENV})"
    if importlib.util.find_spec(module) is None:
        return f"the Python package {module!r} is not installed"
    return None


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def write_kernelspec(jupyter_path: Path) -> str:
    """Write a kernelspec running this Python under ``jupyter_path``; return its name."""
    folder = jupyter_path / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
    }
    (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return KERNEL_NAME


def write_notebook(path: Path, cells: list[str], *, kernel: str) -> None:
    """Write a notebook of code ``cells`` (no outputs) that asks for the kernel ``kernel``."""
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": kernel, "display_name": kernel, "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell-{index}",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": source,
            }
            for index, source in enumerate(cells)
        ],
    }
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")


class SavedOutput(TypedDict, total=False):
    """One output of a saved code cell, as far as the tests read it."""

    output_type: str
    data: dict[str, object]


class SavedCell(TypedDict):
    """One saved code cell, as far as the tests read it."""

    outputs: list[SavedOutput]


class SavedNotebook(TypedDict):
    """A saved notebook, as far as the tests read it."""

    metadata: dict[str, object]
    cells: list[SavedCell]


def read_notebook(path: Path) -> SavedNotebook:
    """The notebook saved at ``path``."""
    saved: SavedNotebook = json.loads(path.read_text(encoding="utf-8"))
    return saved


def output_types(cell: SavedCell) -> set[str]:
    """The MIME types of the rich outputs of ``cell``."""
    return {mime for output in cell["outputs"] for mime in output.get("data", {})}


def write_lab_settings(settings_dir: Path) -> None:
    """Turn off JupyterLab's news and update toasts, which would cover the outputs."""
    folder = settings_dir / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True)
    settings = {"fetchNews": "false", "checkForUpdates": False}
    (folder / "notification.jupyterlab-settings").write_text(json.dumps(settings), "utf-8")


def lab_env(environ: Mapping[str, str], home: Path) -> dict[str, str]:
    """The server's environment: ``environ`` without the console switch, folders in ``home``.

    Without ``MODEL_TRAINER_CONSOLE`` the kernel picks the live panel, as in any real front
    end. One math thread per kernel leaves the other test worker its core.
    """
    env = dict(environ)
    env.pop(CONSOLE_ENV, None)
    folders = {
        "JUPYTER_PATH": "data",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
    }
    env.update({name: str(home / folder) for name, folder in folders.items()})
    env["OMP_NUM_THREADS"] = "1"
    return env


def lab_command(*, root: Path, port: int, token: str) -> list[str]:
    """The command line of a JupyterLab on ``127.0.0.1:port`` serving ``root``."""
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]


class ServerLog:
    """The lines a server writes, read on a thread until the stream ends."""

    def __init__(self, stream: IO[str], marker: str) -> None:
        self.lines: list[str] = []
        self._marker = marker
        self._listening = False
        self._settled = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)
            if self._marker in line:
                self._listening = True
                self._settled.set()
        self._settled.set()

    def wait_listening(self, timeout_s: float) -> bool:
        """Wait until ``marker`` shows (True) or the stream ends or ``timeout_s`` passes."""
        self._settled.wait(timeout_s)
        return self._listening

    def join(self, timeout_s: float) -> bool:
        """Wait for the end of the stream; whether it came within ``timeout_s``."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def text(self) -> str:
        """Everything read so far."""
        return "".join(self.lines)


class Lab(TypedDict):
    """A running server: its base URL, its token and its log."""

    url: str
    token: str
    log: ServerLog


@contextmanager
def running_lab(*, root: Path, home: Path, environ: Mapping[str, str]) -> Iterator[Lab]:
    """Run a JupyterLab serving ``root`` with its state in ``home``; stop it (and its kernels).

    Raises:
        AssertionError: the server did not listen within ``START_TIMEOUT_S``, or it and its
            kernels had not ended ``STOP_TIMEOUT_S`` after it was killed (its log is in the
            message).
    """
    env = lab_env(environ, home)
    write_lab_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
    port = free_port()
    token = secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen(
        lab_command(root=root, port=port, token=token),
        env=env,
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as server:
        assert server.stdout is not None
        log = ServerLog(server.stdout, marker=f"{url}/lab")
        try:
            assert log.wait_listening(START_TIMEOUT_S), f"no server at {url}:\n{log.text()}"
            yield {"url": url, "token": token, "log": log}
        finally:
            # SIGKILL, not SIGTERM: at exit the server can wait forever on a leftover worker
            # thread. Its kernels end within a second once their parent is gone, and the log
            # ends when the last of them (they share the server's output pipe) has ended.
            server.kill()
            ended = log.join(STOP_TIMEOUT_S)
            assert ended, f"the server at {url} did not stop:\n{log.text()}"
