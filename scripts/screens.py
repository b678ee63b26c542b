"""Pictures of the notebook views as a learner sees them, saved for the docs.

Trains a tiny char-LSTM and a tiny GPT-2 on the embedded corpus (as the tutorials do, about
a minute each on a CPU), then renders in headless Chromium the exact HTML each view puts in
a notebook: the surprisal heatmap, two models compared character by character, the sampled
continuations, and the run comparison chart and console output. The live panel's pictures
come from the browser test (``tests/e2e``).

Usage: ``.venv/bin/python scripts/screens.py [--out docs/screens] [--chromium PATH]``
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import os
import tempfile
from pathlib import Path

import torch
from playwright.sync_api import sync_playwright

from model_trainer import api, view_api
from model_trainer.core.events.codec import read_events
from model_trainer.core.jobs.run_store import EVENTS_FILE
from model_trainer.notebook.console import ConsoleSink

TEXT = (
    "The return statement leaves the current function call with a value.\n"
    "def area(r):\n    return 3.14159 * r ** 2\n"
)
PROMPT = "A list is "
PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'></head>"
    "<body style='margin:0;padding:16px;background:#fff;"
    "font-family:-apple-system,Segoe UI,Roboto,sans-serif;width:{width}px'>"
    "<div id='view'>{body}</div></body></html>"
)


def tiny(family: str, learning_rate: float, runs: str) -> api.TrainJob:
    """One of the tutorials' tiny models, trained on the embedded corpus."""
    job = api.train(
        model_family=family,
        model_size="tiny",
        learning_rate=learning_rate,
        num_epochs=3,
        max_steps_per_epoch=100,
        max_seq_len=64,
        batch_size=32,
        val_fraction=0.05,
        runs_dir=runs,
        show=False,
    )
    job.result()
    return job


def console_text(job: api.TrainJob, runs: str) -> str:
    """What the console sink prints for the run, replayed from its events."""
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream, ncols=100)
    for event in read_events(Path(runs) / job.run_id / EVENTS_FILE):
        sink.emit(event)
    sink.close()
    lines = [line.split("\r")[-1] for line in stream.getvalue().split("\n")]
    return "\n".join(line for line in lines if line)


def pages(lstm: api.TrainJob, gpt: api.TrainJob, runs: str) -> dict[str, tuple[str, int]]:
    """Each picture's file name, its page body and its width in pixels."""
    scored = [
        api.score(job, text=TEXT, detail_level="per_char", top_k=5, runs_dir=runs)
        for job in (lstm, gpt)
    ]
    heatmap = view_api.show_score(scored[0], title="char_lstm: surprisal per character").html()
    both = view_api.compare_scores(scored[0], scored[1], labels=("char_lstm", "gpt2")).html()
    sample = api.generate(lstm, prompt_text=PROMPT, max_new_tokens=160, temperature=0.7)
    generated = view_api.show_generation(sample, prompt=PROMPT, title="char_lstm samples").html()
    chart = view_api.show_comparison(api.compare_runs([lstm, gpt], runs_dir=runs)).png()
    picture = f"<img src='data:image/png;base64,{base64.b64encode(chart).decode()}'>"
    console = f"<pre style='font-size:13px'>{html.escape(console_text(lstm, runs))}</pre>"
    return {
        "06-score-heatmap.png": (heatmap, 820),
        "07-two-models.png": (both, 820),
        "08-generation.png": (generated, 820),
        "09-run-comparison.png": (picture, 820),
        "10-console.png": (console, 1100),
    }


def main() -> None:
    """Train, render each view and save its picture."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/screens", help="folder for the pictures")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser to use")
    args = parser.parse_args()
    out = Path(str(args.out)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    home = Path.cwd()
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)  # the runs folder is ./runs, as in the tutorials
        runs = "runs"
        shots = pages(tiny("char_lstm", 1e-2, runs), tiny("gpt2", 3e-3, runs), runs)
        os.chdir(home)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(args.chromium))
        page = browser.new_page(viewport={"width": 1200, "height": 600})
        for name, (body, width) in shots.items():
            page.set_content(PAGE.format(width=width, body=body))
            page.locator("#view").screenshot(path=str(out / name))
            print(out / name)
        browser.close()


if __name__ == "__main__":
    main()
