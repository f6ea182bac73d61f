"""``sentinelles trim``: the TRIM engine of :mod:`app.stats.trim` on any CSV file.

The command needs no database and no settings: an ecologist can check a data set, or compare
with the original TRIM, before anything is loaded into the service. The engine is imported when
the command runs, so that NumPy and SciPy do not slow down every other command's start.
Data the engine cannot fit, and files it cannot read, end in one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.stats.labels import Convention

if TYPE_CHECKING:
    from app.stats.trim import OverallSlope, SlopeEstimate, TimePoint, TrimResult

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def trim(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with the columns site, year (or time) and count; an empty count is a "
            "missing count. Comma, semicolon or tab separated.",
            dir_okay=False,
            show_default=False,
        ),
    ],
    model: Annotated[
        int,
        typer.Option(
            help="2: a linear trend on the log scale (broken at --changepoints); "
            "3: a parameter for every year.",
            min=2,
            max=3,
        ),
    ] = 3,
    changepoints: Annotated[
        str | None,
        typer.Option(
            help="Model 2: where the slope may change, comma-separated, as years of the data "
            "or as time points 1, 2, … (e.g. 1,2). The first year always is one.",
            show_default=False,
        ),
    ] = None,
    stepwise: Annotated[
        bool,
        typer.Option(
            "--stepwise",
            help="Model 2: select among --changepoints (default: every year but the last) as "
            "TRIM does: remove the least significant change of slope (Wald test, p > 0.20), put "
            "back a removed one whose score test gives p < 0.15, until stable. The first year "
            "is kept.",
        ),
    ] = False,
    slope_intervals: Annotated[
        str | None,
        typer.Option(
            "--slope-intervals",
            help="Also give the overall slope between these years (or time points), "
            "comma-separated: from the first year to the first given, then to the next, … to "
            "the last year, both ends included (e.g. 1984,1985).",
            show_default=False,
        ),
    ] = None,
    overdispersion: Annotated[
        bool,
        typer.Option(
            "--overdispersion",
            help="Estimate σ², how much more variable the counts are than Poisson; the "
            "standard errors grow with it.",
        ),
    ] = False,
    serial_correlation: Annotated[
        bool,
        typer.Option(
            "--serial-correlation",
            help="Estimate ρ, the correlation of a site's counts in consecutive years, and fit "
            "by GEE with it.",
        ),
    ] = False,
    weights: Annotated[
        str | None,
        typer.Option(
            help="Column holding each site's weight in the time totals (e.g. the inverse of "
            "its stratum's sampling rate).",
            show_default=False,
        ),
    ] = None,
    covariate: Annotated[
        str | None,
        typer.Option(
            help="Column holding each site's class (e.g. habitat): each class gets its own "
            "time effects.",
            show_default=False,
        ),
    ] = None,
    base_year: Annotated[
        int | None,
        typer.Option(help="Year whose index is 1 (default: the first year).", show_default=False),
    ] = None,
    convention: Annotated[
        Convention,
        typer.Option(
            help="The convention of the trend's label in the JSON (slope.*.label): pecbms "
            "(TRIM 3, the European schemes: the multiplicative slope ± 1.96 SE) or rtrim "
            "(exp(add ± t·SE), n − 2 degrees of freedom). The class beside it stays TRIM's.",
        ),
    ] = Convention.pecbms,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object (sigma2, rho, chi2, lr, df, aic, totals, indices, "
            "slope, changepoints, stepwise, slope_intervals) instead of tables.",
        ),
    ] = False,
) -> None:
    """Yearly indices and trend from site × year counts with gaps (TRIM).

    TRIM (Statistics Netherlands) fits a log-linear model to the counts,
    fills the missing ones with it, and gives the time totals and indices
    (model and imputed, with standard errors), the overall slope and its
    class (strong increase … steep decline), σ², ρ and the goodness of fit.

    Without --overdispersion and --serial-correlation the fit is Poisson
    maximum likelihood, as in TRIM; monitoring schemes switch both on.
    --stepwise keeps only the changepoints the data support; --slope-intervals
    adds the overall slope of each interval between the years given.
    """
    from app.stats.trim import TrimError, fit_trim, read_trim_csv

    cps = _parse_changepoints(changepoints)
    intervals = _parse_years(slope_intervals, "--slope-intervals")
    try:
        data = read_trim_csv(file, weights=weights, covariate=covariate)
        result = fit_trim(
            data,
            model=model,
            changepoints=cps,
            overdispersion=overdispersion,
            serial_correlation=serial_correlation,
            base_year=base_year,
            stepwise=stepwise,
            slope_intervals=intervals,
        )
    except TrimError as exc:
        raise _fail(f"{file.name}: {exc.message}") from None

    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    if as_json:
        from app.stats import labels

        labels.remember_support(result, data)
        body = result.to_dict()
        for name, slope in (("model", result.slope_model), ("imputed", result.slope_imputed)):
            label = labels.trend_label(result, slope, convention=convention)
            if label is not None and body["slope"].get(name) is not None:
                body["slope"][name]["label"] = label.to_dict()
        typer.echo(json.dumps(body, indent=2))
    else:
        _print_result(result, file.name)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code=1)


def _parse_changepoints(text: str | None) -> list[int] | None:
    return _parse_years(text, "--changepoints")


def _parse_years(text: str | None, option: str) -> list[int] | None:
    if text is None or not text.strip():
        return None
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise _fail(
            f"{option} wants whole numbers separated by commas, such as 1,2; not {text!r}"
        ) from None


# --- the readable report -----------------------------------------------------------------------


def _print_result(result: TrimResult, name: str) -> None:
    kind = "a parameter per year" if result.model == 3 else "linear trend"
    if result.model == 2 and len(result.changepoints) > 1:
        kind += ", changepoints " + ", ".join(map(str, result.changepoints))
    extras = [
        label
        for label, on in (
            ("overdispersion", result.overdispersion),
            ("serial correlation", result.serial_correlation),
        )
        if on
    ]
    method = "GEE with " + " and ".join(extras) if extras else "maximum likelihood"
    years = f"{result.years[0]}-{result.years[-1]}"
    out.print(
        f"[bold]TRIM model {result.model}[/] ({kind}), {method}, on {escape(name)}: "
        f"{len(result.sites)} sites, {years}, {result.n_observed} counts, "
        f"{result.n_missing} missing"
    )

    fit = Table(title="Fit", show_header=False, title_justify="left")
    fit.add_column(style="bold")
    fit.add_column(justify="right")
    if result.sigma2 is not None:
        fit.add_row("overdispersion σ²", f"{result.sigma2:.3f}")
    if result.rho is not None:
        fit.add_row("serial correlation ρ", f"{result.rho:.3f}")
    fit.add_row("χ²", f"{result.chi2:.2f}  (df {result.df}, p {result.chi2_p:.4f})")
    fit.add_row("likelihood ratio", f"{result.lr:.2f}  (df {result.df}, p {result.lr_p:.4f})")
    fit.add_row("AIC (up to a constant)", f"{result.aic:.2f}")
    for test in result.wald:
        fit.add_row(f"Wald: {test.name}", f"{test.statistic:.2f}  (df {test.df}, p {test.p:.4f})")
    out.print(fit)

    coefs = Table(title="Time parameters (log scale)", title_justify="left")
    if result.covariate_classes:
        coefs.add_column("class")
    coefs.add_column("years" if result.model == 2 else "year", justify="right")
    for column in ("additive", "se", "multiplicative", "se"):
        coefs.add_column(column, justify="right")
    for c in result.coefficients:
        span = str(c.from_year) if c.from_year == c.to_year else f"{c.from_year}-{c.to_year}"
        row = [span, f"{c.add:.4f}", f"{c.add_se:.4f}", f"{c.mul:.4f}", f"{c.mul_se:.4f}"]
        if result.covariate_classes:
            row.insert(0, escape(c.covariate_class or f"{result.covariate_classes[0]} (base)"))
        coefs.add_row(*row)
    out.print(coefs)

    indices = _yearly_table(f"Indices (base year {result.base_year})")
    for p in result.indices:
        indices.add_row(str(p.year), *(f"{v:.4f}" for v in _values(p)))
    out.print(indices)
    totals = _yearly_table("Time totals")
    for p in result.totals:
        decimals = 0 if min(abs(p.model), abs(p.imputed)) >= 100 else 2
        totals.add_row(str(p.year), *(f"{v:,.{decimals}f}" for v in _values(p)))
    out.print(totals)

    slopes = Table(title="Overall slope", title_justify="left")
    slopes.add_column("from")
    for column in ("additive", "se", "multiplicative", "se"):
        slopes.add_column(column, justify="right")
    slopes.add_column("trend")
    for label, slope in (("imputed", result.slope_imputed), ("model", result.slope_model)):
        slopes.add_row(label, *_slope_cells(slope))
    out.print(slopes)
    tests = [
        f"{label} {_p_cell(slope.p)}"
        for label, slope in (("imputed", result.slope_imputed), ("model", result.slope_model))
        if slope is not None
    ]
    if tests:
        df = len(result.years) - 2
        out.print(f"p of the overall slope (t, {df} df): {', '.join(tests)}")

    if result.slope_intervals is not None:
        per = Table(title="Overall slope per interval", title_justify="left")
        per.add_column("years")
        per.add_column("from")
        for column in ("additive", "se", "multiplicative", "se"):
            per.add_column(column, justify="right")
        per.add_column("trend")
        per.add_column("p", justify="right")
        for interval in result.slope_intervals:
            span = f"{interval.from_year}-{interval.to_year}"
            for label, estimate in (("imputed", interval.imputed), ("model", interval.model)):
                per.add_row(span, label, *_estimate_cells(estimate))
        out.print(per)

    if result.stepwise is not None:
        steps = Table(title="Stepwise selection of changepoints", title_justify="left")
        for column in ("step", "changepoint", "test", "statistic", "df", "p", "changepoints"):
            steps.add_column(column, justify="left" if column == "changepoints" else "right")
        for s in result.stepwise:
            steps.add_row(
                str(s.iteration),
                f"{'removed' if s.action == 'remove' else 'added'} {s.changepoint}",
                s.test,
                f"{s.statistic:.2f}",
                str(s.df),
                f"{s.p:.4f}",
                ", ".join(map(str, s.changepoints)),
            )
        out.print(steps)
        kept = ", ".join(map(str, result.changepoints))
        out.print(f"changepoints kept: {kept}")


def _yearly_table(title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("year", justify="right")
    for column in ("model", "se", "imputed", "se"):
        table.add_column(column, justify="right")
    return table


def _values(p: TimePoint) -> tuple[float, float, float, float]:
    return p.model, p.model_se, p.imputed, p.imputed_se


def _p_cell(p: float | None) -> str:
    return "-" if p is None else f"{p:.4f}"


def _estimate_cells(estimate: SlopeEstimate | None) -> list[str]:
    if estimate is None:
        return ["-", "-", "-", "-", "undefined (a total is zero)", "-"]
    trend = estimate.slope_class.value if estimate.slope_class else "unknown (df <= 0)"
    return [
        f"{estimate.add:.4f}",
        f"{estimate.add_se:.4f}",
        f"{estimate.mul:.4f}",
        f"{estimate.mul_se:.4f}",
        trend,
        _p_cell(estimate.p),
    ]


def _slope_cells(slope: OverallSlope | None) -> list[str]:
    if slope is None:
        return ["-", "-", "-", "-", "undefined (a total is zero)"]
    return [
        f"{slope.add:.4f}",
        f"{slope.add_se:.4f}",
        f"{slope.mul:.4f}",
        f"{slope.mul_se:.4f}",
        slope.slope_class.value,
    ]
