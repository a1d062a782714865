"""The class report's plots (report.py), drawn by matplotlib as inline SVG: the score
distribution, each exercise's pass rate and each exercise's score spread.

matplotlib is imported only here, inside the functions, so that no other command pays for it;
figures are made with its object API (`Figure`, no pyplot state) and saved as SVG, whose text
stays text (`svg.fonttype: none`) and whose ids differ between plots (`svg.hashsalt`).
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH = 6.0  # inches: the SVG scales down to the page (the CSS gives it max-width 100%)
FONT_SIZE = 11  # points: still legible when a phone scales the plot to 360 px
BAR_COLOUR = "#3b6ea8"
PASS_COLOUR = "#2e7d32"
SVG_METADATA = ("Creator", "Date", "Format", "Type")  # matplotlib's defaults, left out


def score_distribution(scores: Sequence[float], maximum: float, alt: str) -> str:
    """A histogram of the students' total scores on 0..maximum."""
    top = maximum if maximum > 0 else 1.0

    def draw(axes: Axes) -> None:
        from matplotlib.ticker import MaxNLocator

        bins = max(1, min(20, math.ceil(top)))  # one point wide, at most 20 bins
        axes.hist(scores, bins=bins, range=(0.0, top), color=BAR_COLOUR, edgecolor="white")
        axes.set_xlabel(f"total score (of {maximum:g})")
        axes.set_ylabel("students")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))

    return _svg(draw, 3.0, alt)


def pass_rates(names: Sequence[str], rates: Sequence[float], alt: str) -> str:
    """One horizontal bar per exercise: the share of students who passed every test of it."""

    def draw(axes: Axes) -> None:
        positions = range(len(names))
        axes.barh(positions, [100 * r for r in rates], color=PASS_COLOUR)
        axes.set_yticks(positions, labels=names)
        axes.invert_yaxis()
        axes.set_xlim(0, 100)
        axes.set_xlabel("students who passed every test (%)")

    return _svg(draw, 1.0 + 0.4 * len(names), alt)


def score_spread(names: Sequence[str], fractions: Sequence[Sequence[float]], alt: str) -> str:
    """One box plot per exercise of the students' scores as a percentage of its points."""

    def draw(axes: Axes) -> None:
        data = [[100 * f for f in scores] or [0.0] for scores in fractions]
        axes.boxplot(data, orientation="horizontal", tick_labels=names)
        axes.invert_yaxis()
        axes.set_xlim(-2, 102)
        axes.set_xlabel("score (% of the exercise's points)")

    return _svg(draw, 1.0 + 0.4 * len(names), alt)


def _svg(draw: Callable[[Axes], None], height: float, alt: str) -> str:
    """A plot drawn by `draw` as an `<svg>` element (no XML prologue), labelled `alt` for
    screen readers."""
    import matplotlib
    from matplotlib.figure import Figure

    buffer = io.StringIO()
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": alt, "font.size": FONT_SIZE}
    ):
        figure = Figure(figsize=(WIDTH, height), layout="constrained")
        draw(figure.add_subplot())
        figure.savefig(buffer, format="svg", metadata=dict.fromkeys(SVG_METADATA))
    text = buffer.getvalue()
    element = text[text.index("<svg") :]
    label = html.escape(alt, quote=True)
    return element.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
