"""``model-trainer score-corpus`` killed mid-way, then run again: every document once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_trainer import api
from model_trainer.cli import main
from model_trainer.corpus_api import open_scores, score_corpus

DOCS = [f"Line {index} says something short, and then stops." for index in range(60)]


def _command(runs: Path, corpus: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "model_trainer", "score-corpus", "m=bpe",
        "--corpus", str(corpus), "--out", "killed", "--window-docs", "2",
        "--runs-dir", str(runs), *extra,
    ]  # fmt: skip


def test_a_killed_scoring_resumes_with_no_document_lost_or_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    api.train(
        model_family="fake",
        model_size="tiny",
        tokenizer_kind="bpe",
        vocab_size=300,
        num_epochs=1,
        max_seq_len=32,
        batch_size=8,
        max_steps_per_epoch=2,
        device="cpu",
        run_id="bpe",
        runs_dir=str(runs),
        show=False,
    ).result()
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(
        "".join(json.dumps({"text": doc, "n": index}) + "\n" for index, doc in enumerate(DOCS)),
        encoding="utf-8",
    )
    env = {**os.environ, "MODEL_TRAINER_NUM_THREADS": "1"}
    process = subprocess.Popen(
        _command(runs, corpus), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    done = runs / "killed" / "done"
    deadline = time.monotonic() + 120
    while len(list(done.glob("*.json"))) < 2 and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = len(list(done.glob("*.json")))
    assert 2 <= kept < len(DOCS) // 2
    process = subprocess.Popen(
        _command(runs, corpus), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while len(list(done.glob("*.json"))) < kept + 1 and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait() in (0, 128 + signal.SIGTERM)
    finished = subprocess.run(
        [*_command(runs, corpus), "--json"], env=env, capture_output=True, check=True, text=True
    )
    outcome = json.loads(finished.stdout)
    assert (outcome["documents"], outcome["cancelled"]) == (len(DOCS), False)
    resumed = open_scores("killed", runs_dir=str(runs)).frame("documents").to_dict("records")
    score_corpus({"m": "bpe"}, str(corpus), name="whole", runs_dir=str(runs), show=False).result()
    whole = open_scores("whole", runs_dir=str(runs)).frame("documents").to_dict("records")
    assert resumed == whole
    assert isinstance(resumed, list)
    assert [row["doc"] for row in resumed] == list(range(len(DOCS)))
    assert main(["score-corpus", "m=bpe", "--corpus", str(corpus), "--out", "killed",
                 "--window-docs", "2", "--runs-dir", str(runs)]) == 0  # fmt: skip
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    printed = capsys.readouterr().out
    assert "scoring by m" in printed
    assert "  1.0" not in printed
