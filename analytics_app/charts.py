"""Charts drawn on the server as inline SVG: pure functions from numbers to markup, no
JavaScript and nothing fetched. Each bar carries its number as a <title> (a tooltip, and
what a screen reader reads); the page also shows the numbers in a table."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 240
# Room for the y axis' labels and title on the left, the chart's title and legend on top,
# the x axis' labels and title below.
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 44
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
BASELINE = TOP + PLOT_HEIGHT
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Series:
    """One set of bars: a value per label (None or 0: no bar), drawn in `color`."""

    name: str
    values: Sequence[float | None]
    color: str


def bar_chart(
    *,
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    y_label: str,
    x_label: str = "Day",
    tick_labels: Sequence[str] | None = None,
    value_format: Callable[[float], str] = lambda value: f"{value:,g}",
) -> SafeString:
    """An SVG bar chart: one slot per label, holding a bar per series side by side, bars'
    heights proportional to their values (the y axis starts at 0). `labels` name the
    slots in the bars' titles, `tick_labels` (shorter) under the x axis."""
    ticks = tick_labels if tick_labels is not None else labels
    values = [v for s in series for v in s.values if v is not None]
    step, top = axis_scale(max(values, default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_attr(chart_id)}" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{_attr(chart_id)}-title">',
        f'<title id="{_attr(chart_id)}-title">{escape(title)}</title>',
        f'<text class="chart-title" x="{LEFT}" y="20" font-weight="bold">{escape(title)}</text>',
        *_y_axis(step, top, y_label),
        *_x_axis(ticks, x_label),
        *_bars(labels, series, top, value_format),
        *_legend(series),
        "</svg>",
    ]
    return mark_safe("\n".join(parts))  # every text and attribute in it is escaped


def axis_scale(largest: float) -> tuple[float, float]:
    """The y axis' tick step (1, 2 or 5 times a power of ten, so about four ticks) and its
    top (a whole number of steps, at least `largest`)."""
    if largest <= 0:
        return 1, 1
    raw = largest / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if largest >= 1:
        step = max(step, 1)  # counts have no half ticks
    return step, step * math.ceil(largest / step - 1e-9)


def bar_height(value: float, top: float) -> float:
    """A bar's height in pixels: proportional to its value, the axis' top at full height."""
    return value / top * PLOT_HEIGHT


def _y_axis(step: float, top: float, y_label: str) -> list[str]:
    parts = []
    for n in range(round(top / step) + 1):
        y = BASELINE - bar_height(n * step, top)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_n(y)}" y2="{_n(y)}" '
            f'stroke="#e3e3e3"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{_n(y + 4)}" text-anchor="end" '
            f'font-size="11" fill="#555">{escape(_number(n * step))}</text>'
        )
    middle = TOP + PLOT_HEIGHT / 2
    parts.append(
        f'<text class="axis-label" x="14" y="{_n(middle)}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {_n(middle)})">{escape(y_label)}</text>'
    )
    return parts


def _x_axis(ticks: Sequence[str], x_label: str) -> list[str]:
    slot = PLOT_WIDTH / max(len(ticks), 1)
    every = max(math.ceil(len(ticks) / MAX_X_LABELS), 1)
    parts = [
        f'<line class="baseline" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{BASELINE}" '
        f'y2="{BASELINE}" stroke="#555"/>'
    ]
    last = len(ticks) - 1
    for index, tick in enumerate(ticks):
        if (last - index) % every:  # the newest slot always has its label
            continue
        x = LEFT + slot * (index + 0.5)
        parts.append(
            f'<text class="tick" x="{_n(x)}" y="{BASELINE + 16}" text-anchor="middle" '
            f'font-size="11" fill="#555">{escape(tick)}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="{LEFT + PLOT_WIDTH / 2:g}" y="{HEIGHT - 6}" '
        f'text-anchor="middle" font-size="12">{escape(x_label)}</text>'
    )
    return parts


def _bars(labels, series, top, value_format) -> list[str]:
    slot = PLOT_WIDTH / max(len(labels), 1)
    width = slot * 0.8 / max(len(series), 1)
    parts = []
    for index, label in enumerate(labels):
        for number, one in enumerate(series):
            value = one.values[index]
            if value is None or value <= 0:
                continue
            height = bar_height(value, top)
            x = LEFT + slot * (index + 0.1) + width * number
            name = f" {one.name}" if len(series) > 1 else ""
            parts.append(
                f'<rect class="bar" data-index="{index}" data-series="{_attr(one.name)}" '
                f'x="{_n(x)}" y="{_n(BASELINE - height)}" width="{_n(width)}" '
                f'height="{_n(height)}" fill="{_attr(one.color)}">'
                f"<title>{escape(f'{label}{name}: {value_format(value)}')}</title></rect>"
            )
    return parts


def _legend(series: Sequence[Series]) -> list[str]:
    if len(series) < 2:
        return []
    parts, x = [], WIDTH - RIGHT
    for one in reversed(series):
        x -= 14 + 7 * len(one.name)  # room for the swatch and the name, roughly
        parts.append(
            f'<rect class="swatch" x="{x}" y="10" width="10" height="10" '
            f'fill="{_attr(one.color)}"/>'
            f'<text x="{x + 14}" y="19" font-size="11">{escape(one.name)}</text>'
        )
    return parts


def _attr(text: str) -> str:
    return escape(text, quote=True)


def _n(number: float) -> str:
    """A coordinate, to the hundredth of a pixel."""
    return f"{number:.2f}".rstrip("0").rstrip(".")


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,g}"
