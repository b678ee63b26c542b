"""PNG pictures from matplotlib figures, safe to draw from several threads at once.

Jobs draw on their own threads (a live panel's frames, a run's ``curves.png`` at its end)
while the notebook draws on its thread (a run comparison). matplotlib's text layout is not
safe across threads: its mathtext parser, shared by every figure, keeps state during a
parse, and two parses at once fail (``ParseException`` on a log axis's ``10^{1}`` labels).
Every layout and render in the package goes through ``render_png`` (or, for a frame drawn
into a canvas of its own, is done under ``DRAW_LOCK`` and encoded by ``canvas_png``), one
at a time.
"""

from __future__ import annotations

import io
import threading
from typing import Final, Protocol

import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import BboxBase
from PIL import Image

DRAW_LOCK = threading.Lock()
PALETTE_COLORS: Final = 96
"""Colors of a frame's palette: curves, grid and text of a chart fit, and the PNG is small."""


class AggCanvas(Protocol):
    """The part of matplotlib's (untyped) ``FigureCanvasAgg`` a frame drawn in place uses."""

    def draw(self) -> None:
        """Draw the whole figure (animated artists left out)."""
        ...

    def copy_from_bbox(self, bbox: BboxBase) -> object:
        """The pixels inside ``bbox``, to put back with ``restore_region``."""
        ...

    def restore_region(self, region: object) -> None:
        """Put back pixels saved by ``copy_from_bbox``."""
        ...

    def buffer_rgba(self) -> memoryview:
        """The canvas's pixels, RGBA, row by row."""
        ...

    def get_width_height(self, *, physical: bool = False) -> tuple[int, int]:
        """The canvas's size; ``physical``: in pixels."""
        ...


def render_png(figure: Figure, *, tight: bool = False, compress_level: int = 6) -> bytes:
    """Lay out (``tight``: ``tight_layout``) and render ``figure``; return the PNG bytes.

    ``compress_level`` is zlib's, 0 (fastest, largest) to 9.
    """
    buffer = io.BytesIO()
    with DRAW_LOCK:
        if tight:
            figure.tight_layout()
        figure.savefig(buffer, format="png", pil_kwargs={"compress_level": compress_level})
    return buffer.getvalue()


def canvas_png(canvas: AggCanvas, *, compress_level: int = 1) -> bytes:
    """The pixels ``canvas`` holds now as a palette PNG (nothing is drawn again).

    Call with ``DRAW_LOCK`` held, after drawing into ``canvas``.
    """
    width, height = canvas.get_width_height(physical=True)
    rgba = np.asarray(canvas.buffer_rgba())  # (height, width, 4), no copy
    pixels = Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1)
    indexed = pixels.convert("RGB").quantize(PALETTE_COLORS, method=Image.Quantize.FASTOCTREE)
    buffer = io.BytesIO()
    indexed.save(buffer, format="png", compress_level=compress_level)
    return buffer.getvalue()
