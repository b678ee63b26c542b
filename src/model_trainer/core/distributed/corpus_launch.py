"""A corpus scoring on several processes: torchrun started from a notebook, followed as a job.

Every process runs ``model-trainer score-corpus`` with the same options; under torchrun
(``WORLD_SIZE`` > 1) process ``rank`` scores the windows of documents ``k`` with
``k % world == rank`` into its own parts, and rank 0 keeps the folder's ``job.json`` and
events, which the job here forwards to its sinks and view. The handle's ``stop`` sends
SIGTERM to torchrun, which passes it to every process: each drops the window under way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from model_trainer.core.analysis.folder import done_windows
from model_trainer.core.config.settings import Settings
from model_trainer.core.contracts.corpus import CorpusOutcome
from model_trainer.core.distributed.launcher import (
    LAUNCH_DIR,
    LOG_FILE,
    LOG_TAIL_CHARS,
    POLL_S,
    EventTail,
    torchrun_env,
)
from model_trainer.core.errors import ModelTrainerError
from model_trainer.core.events.sinks import EventSink, cut_torn_line
from model_trainer.core.jobs.corpus_job import (
    CorpusPlan,
    ScoringJob,
    cancel_message,
    scoring_outcome,
)
from model_trainer.core.jobs.run_store import EVENTS_FILE
from model_trainer.core.jobs.runner import JobControl, JobHandle, ViewFactory

FLAGS: Final = ("text_field", "glob", "dataset_split", "batch_tokens", "window_docs", "precision")


def rank_program(refs: Mapping[str, str], source: str, plan: CorpusPlan) -> list[str]:
    """The ``model-trainer score-corpus`` command line every process of ``plan`` runs."""
    cfg = plan["cfg"]
    models = [
        f"{name}={Path(ref).resolve() if Path(ref).is_dir() else ref}" for name, ref in refs.items()
    ]
    flags = [f"--{field.replace('_', '-')}={cfg[field]}" for field in FLAGS]
    top_k = [] if cfg["top_k"] is None else [f"--top-k={cfg['top_k']}"]
    return [
        "-m",
        "model_trainer",
        "score-corpus",
        *models,
        f"--corpus={source if source.startswith('builtin:') else Path(source).resolve()}",
        f"--out={plan['name']}",
        "--tables",
        *cfg["tables"],
        *top_k,
        *flags,
    ]


class ScoringLaunch:
    """The work of a launched scoring's job: run torchrun, forward rank 0's events, read the end.

    Args:
        command: the torchrun command line.
        env: torchrun's environment.
        plan: the scoring (its folder made and checked here).
        log_path: the file torchrun's output is appended to.
        poll_s: how often the events are read while torchrun runs.
    """

    def __init__(
        self,
        *,
        command: list[str],
        env: Mapping[str, str],
        plan: CorpusPlan,
        log_path: Path,
        poll_s: float = POLL_S,
    ) -> None:
        self.command = command
        self.env = dict(env)
        self.plan = plan
        self.log_path = log_path
        self.poll_s = poll_s

    def __call__(self, control: JobControl) -> CorpusOutcome:
        """Run torchrun to its end, forwarding the events; the outcome counts every window.

        Raises:
            ModelTrainerError: ``INTERNAL_ERROR`` with the end of torchrun's log (where a
                rank's coded error is) when torchrun failed.
        """
        folder = Path(self.plan["folder"])
        events = folder / EVENTS_FILE
        tail = EventTail(events, offset=cut_torn_line(events))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                self.command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        control.on_cancel(lambda: process.send_signal(signal.SIGTERM))
        running = True
        while running:
            running = process.poll() is None
            for event in tail.read():  # the last read follows torchrun's end
                control.emit(event)
            time.sleep(self.poll_s if running else 0.0)
        stopped = control.cancelled()
        if process.returncode != 0 and not stopped:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            raise ModelTrainerError(
                "INTERNAL_ERROR",
                f"torchrun exited with status {process.returncode} (the first error of a "
                f"rank is in its log); the end of {self.log_path}:\n{text[-LOG_TAIL_CHARS:]}",
            )
        return scoring_outcome(self.plan, done_windows(folder), cancelled=stopped)


def launch_scoring(
    command: list[str],
    plan: CorpusPlan,
    settings: Settings,
    *,
    view: ViewFactory | None = None,
    sinks: Sequence[EventSink] = (),
) -> ScoringJob:
    """Start torchrun running ``command`` for ``plan``; returns the scoring's handle at once."""
    launch = ScoringLaunch(
        command=[*command, "--runs-dir", os.path.abspath(settings["runs_dir"]), "--json"],
        env=torchrun_env(settings, os.environ),
        plan=plan,
        log_path=Path(settings["runs_dir"]) / LAUNCH_DIR / plan["name"] / LOG_FILE,
    )
    job: JobHandle[CorpusOutcome] = JobHandle(
        kind="score_corpus",
        job_id=plan["name"],
        run_id=plan["name"],
        run_dir=plan["folder"],
        work=launch,
        sinks=sinks,
        view=view,
        cancel_message=cancel_message,
        announce=False,
    )
    return ScoringJob(job.start(), plan["folder"])
