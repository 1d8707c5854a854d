"""Server-side SVG line and bar charts, each paired with a table of the same numbers."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

WIDTH = 640
HEIGHT = 260
MARGIN_LEFT = 52
MARGIN_RIGHT = 28  # room for the last x label, centred on its point
MARGIN_TOP = 28  # room for the legend
MARGIN_BOTTOM = 44
#: Okabe-Ito colours: told apart with the common colour-vision deficiencies
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
#: a second cue besides colour, so series differ in grey-scale print too
DASHES = ("", "6 3", "2 3", "8 3 2 3")
MAX_X_LABELS = 12
AXIS_COLOUR = "#5b6575"
GRID_COLOUR = "#d9dee7"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"

Formatter = Callable[[float | None], str]


def _attribute_name(name: str) -> str:
    # Python keywords and dashes: class_ -> class, stroke_width -> stroke-width.
    return name.rstrip("_").replace("_", "-")


class SvgElement:
    """An SVG element; rendering escapes every attribute value and text node."""

    def __init__(self, tag: str, text: str | None = None, **attributes: object) -> None:
        self.tag = tag
        self.text = text
        self.attributes = {
            _attribute_name(name): value for name, value in attributes.items() if value is not None
        }
        self.children: list[SvgElement] = []

    def add(self, child: SvgElement) -> SvgElement:
        self.children.append(child)
        return child

    def render(self) -> str:
        attributes = "".join(
            f' {name}="{html.escape(_number(value), quote=True)}"'
            for name, value in self.attributes.items()
        )
        inner = html.escape(self.text, quote=False) if self.text is not None else ""
        inner += "".join(child.render() for child in self.children)
        if not inner:
            return f"<{self.tag}{attributes}/>"
        return f"<{self.tag}{attributes}>{inner}</{self.tag}>"


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class ChartTable:
    """The chart's numbers for screen readers, keyboards and copy-paste."""

    caption: str
    row_header: str
    columns: list[str]
    rows: list[tuple[str, list[str]]]


@dataclass
class Chart:
    """A chart ready for a template: the SVG markup and its table."""

    chart_id: str
    title: str
    description: str
    svg: Markup
    table: ChartTable
    series_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Plot:
    left: float = MARGIN_LEFT
    top: float = MARGIN_TOP
    right: float = WIDTH - MARGIN_RIGHT
    bottom: float = HEIGHT - MARGIN_BOTTOM

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 x 10^k at or above `value` (at least 1): a readable step."""
    if value <= 1:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def count_scale(largest: float, ticks: int = 4) -> tuple[float, float]:
    """Axis top and step for counts: whole, readable steps, at most `ticks` of them."""
    step = nice_ceiling(largest / ticks)
    return step * max(math.ceil(largest / step), 1), step


def line_chart(
    chart_id: str,
    *,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    formatter: Formatter,
    row_header: str,
    y_max: float | None = None,
    y_label: str = "",
) -> Chart:
    """Lines over categories; a missing value (None) leaves a gap instead of a false zero."""
    top, tick = (y_max, y_max / 4) if y_max is not None else count_scale(_largest(series))
    svg, plot = _canvas(chart_id, title, description)
    _axes(svg, plot, categories, top, tick, formatter, y_label, centred=False)
    step = plot.width / max(len(categories) - 1, 1)
    for index, one in enumerate(series):
        colour, dash = PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]
        group = svg.add(SvgElement("g", class_=f"series series-{index}"))
        run: list[tuple[float, float]] = []
        points: list[tuple[float, float, float, str]] = []
        for position, value in enumerate(one.values):
            if value is None:
                _polyline(group, run, colour, dash)
                run = []
                continue
            x = plot.left + (step * position if len(categories) > 1 else plot.width / 2)
            y = plot.bottom - plot.height * min(value, top) / top
            run.append((x, y))
            points.append((x, y, value, categories[position]))
        _polyline(group, run, colour, dash)
        for x, y, value, category in points:
            marker = group.add(_marker(index, x, y, colour))
            marker.add(SvgElement("title", f"{one.name}, {category}: {formatter(value)}"))
    _legend(svg, plot, series, kind="line")
    return _chart(chart_id, title, description, svg, categories, series, formatter, row_header)


def bar_chart(
    chart_id: str,
    *,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    formatter: Formatter,
    row_header: str,
    y_label: str = "",
) -> Chart:
    """Grouped bars, one group per category and one bar per series."""
    top, tick = count_scale(_largest(series))
    svg, plot = _canvas(chart_id, title, description)
    _axes(svg, plot, categories, top, tick, formatter, y_label, centred=True)
    band = plot.width / max(len(categories), 1)
    bar = band * 0.8 / max(len(series), 1)
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        group = svg.add(SvgElement("g", class_=f"series series-{index}", fill=colour))
        for position, value in enumerate(one.values):
            if not value:
                continue
            height = plot.height * min(value, top) / top
            x = plot.left + band * position + band * 0.1 + bar * index
            rect = group.add(
                SvgElement("rect", x=x, y=plot.bottom - height, width=max(bar - 1, 1),
                           height=height)
            )
            rect.add(SvgElement("title", f"{one.name}, {categories[position]}: "
                                         f"{formatter(value)}"))
    _legend(svg, plot, series, kind="bar")
    return _chart(chart_id, title, description, svg, categories, series, formatter, row_header)


def _largest(series: Sequence[Series]) -> float:
    values = [value for one in series for value in one.values if value is not None]
    return max(values, default=0.0)


def _canvas(chart_id: str, title: str, description: str) -> tuple[SvgElement, _Plot]:
    svg = SvgElement(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {WIDTH} {HEIGHT}",
        width="100%",
        role="img",
        aria_labelledby=f"{chart_id}-title {chart_id}-desc",
        font_family=FONT,
        font_size=11,
        class_="chart",
    )
    svg.add(SvgElement("title", title, id=f"{chart_id}-title"))
    svg.add(SvgElement("desc", description, id=f"{chart_id}-desc"))
    return svg, _Plot()


def _axes(svg: SvgElement, plot: _Plot, categories: Sequence[str], top: float, tick: float,
          formatter: Formatter, y_label: str, *, centred: bool) -> None:
    axes = svg.add(SvgElement("g", class_="axes", fill=AXIS_COLOUR))
    for index in range(round(top / tick) + 1):
        value = tick * index
        y = plot.bottom - plot.height * value / top
        axes.add(SvgElement("line", x1=plot.left, x2=plot.right, y1=y, y2=y,
                            stroke=GRID_COLOUR, stroke_width=1))
        axes.add(SvgElement("text", formatter(value), x=plot.left - 6, y=y + 4,
                            text_anchor="end"))
    axes.add(SvgElement("line", x1=plot.left, x2=plot.right, y1=plot.bottom, y2=plot.bottom,
                        stroke=AXIS_COLOUR, stroke_width=1))
    if y_label:
        axes.add(SvgElement("text", y_label, x=4, y=plot.top - 14))
    count = len(categories)
    every = max(math.ceil(count / MAX_X_LABELS), 1)
    for position, category in enumerate(categories):
        if position % every and position != count - 1:
            continue
        if centred:
            x = plot.left + plot.width / max(count, 1) * (position + 0.5)
        else:
            x = plot.left + (plot.width / max(count - 1, 1) * position if count > 1
                             else plot.width / 2)
        axes.add(SvgElement("text", _short(category), x=x, y=plot.bottom + 16,
                            text_anchor="middle"))


def _short(category: str) -> str:
    # "2026-03-02" -> "03-02": the year is in the table; the axis needs room.
    if len(category) == 10 and category[4] == "-" and category[7] == "-":
        return category[5:]
    return category


def _polyline(group: SvgElement, run: list[tuple[float, float]], colour: str, dash: str
              ) -> None:
    if len(run) < 2:
        return
    points = " ".join(f"{_number(x)},{_number(y)}" for x, y in run)
    group.add(SvgElement("polyline", points=points, fill="none", stroke=colour, stroke_width=2,
                         stroke_dasharray=dash or None, stroke_linejoin="round"))


def _marker(index: int, x: float, y: float, colour: str) -> SvgElement:
    shape = index % 3
    if shape == 0:
        return SvgElement("circle", cx=x, cy=y, r=3.5, fill=colour)
    if shape == 1:
        return SvgElement("rect", x=x - 3.5, y=y - 3.5, width=7, height=7, fill=colour)
    points = f"{_number(x)},{_number(y - 4.5)} {_number(x + 4.5)},{_number(y + 3.5)} " \
             f"{_number(x - 4.5)},{_number(y + 3.5)}"
    return SvgElement("polygon", points=points, fill=colour)


def _legend(svg: SvgElement, plot: _Plot, series: Sequence[Series], *, kind: str) -> None:
    legend = svg.add(SvgElement("g", class_="legend", aria_hidden="true"))
    x = plot.left
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        if kind == "line":
            legend.add(SvgElement("line", x1=x, x2=x + 18, y1=10, y2=10, stroke=colour,
                                  stroke_width=2, stroke_dasharray=DASHES[index % len(DASHES)]
                                  or None))
            legend.add(_marker(index, x + 9, 10, colour))
        else:
            legend.add(SvgElement("rect", x=x + 4, y=4, width=12, height=12, fill=colour))
        legend.add(SvgElement("text", one.name, x=x + 24, y=14, fill=AXIS_COLOUR))
        x += 34 + 7 * len(one.name)


def _chart(chart_id: str, title: str, description: str, svg: SvgElement,
           categories: Sequence[str], series: Sequence[Series], formatter: Formatter,
           row_header: str) -> Chart:
    rows = [
        (category, [formatter(one.values[position]) for one in series])
        for position, category in enumerate(categories)
    ]
    table = ChartTable(title, row_header, [one.name for one in series], rows)
    return Chart(chart_id, title, description, Markup(svg.render()), table,
                 [one.name for one in series])
