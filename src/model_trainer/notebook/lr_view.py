"""The learning-rate finder's curve: smoothed loss against a log learning rate."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from model_trainer.core.drawing import render_png
from model_trainer.core.experiments.lr_find import LrFindResult


def lr_find_png(result: LrFindResult) -> bytes:
    """The PNG of ``result``'s raw and smoothed losses; the suggested rate is a red line."""
    figure = Figure(figsize=(7.0, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    lrs = result["learning_rates"]
    axes.plot(lrs, result["losses"], color="#c6dbef", label="loss")
    axes.plot(lrs, result["smoothed_losses"], color="#08519c", label="smoothed loss")
    suggested = result["suggested_lr"]
    if suggested is not None:
        axes.axvline(suggested, color="#cb181d", linestyle="--", label=f"suggested {suggested:.2e}")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss (nats)")
    found = "" if suggested is not None else ": no suggestion"
    axes.set_title(f"learning-rate finder ({result['stop']}){found}")
    axes.grid(visible=True, alpha=0.3)
    axes.legend(loc="best")
    return render_png(figure, tight=True)


class LrFindView:
    """The finder's curve, displayed in a notebook (``_repr_png_``)."""

    def __init__(self, result: LrFindResult) -> None:
        self.result = result

    def png(self) -> bytes:
        """The PNG of the curve."""
        return lr_find_png(self.result)

    def _repr_png_(self) -> bytes:
        return self.png()
