"""Pictures of the statistics, in French, for a classroom projector or the town's bulletin.

Drawn with matplotlib's object interface (``Figure``, never ``pyplot``: no global state, so that
requests drawing at once in several threads do not draw on each other's figures, and no screen
is needed) into SVG or PNG bytes. Each chart says in words what it shows: a teacher projects it
without a legend to explain.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from app.stats.labels import format_fr, trend_label
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


def comparison_chart(
    rows: Sequence[tuple[str, float | None, str]], *, title: str, fmt: str = "svg"
) -> bytes:
    """Each species' change against its baseline, in %, coloured by status;
    ``rows`` are (name, change in % or None, status)."""
    rows = list(rows)
    height = max(2.5, 0.35 * len(rows) + 1.2)
    figure = Figure(figsize=(8, height))
    axes = figure.subplots()
    names = [name for name, _, _ in rows]
    values = [pct if pct is not None else 0.0 for _, pct, _ in rows]
    colours = [COLOURS.get(status, "#607d8b") for _, _, status in rows]
    positions = list(range(len(rows)))
    axes.barh(positions, values, color=colours)
    for y, (_, pct, status) in zip(positions, rows, strict=True):
        label = STATUS_FR.get(status, status) if pct is None else f"{pct:+.0f} %"
        axes.text(0, y, f" {label}", va="center", fontsize=8)
    axes.set_yticks(positions, names, fontsize=9)
    axes.invert_yaxis()
    axes.axvline(0, color="#333", linewidth=0.8)
    axes.set_xlabel("évolution par rapport à l'inventaire de référence (%)")
    axes.set_title(title, fontsize=11)
    axes.grid(axis="x", alpha=0.3)
    return _render(figure, fmt)
