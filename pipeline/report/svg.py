"""Inline SVG plots for the HTML reports: interval (forest) plots, confusion heatmaps, grouped bars.

Plain strings of SVG, no scripts, fonts or external files, so a report stays one self-contained file that
any browser (and a printer) renders the same. Every plot has a `<title>` for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif\""
SERIES_COLOURS = ("#1f5fa8", "#e07b1a", "#6b8e23", "#8e44ad", "#7f7f7f", "#c0392b")
ROW_HEIGHT = 22
CHAR_WIDTH = 6.8  # a generous average glyph width of the 12px sans-serif labels


def _label_width(labels: Sequence[str], minimum: int = 90) -> int:
    """Room for the longest label (SVG text does not wrap, so it must fit)."""
    return max(minimum, int(max((len(label) for label in labels), default=0) * CHAR_WIDTH) + 16)


@dataclass(frozen=True)
class IntervalRow:
    """One line of a forest plot: an estimate with its interval (None where undefined)."""

    label: str
    estimate: float | None
    low: float | None = None
    high: float | None = None
    series: int = 0  # colour index


def _fmt(value: float) -> str:
    return f"{value:.2f}".replace("-0.00", "0.00")


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {FONT} font-size="12"><title>{escape(title)}</title>'
        + "".join(body) + "</svg>"
    )


def forest_plot(
    rows: Sequence[IntervalRow],
    *,
    title: str,
    x_label: str = "coefficient (dot) with 95% interval (line)",
    references: Sequence[tuple[float, str]] = ((0.0, "chance"), (0.667, ".667"), (0.8, ".80")),
    legend: Sequence[str] = (),
    width: int = 400,
) -> str:
    """A forest plot of ``rows``: one line each, dot = estimate, whisker = interval, dashed reference lines.

    The x range runs from min(-0.2, lowest value) to 1, the range of every agreement coefficient that matters.
    """
    values = [v for row in rows for v in (row.estimate, row.low, row.high) if v is not None]
    x_min = min([-0.2, *values])
    x_min = math.floor(x_min * 10) / 10
    plot_left = _label_width([row.label for row in rows])
    plot_right = plot_left + width
    width = plot_right + 60
    top = 30 + (18 if legend else 0)
    height = top + ROW_HEIGHT * max(len(rows), 1) + 40

    def x(value: float) -> float:
        return plot_left + (value - x_min) / (1.0 - x_min) * (plot_right - plot_left)

    body = [f'<text x="4" y="16" font-weight="600">{escape(title)}</text>']
    for index, name in enumerate(legend):
        lx = plot_left + index * 130
        body.append(f'<circle cx="{lx + 5}" cy="30" r="4" fill="{SERIES_COLOURS[index % 6]}"/>'
                    f'<text x="{lx + 14}" y="34">{escape(name)}</text>')
    bottom = top + ROW_HEIGHT * max(len(rows), 1)
    step = 0.1 if 1.0 - x_min <= 0.6 else 0.2
    for k in range(int(round((1.0 - x_min) / step)) + 1):  # ticks down from 1 so they land on round values
        tick = round(1.0 - k * step, 10)
        if tick < x_min - 1e-9:
            break
        body.append(f'<line x1="{x(tick):.1f}" y1="{bottom}" x2="{x(tick):.1f}" y2="{bottom + 4}" stroke="#555"/>'
                    f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle" fill="#444">{_fmt(tick)}</text>')
    body.append(f'<line x1="{plot_left}" y1="{bottom}" x2="{plot_right}" y2="{bottom}" stroke="#555"/>')
    body.append(f'<text x="{(plot_left + plot_right) / 2:.1f}" y="{bottom + 32}" text-anchor="middle" '
                f'fill="#444">{escape(x_label)}</text>')
    for value, name in references:
        if x_min <= value <= 1.0:
            body.append(f'<line x1="{x(value):.1f}" y1="{top - 2}" x2="{x(value):.1f}" y2="{bottom}" '
                        f'stroke="#999" stroke-dasharray="3,3"/>'
                        f'<text x="{x(value):.1f}" y="{top - 4}" text-anchor="middle" font-size="10" '
                        f'fill="#777">{escape(name)}</text>')
    for index, row in enumerate(rows):
        y = top + ROW_HEIGHT * index + ROW_HEIGHT / 2
        colour = SERIES_COLOURS[row.series % 6]
        if index % 2:
            body.append(f'<rect x="0" y="{y - ROW_HEIGHT / 2:.1f}" width="{width}" height="{ROW_HEIGHT}" '
                        'fill="#f4f6f8"/>')
        body.append(f'<text x="{plot_left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(row.label)}</text>')
        if row.estimate is None:
            body.append(f'<text x="{plot_left + 4}" y="{y + 4:.1f}" fill="#999" font-style="italic">undefined</text>')
            continue
        if row.low is not None and row.high is not None:
            body.append(f'<line x1="{x(row.low):.1f}" y1="{y:.1f}" x2="{x(row.high):.1f}" y2="{y:.1f}" '
                        f'stroke="{colour}" stroke-width="2"/>')
            for end in (row.low, row.high):
                body.append(f'<line x1="{x(end):.1f}" y1="{y - 4:.1f}" x2="{x(end):.1f}" y2="{y + 4:.1f}" '
                            f'stroke="{colour}" stroke-width="2"/>')
        body.append(f'<circle cx="{x(row.estimate):.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>')
        interval = "" if row.low is None or row.high is None else f" [{_fmt(row.low)}, {_fmt(row.high)}]"
        body.append(f'<text x="{plot_right + 6}" y="{y + 4:.1f}" font-size="11" fill="#333">'
                    f'{_fmt(row.estimate)}</text>'
                    f'<title>{escape(row.label)}: {_fmt(row.estimate)}{interval}</title>')
    return _svg(width, height, title, body)


def heatmap(
    matrix: Sequence[Sequence[int]],
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    *,
    title: str,
    row_title: str = "reference (actual)",
    column_title: str = "predicted",
    cell: int = 64,
) -> str:
    """A confusion matrix as a heatmap: counts in the cells, shade = share of the row (what the reference
    fragments of that category were predicted as)."""
    n_rows, n_columns = len(row_labels), len(column_labels)
    cell = max(cell, max(int(len(word) * CHAR_WIDTH * 11 / 12) + 10 for label in column_labels
                         for word in label.split()))
    left = max(_label_width(row_labels, minimum=90), int(len(row_title) * CHAR_WIDTH * 11 / 12) + 12)
    top = 72
    width, height = left + cell * n_columns + 20, top + cell * n_rows + 20
    body = [f'<text x="4" y="16" font-weight="600">{escape(title)}</text>',
            f'<text x="{left + cell * n_columns / 2:.1f}" y="32" text-anchor="middle" fill="#444">'
            f'{escape(column_title)}</text>',
            f'<text x="4" y="{top - 6}" fill="#444" font-size="11">{escape(row_title)} \u2193</text>']
    for j, label in enumerate(column_labels):
        lines = label.split(" ", 1) if len(label) > cell / 6 else [label]
        tspans = "".join(f'<tspan x="{left + cell * j + cell / 2:.1f}" dy="{0 if k == 0 else 13}">{escape(part)}'
                         "</tspan>" for k, part in enumerate(lines))
        body.append(f'<text y="{top - 8 - 13 * (len(lines) - 1)}" text-anchor="middle" font-size="11">{tspans}</text>')
    for i, label in enumerate(row_labels):
        total = sum(matrix[i]) or 1
        body.append(f'<text x="{left - 8}" y="{top + cell * i + cell / 2 + 4:.1f}" text-anchor="end" '
                    f'font-size="11">{escape(label)}</text>')
        for j in range(n_columns):
            count = int(matrix[i][j])
            share = count / total
            fill = f"rgb({int(255 - share * 224)},{int(255 - share * 160)},{int(255 - share * 87)})"
            text_colour = "#fff" if share > 0.55 else "#111"
            body.append(
                f'<rect x="{left + cell * j}" y="{top + cell * i}" width="{cell}" height="{cell}" fill="{fill}" '
                f'stroke="{"#333" if i == j else "#ccc"}" stroke-width="{2 if i == j else 1}"/>'
                f'<text x="{left + cell * j + cell / 2:.1f}" y="{top + cell * i + cell / 2 + 5:.1f}" '
                f'text-anchor="middle" font-size="14" fill="{text_colour}">{count}</text>'
            )
    return _svg(width, height, title, body)


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    x_label: str = "F1 (0 = no correct positives, 1 = perfect)",
    width: int = 640,
) -> str:
    """Grouped horizontal bars on a 0..1 scale: one group per category, one bar per series (None = no bar)."""
    n_series = max(len(series), 1)
    bar, gap = 12, 10
    group = bar * n_series + gap
    plot_left, plot_right, top = 130, width - 60, 44
    bottom = top + group * len(categories)
    height = bottom + 40

    def x(value: float) -> float:
        return plot_left + value * (plot_right - plot_left)

    body = [f'<text x="4" y="16" font-weight="600">{escape(title)}</text>']
    for index, (name, _) in enumerate(series):
        lx = plot_left + index * 130
        body.append(f'<rect x="{lx}" y="24" width="10" height="10" fill="{SERIES_COLOURS[index % 6]}"/>'
                    f'<text x="{lx + 14}" y="33">{escape(name)}</text>')
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        body.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" y2="{bottom}" stroke="#e3e3e3"/>'
                    f'<text x="{x(tick):.1f}" y="{bottom + 14}" text-anchor="middle" fill="#444">{tick:.1f}</text>')
    body.append(f'<text x="{(plot_left + plot_right) / 2:.1f}" y="{bottom + 30}" text-anchor="middle" '
                f'fill="#444">{escape(x_label)}</text>')
    for i, category in enumerate(categories):
        y0 = top + group * i
        body.append(f'<text x="{plot_left - 8}" y="{y0 + bar * n_series / 2 + 4:.1f}" text-anchor="end">'
                    f'{escape(category)}</text>')
        for k, (name, values) in enumerate(series):
            value = values[i]
            y = y0 + bar * k
            if value is None:
                body.append(f'<text x="{plot_left + 4}" y="{y + 10}" font-size="10" fill="#999">n/a</text>')
                continue
            body.append(f'<rect x="{plot_left}" y="{y}" width="{max(x(value) - plot_left, 0.5):.1f}" '
                        f'height="{bar - 2}" fill="{SERIES_COLOURS[k % 6]}"><title>{escape(name)} '
                        f'{escape(category)}: {value:.3f}</title></rect>'
                        f'<text x="{x(value) + 4:.1f}" y="{y + 9}" font-size="10" fill="#333">{value:.2f}</text>')
    return _svg(width, height, title, body)


@dataclass(frozen=True)
class CurveSeries:
    """One line of a curve plot: (x, mean, low, high) points; low/high None where there is no range."""

    label: str
    points: Sequence[tuple[float, float | None, float | None, float | None]]
    series: int = 0  # colour index


def curve_plot(
    lines: Sequence[CurveSeries],
    *,
    title: str,
    x_label: str,
    y_label: str = "Krippendorff's alpha",
    width: int = 420,
    height: int = 240,
) -> str:
    """Lines of y (from min(-0.2, lowest) to 1) against x (0 to the largest x): the mean as a line with dots,
    the range as a thin vertical bar at each point."""
    values = [v for line in lines for _, *ys in line.points for v in ys if v is not None]
    y_min = math.floor(min([-0.2, *values]) * 10) / 10
    x_max = max([1.0, *(p[0] for line in lines for p in line.points)])
    left, right, top, bottom = 52, width - 12, 40, height - 42

    def x(value: float) -> float:
        return left + (right - left) * value / x_max

    def y(value: float) -> float:
        return bottom - (bottom - top) * (value - y_min) / (1.0 - y_min)

    body = [f'<text x="4" y="16" font-weight="600">{escape(title)}</text>']
    for index, line in enumerate(lines):
        lx = left + index * 150
        body.append(f'<rect x="{lx}" y="23" width="10" height="10" fill="{SERIES_COLOURS[line.series % 6]}"/>'
                    f'<text x="{lx + 14}" y="32">{escape(line.label)}</text>')
    tick = round(1.0, 10)
    while tick >= y_min - 1e-9:
        body.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{right}" y2="{y(tick):.1f}" stroke="#e3e3e3"/>'
                    f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#444">{_fmt(tick)}</text>')
        tick = round(tick - 0.2, 10)
    for k in range(5):
        value = x_max * k / 4
        body.append(f'<text x="{x(value):.1f}" y="{bottom + 15}" text-anchor="middle" fill="#444">{value:.0f}</text>')
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#555"/>'
                f'<text x="{(left + right) / 2:.1f}" y="{bottom + 32}" text-anchor="middle" fill="#444">'
                f'{escape(x_label)}</text>'
                f'<text x="12" y="{(top + bottom) / 2:.1f}" text-anchor="middle" fill="#444" '
                f'transform="rotate(-90 12 {(top + bottom) / 2:.1f})">{escape(y_label)}</text>')
    for line in lines:
        colour = SERIES_COLOURS[line.series % 6]
        known = [(px, mean, low, high) for px, mean, low, high in line.points if mean is not None]
        for px, _, low, high in known:
            if low is not None and high is not None and high > low:
                body.append(f'<line x1="{x(px):.1f}" y1="{y(low):.1f}" x2="{x(px):.1f}" y2="{y(high):.1f}" '
                            f'stroke="{colour}" stroke-width="3" opacity="0.35"/>')
        if known:
            path = " ".join(f"{x(px):.1f},{y(mean):.1f}" for px, mean, _, _ in known)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            body.extend(f'<circle cx="{x(px):.1f}" cy="{y(mean):.1f}" r="2.5" fill="{colour}"><title>'
                        f'{escape(line.label)}: {px:.0f} coded, {_fmt(mean)}</title></circle>'
                        for px, mean, _, _ in known)
    return _svg(width, height, title, body)
