import threading

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from model_trainer.core.drawing import render_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _log_figure(seed: int) -> Figure:
    """A figure whose log axis labels (``10^{k}``) go through matplotlib's mathtext parser."""
    figure = Figure(figsize=(3, 2), dpi=50)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot([1, 2, 3], [10.0 ** (seed % 4 + 1), 60.0, 7.0 + seed])
    axes.set_yscale("log")
    return figure


def test_threads_draw_at_the_same_time_without_breaking_the_text_parser() -> None:
    pictures: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def draw(worker: int) -> None:
        start.wait()
        for index in range(8):
            try:
                pictures.append(render_png(_log_figure(worker * 100 + index), tight=index % 2 == 0))
            except ValueError as exc:  # matplotlib's ParseException, raised as ValueError
                errors.append(exc)

    threads = [threading.Thread(target=draw, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(pictures) == 32
    assert all(picture.startswith(PNG_MAGIC) for picture in pictures)


def test_compress_level_trades_size_for_speed() -> None:
    figure = _log_figure(1)
    assert len(render_png(figure, compress_level=0)) > len(render_png(figure, compress_level=9))
