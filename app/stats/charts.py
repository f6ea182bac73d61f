"""Pictures of the statistics, in French, for a classroom projector or the town's bulletin.

Drawn with matplotlib's object interface (``Figure``, never ``pyplot``: no global state, so that
requests drawing at once in several threads do not draw on each other's figures, and no screen
is needed) into SVG or PNG bytes. Each chart says in words what it shows: a teacher projects it
without a legend to explain. Numbers are written the French way (``number_fr``: "−8,9 %",
"1 234"), on the axes too (``french_axis``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from app.stats.labels import format_fr, trend_label
from app.stats.schemas import ComparisonItem
from app.stats.trim import TrimResult

Z95 = 1.96
COLOURS = {
    "increase": "#2e7d32",
    "stable": "#607d8b",
    "decline": "#c62828",
    "new": "#1565c0",
    "not_seen": "#9e9e9e",
}
STATUS_FR = {
    "increase": "en hausse",
    "stable": "stable",
    "decline": "en baisse",
    "new": "nouvelle",
    "not_seen": "non revue",
}
SLOPE_FR = {
    "strong increase": "forte augmentation",
    "moderate increase": "augmentation modérée",
    "stable": "stable",
    "uncertain": "incertaine",
    "moderate decline": "déclin modéré",
    "steep decline": "fort déclin",
}


UNIT_FR = {"individuals": "individus", "nests": "nids", "presence": "présence"}
NOT_REPORTED = "non revue cette année"


def number_fr(value: float, digits: int | None = None, *, sign: bool = False) -> str:
    """``value`` the French way (``app.stats.labels.format_fr``: "−1 234,5", a minus sign, a
    narrow no-break space between thousands, a decimal comma); ``digits`` None: as many
    decimals as needed, up to six (for an axis' ticks: "0,5", "1", "1,5")."""
    if digits is None:
        shown = round(value, 6)
        text = f"{shown:.6f}".rstrip("0")
        digits = len(text.split(".")[1]) if "." in text else 0
    return format_fr(value, digits, signed=sign)


def percent_fr(value: float, digits: int = 0, *, sign: bool = True) -> str:
    """``−8,9 %`` from ``-8.9`` (a value already in %), as ``format_fr`` writes it."""
    return format_fr(value, digits, signed=sign, percent=True)


def french_axis(digits: int | None = None) -> FuncFormatter:
    """A tick formatter writing an axis' numbers with ``number_fr``:
    ``axes.yaxis.set_major_formatter(french_axis())``."""
    return FuncFormatter(lambda value, _position: number_fr(value, digits))


def _render(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, bbox_inches="tight", dpi=120, metadata=_metadata(fmt))
    return buffer.getvalue()


def _metadata(fmt: str) -> dict[str, str | None]:
    # No date in the file: the same figures give the same bytes (ETags, tests).
    return {"Date": None} if fmt == "svg" else {}


def _mark_intervals(axes: Axes, result: TrimResult) -> None:
    """The slopes per interval (``slope_intervals``): a dotted line at each joint and, above
    each interval, its yearly change in French (« 2015–2020 : −3,2 %/an »)."""
    if not result.slope_intervals:
        return
    for interval in result.slope_intervals[1:]:
        axes.axvline(interval.from_year, color="#6a1b9a", linestyle=":", linewidth=1.5)
    for interval in result.slope_intervals:
        estimate = interval.imputed
        text = "—" if estimate is None else format_fr((estimate.mul - 1) * 100, 1, signed=True)
        axes.text(
            (interval.from_year + interval.to_year) / 2,
            0.97,
            f"{interval.from_year}–{interval.to_year} : {text} %/an",
            transform=axes.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=8,
            color="#6a1b9a",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5},
        )


def trend_chart(
    result: TrimResult, *, title: str, fmt: str = "svg", convention: str = "pecbms"
) -> bytes:
    """The yearly index (imputed) with its 95 % band and the base year's level as a line; the
    trend's label (``app.stats.labels``) under the title, or « données insuffisantes pour une
    tendance » written across the chart when the data are too few for one."""
    years = [p.year for p in result.indices]
    index = [p.imputed for p in result.indices]
    low = [max(0.0, p.imputed - Z95 * p.imputed_se) for p in result.indices]
    high = [p.imputed + Z95 * p.imputed_se for p in result.indices]
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    axes.fill_between(
        years, low, high, color="#90caf9", alpha=0.5, label="intervalle de confiance à 95 %"
    )
    axes.plot(years, index, color="#0d47a1", marker="o", linewidth=2, label="indice annuel")
    axes.axhline(
        1.0, color="#e65100", linestyle="--", linewidth=1.5, label=f"référence {result.base_year}"
    )
    axes.set_xlabel("année")
    axes.set_ylabel(f"indice (1 = {result.base_year})")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_fr(v, 2)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))
    slope = result.slope_imputed
    label = trend_label(result, slope, convention=convention)
    subtitle = ""
    if label is not None and label.insufficient:
        subtitle = "tendance : données insuffisantes"
        axes.text(
            0.5,
            0.5,
            "données insuffisantes pour une tendance",
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=14,
            color="#555",
            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "#999"},
        )
    elif slope is not None and label is not None and label.interval is not None:
        verdict = SLOPE_FR.get(label.slope_class, label.slope_class)
        if label.significance is not None:
            verdict += f" ({label.significance.replace('0.', '0,')})"
        subtitle = (
            f"tendance : {verdict}, "
            f"{format_fr((slope.mul - 1) * 100, 1, signed=True, percent=True)} par an "
            f"(IC 95 % {format_fr((label.interval.lower - 1) * 100, 1, signed=True)} à "
            f"{format_fr((label.interval.upper - 1) * 100, 1, signed=True, percent=True)})"
        )
    _mark_intervals(axes, result)
    axes.set_title(f"{title}\n{subtitle}", fontsize=11)
    axes.set_xticks(years[:: max(1, len(years) // 12)])
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="best", fontsize=8)
    figure.text(
        0.01,
        -0.02,
        f"{len(result.sites)} sites suivis · modèle TRIM {result.model}",
        fontsize=8,
        color="#555",
    )
    return _render(figure, fmt)


@dataclass(frozen=True, slots=True)
class ComparisonBar:
    """A species' line on the comparison chart: its change in % (None: no bar) and status, or
    a note written in place of the bar."""

    name: str
    change_pct: float | None
    status: str
    note: str | None = None


def comparison_bars(items: Sequence[ComparisonItem]) -> list[ComparisonBar]:
    """The chart's lines for ``GET /stats/comparison``'s items: a species not reported at all
    that year gets « non revue cette année » in place of a bar, one reported in another unit
    than its baseline's a note saying so; neither is a −100 % bar."""
    bars = []
    for item in items:
        note = None
        if item.compared_figure == "none" and item.baseline_count is not None:
            note = (
                f"vue, mais pas de comptage en {UNIT_FR.get(item.unit, item.unit)}"
                if item.reported and item.unit != "presence"
                else NOT_REPORTED
            )
        bars.append(
            ComparisonBar(
                name=item.vernacular_name or item.scientific_name,
                change_pct=None if note else item.change_pct,
                status=item.status.value,
                note=note,
            )
        )
    return bars


LEGEND_ORDER = ("increase", "stable", "decline", "new", "not_seen")


def comparison_chart(rows: Sequence[ComparisonBar], *, title: str, fmt: str = "svg") -> bytes:
    """Each species' change against its baseline, in %, coloured by status with a legend of
    the colours; a species without a comparable figure gets its note written instead of a bar."""
    rows = list(rows)
    height = max(2.5, 0.35 * len(rows) + 1.8)
    figure = Figure(figsize=(8, height))
    axes = figure.subplots()
    positions = list(range(len(rows)))
    values = [row.change_pct if row.change_pct is not None else 0.0 for row in rows]
    drawn = [i for i, row in enumerate(rows) if row.change_pct is not None]
    axes.barh(
        [positions[i] for i in drawn],
        [values[i] for i in drawn],
        color=[COLOURS.get(rows[i].status, "#607d8b") for i in drawn],
    )
    # The axis spans what is drawn (a decline stops at −100 %), with room for the labels, and
    # for words written in place of a bar, on the right of 0 to about half the width.
    low, high = min([*values, 0.0]), max([*values, 0.0])
    span = max(high - low, 20.0)
    left, right = low - 0.35 * span, high + 0.25 * span
    if any(row.change_pct is None for row in rows):
        right = max(right, -1.25 * left)
    gap = (right - left) * 0.01
    for y, row in zip(positions, rows, strict=True):
        if row.note is not None:
            axes.text(
                gap,
                y,
                row.note,
                va="center",
                ha="left",
                fontsize=8,
                style="italic",
                color="#555",
            )
        elif row.change_pct is None:  # new, or a baseline of 0
            axes.text(
                gap,
                y,
                STATUS_FR.get(row.status, row.status),
                va="center",
                fontsize=8,
                color=COLOURS.get(row.status, "#333"),
            )
        else:
            pct = row.change_pct
            axes.text(
                pct + (gap if pct >= 0 else -gap),
                y,
                percent_fr(pct, 0 if float(pct).is_integer() else 1),
                va="center",
                ha="left" if pct >= 0 else "right",
                fontsize=8,
            )
    axes.set_xlim(left, right)
    axes.set_yticks(positions, [row.name for row in rows], fontsize=9)
    axes.set_ylim(max(len(rows), 1) - 0.5, -0.5)  # the first species on top, room for the last
    axes.axvline(0, color="#333", linewidth=0.8)
    axes.xaxis.set_major_formatter(french_axis())
    axes.set_xlabel("évolution par rapport à l'inventaire de référence (%)")
    axes.set_title(title, fontsize=11)
    axes.grid(axis="x", alpha=0.3)
    shown = {rows[i].status for i in drawn}
    handles = [
        Patch(color=COLOURS[status], label=STATUS_FR[status])
        for status in LEGEND_ORDER
        if status in shown
    ]
    if handles:
        axes.legend(
            handles=handles,
            loc="upper center",
            # below the axis' label: about 0.55 inch under the axes, whatever their height
            bbox_to_anchor=(0.5, -0.55 / (0.77 * height)),
            ncol=len(handles),
            fontsize=8,
            frameon=False,
        )
    return _render(figure, fmt)
