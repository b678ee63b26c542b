"""PNG pictures from matplotlib figures, safe to draw from several threads at once.

Jobs draw on their own threads (a live panel's frames, a run's ``curves.png`` at its end)
while the notebook draws on its thread (a run comparison). matplotlib's text layout is not
safe across threads: its mathtext parser, shared by every figure, keeps state during a
parse, and two parses at once fail (``ParseException`` on a log axis's ``10^{1}`` labels).
Every layout and render in the package goes through ``render_png``, one at a time.
"""

from __future__ import annotations

import io
import threading

from matplotlib.figure import Figure

DRAW_LOCK = threading.Lock()


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
