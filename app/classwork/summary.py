"""A class's year of nature watching, for the classroom: what it saw, how many, and when first.

The class's account is the observer, so everything its pupils recorded counts, pending records
included: children want to see what they found today, not what the CPIE has reviewed by now.
Rejected and deleted records stay out, as do the sites the class deleted. A year is the
territory's local year: an observation at 23:30 UTC on 31 December is New Year's Day in Paris.

Each year is one SQL statement: the observations and the visits' counts as one set of records,
aggregated per ``cd_ref`` (so a synonym stays with its taxon), then named after the accepted
species. A visit counts once per species however many of its rows name it (natural nests and
nest boxes); a visit row with no figure, or a zero, is a species the class looked for and did
not see, so it is left out.

The HTML page and the SVG chart are meant for a projector at the back of a classroom: large
type, French throughout, nothing fetched from elsewhere (a school network may block it).
"""

from __future__ import annotations

import html
import io
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sqlalchemy import func, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from app.classes.models import SchoolClass
from app.classes.schemas import ClassSummary, SpeciesSeen, YearSummary
from app.core.settings import Settings
from app.observations.models import Observation, ObservationStatus
from app.species.models import Species
from app.species.taxref import fold
from app.surveys.aggregates import year_start
from app.surveys.models import Site, Visit, VisitCount

# The swallows' return: any hirundine or swift. A full TAXREF import fills ``family``; the
# shipped reference does not, so its swallows, martins and swift are named by ``cd_ref``.
SWALLOW_FAMILIES = frozenset({"Hirundinidae", "Apodidae"})
SWALLOW_CD_REFS = frozenset(
    {
        3696,  # Hirondelle rustique
        459478,  # Hirondelle de fenêtre
        3688,  # Hirondelle de rivage
        3551,  # Martinet noir
    }
)

# The machine's locale may not be French: month names are spelt out here.
MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

THIS_YEAR_COLOUR = "#1565c0"
LAST_YEAR_COLOUR = "#9e9e9e"
NOTHING_YET = "Aucune observation pour l'instant"


@dataclass(frozen=True, slots=True)
class _Taxon:
    cd_ref: int
    shown: Species
    observations: int
    count: int
    first_date: date

    @property
    def is_swallow(self) -> bool:
        if self.shown.family:
            return self.shown.family in SWALLOW_FAMILIES
        return self.cd_ref in SWALLOW_CD_REFS


def class_summary(
    session: Session, settings: Settings, school_class: SchoolClass, year: int
) -> ClassSummary:
    """The class's year and the year before, both of the same account: a class continuing
    last year's sees what last year's pupils found, which is the point of continuing it."""
    return ClassSummary(
        class_id=school_class.id,
        name=school_class.name,
        school=school_class.school,
        year=year,
        this_year=_year(session, settings, school_class.account_id, year),
        last_year=_year(session, settings, school_class.account_id, year - 1),
    )


def _year(session: Session, settings: Settings, account_id: uuid.UUID, year: int) -> YearSummary:
    taxa = _taxa(session, settings, account_id, year)
    swallows = [t.first_date for t in taxa if t.is_swallow]
    return YearSummary(
        year=year,
        observations=sum(t.observations for t in taxa),
        species=[
            SpeciesSeen(
                species_id=t.shown.id,
                cd_nom=t.shown.cd_nom,
                vernacular_name=t.shown.vernacular_name,
                scientific_name=t.shown.scientific_name,
                observations=t.observations,
                count=t.count,
                first_date=t.first_date,
            )
            for t in taxa
        ],
        swallows_return=min(swallows, default=None),
    )


def _taxa(session: Session, settings: Settings, account_id: uuid.UUID, year: int) -> list[_Taxon]:
    """The year's taxa in the order a class tells its story: first seen first."""
    tz = settings.tz
    start, end = year_start(year, tz), year_start(year + 1, tz)
    rejected = ObservationStatus.rejected.value
    observed: Any = sa_select(
        col(Observation.id).label("record"),
        col(Observation.species_id).label("species_id"),
        col(Observation.count).label("figure"),
        col(Observation.observed_at).label("at"),
    ).where(
        col(Observation.observer_id) == account_id,
        col(Observation.deleted_at).is_(None),
        col(Observation.status) != rejected,
        col(Observation.observed_at) >= start,
        col(Observation.observed_at) < end,
    )
    figure = func.coalesce(col(VisitCount.count), col(VisitCount.occupied), 0)
    counted = (
        sa_select(col(Visit.id), col(VisitCount.species_id), figure, col(Visit.started_at))
        .select_from(Visit)
        .join(Site, col(Site.id) == col(Visit.site_id))
        .join(VisitCount, col(VisitCount.visit_id) == col(Visit.id))
        .where(
            col(Site.owner_id) == account_id,
            col(Site.deleted_at).is_(None),
            col(Visit.deleted_at).is_(None),
            col(Visit.status) != rejected,
            col(Visit.started_at) >= start,
            col(Visit.started_at) < end,
            figure > 0,
        )
    )
    records = union_all(observed, counted).subquery("records")
    per_taxon = (
        sa_select(
            col(Species.cd_ref).label("cd_ref"),
            func.count(func.distinct(records.c.record)).label("observations"),
            func.sum(records.c.figure).label("total"),
            func.min(records.c.at).label("first_at"),
            # A taxon whose accepted name is not in the reference is shown by one of its own.
            func.min(col(Species.cd_nom)).label("any_cd_nom"),
        )
        .select_from(records)
        .join(Species, col(Species.id) == records.c.species_id)
        .group_by(col(Species.cd_ref))
        .subquery("per_taxon")
    )
    accepted = aliased(Species, name="accepted")
    named = aliased(Species, name="named")
    statement = (
        sa_select(
            per_taxon.c.cd_ref,
            per_taxon.c.observations,
            per_taxon.c.total,
            per_taxon.c.first_at,
            accepted,
            named,
        )
        .select_from(per_taxon)
        .outerjoin(accepted, col(accepted.cd_nom) == per_taxon.c.cd_ref)
        .join(named, col(named.cd_nom) == per_taxon.c.any_cd_nom)
    )
    taxa = [
        _Taxon(
            cd_ref=cd_ref,
            shown=accepted_species if accepted_species is not None else named_species,
            observations=int(n),
            count=int(total or 0),
            first_date=first_at.astimezone(tz).date(),
        )
        for cd_ref, n, total, first_at, accepted_species, named_species in session.execute(
            statement
        )
    ]
    taxa.sort(key=lambda t: (t.first_date, fold(_name(t.shown)), t.cd_ref))
    return taxa


def _name(species: Species | SpeciesSeen) -> str:
    return species.vernacular_name or species.scientific_name


# --- French words ----------------------------------------------------------------------------


def french_date(day: date, *, with_year: bool = True) -> str:
    """« 1er avril 2026 », « 14 avril »: how a French classroom writes a date."""
    number = "1er" if day.day == 1 else str(day.day)
    text = f"{number} {MONTHS_FR[day.month - 1]}"
    return f"{text} {day.year}" if with_year else text


def _number(value: int) -> str:
    """French thousands: « 1 250 » (a narrow no-break space, so a figure never wraps)."""
    return f"{value:,}".replace(",", "\u202f")


def new_species(summary: ClassSummary) -> list[SpeciesSeen]:
    """This year's species that last year's records do not hold, in this year's order."""
    before = {s.cd_nom for s in summary.last_year.species}
    return [s for s in summary.this_year.species if s.cd_nom not in before]


# --- the HTML page ---------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 2rem 3vw; font-family: "Atkinson Hyperlegible", Verdana, Arial,
  sans-serif; font-size: 24px; line-height: 1.4; color: #1b1b1b; background: #fff; }
header { border-bottom: 6px solid #2e7d32; margin-bottom: 1.5rem; padding-bottom: .5rem; }
h1 { font-size: 2.6rem; margin: 0; color: #1b5e20; }
.school { font-size: 1.5rem; margin: .2rem 0 0; }
.year { font-size: 1.3rem; margin: .2rem 0 0; color: #424242; }
h2 { font-size: 1.6rem; margin: 0 0 .6rem; color: #0d47a1; }
.highlights { display: flex; flex-wrap: wrap; gap: 1rem 2rem; margin-bottom: 1.5rem; }
.highlight { font-size: 1.6rem; font-weight: bold; background: #e3f2fd; border-radius: .5rem;
  padding: .6rem 1rem; margin: 0; }
.highlight small { font-weight: normal; font-size: 1.1rem; color: #37474f; }
.back { font-size: 1.1rem; margin-bottom: .4rem; }
.back a { color: #0d47a1; }
/* One year under the other on a classroom projector (1024 px): each table has the width its
   four columns need on one line; side by side only on a screen wide enough for both. */
.years { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 40em), 1fr));
  gap: 1rem 2rem; margin-bottom: 2rem; }
.new { margin-bottom: 1.5rem; }
caption { text-align: left; font-size: 1.1rem; color: #37474f; margin-bottom: .3rem; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #cfd8dc;
  vertical-align: top; }
th { background: #eceff1; font-size: 1.05rem; white-space: nowrap; }
td.n, th.n { text-align: right; white-space: nowrap; }
td time { white-space: nowrap; }
tr:nth-child(even) td { background: #fafafa; }
.sci { display: block; font-size: .8rem; font-style: italic; color: #546e7a; }
.empty { font-style: italic; color: #616161; }
.new ul { columns: 2 18rem; margin: 0; padding-left: 1.4rem; font-size: 1.3rem; }
.new li { margin-bottom: .2rem; }
figure { margin: 2rem 0 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 1rem; color: #546e7a; }
@media (max-width: 40rem) {
  body { font-size: 17px; padding: 1rem 4vw; }
  h1 { font-size: 2rem; }
  th, td { padding: .3rem .25rem; }
  th { white-space: normal; font-size: .9rem; }
  .highlight { font-size: 1.25rem; }
}
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _species_cell(species: SpeciesSeen) -> str:
    if species.vernacular_name:
        return (
            f"{_e(species.vernacular_name)}"
            f'<span class="sci" lang="la">{_e(species.scientific_name)}</span>'
        )
    return f'<i lang="la">{_e(species.scientific_name)}</i>'


def _time(day: date, *, with_year: bool = True) -> str:
    return f'<time datetime="{day.isoformat()}">{french_date(day, with_year=with_year)}</time>'


def _year_table(title: str, year: YearSummary, *, empty: str) -> str:
    heading = f"<h2>{title} ({year.year})</h2>"
    if not year.species:
        return f'<section>{heading}<p class="empty">{empty}</p></section>'
    rows = "\n".join(
        "<tr>"
        f"<td>{_species_cell(s)}</td>"
        f'<td class="n">{_number(s.observations)}</td>'
        f'<td class="n">{_number(s.count)}</td>'
        f"<td>{_time(s.first_date)}</td>"
        "</tr>"
        for s in year.species
    )
    species = len(year.species)
    caption = (
        f"{_number(species)} espèce{'s' if species > 1 else ''}, "
        f"{_number(year.observations)} observation{'s' if year.observations > 1 else ''}"
    )
    return (
        f"<section>{heading}<table><caption>{caption}</caption>"
        '<thead><tr><th scope="col">Espèce</th><th scope="col" class="n">Observations</th>'
        '<th scope="col" class="n">Nombre</th><th scope="col">Première observation</th>'
        f"</tr></thead><tbody>\n{rows}\n</tbody></table></section>"
    )


def _swallows(summary: ClassSummary) -> str:
    this, last = summary.this_year.swallows_return, summary.last_year.swallows_return
    text = _time(this, with_year=False) if this else "pas encore vues"
    before = f" <small>(l'année dernière : {_time(last, with_year=False)})</small>" if last else ""
    return f'<p class="highlight">Retour des hirondelles : {text}{before}</p>'


def _new_species(summary: ClassSummary) -> str:
    heading = f"<h2>Nouvelles espèces cette année (pas vues en {summary.last_year.year})</h2>"
    found = new_species(summary)
    if not found:
        empty = "Aucune nouvelle espèce pour l'instant."
        return f'<section class="new">{heading}<p class="empty">{empty}</p></section>'
    items = "\n".join(
        f"<li>{_e(_name(s))} <small>({_time(s.first_date, with_year=False)})</small></li>"
        for s in found
    )
    return f'<section class="new">{heading}<ul>\n{items}\n</ul></section>'


def _back_link(back: tuple[str, str] | None) -> str:
    if back is None:
        return ""
    link = f'<a href="{_e(back[0])}">{_e(back[1])}</a>'
    return f'<nav class="back" aria-label="Retour">{link}</nav>\n'


def _inline_svg(svg: bytes, label: str) -> str:
    """The chart as markup in the page: a standalone file's XML prologue has no place there."""
    text = svg.decode("utf-8")
    text = text[text.index("<svg") :]
    return text.replace("<svg", f'<svg role="img" aria-label="{_e(label)}"', 1)


def summary_html(summary: ClassSummary, *, back: tuple[str, str] | None = None) -> str:
    """A whole page that opens from a USB key as well as from the server: its style and its
    chart are inside it, and every name a person typed is escaped. ``back``: a link (address,
    words) above the title, to the page the teacher came from."""
    name, school = _e(summary.name), _e(summary.school)
    chart_label = f"Nombre compté par espèce en {summary.year} et en {summary.year - 1}"
    this = summary.this_year
    species = len(this.species)
    past_empty = "Aucune observation cette année-là."
    return f"""<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} · {school} · {summary.year}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
{_back_link(back)}<h1>{name}</h1>
<p class="school">{school}</p>
<p class="year">Observer la nature · année {summary.year}</p>
</header>
<main>
<div class="highlights">
{_swallows(summary)}
<p class="highlight">{_number(species)} espèce{"s" if species > 1 else ""} \
observée{"s" if species > 1 else ""} cette année</p>
</div>
{_new_species(summary)}
<div class="years">
{_year_table("Espèces observées cette année", this, empty=f"{NOTHING_YET}.")}
{_year_table("Espèces observées l'année dernière", summary.last_year, empty=past_empty)}
</div>
<figure>
{_inline_svg(summary_svg(summary), chart_label)}
<figcaption>{_e(chart_label)} : individus (ou nids) comptés, toutes observations \
additionnées.</figcaption>
</figure>
</main>
</body>
</html>
"""


# --- the SVG chart ---------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Text matplotlib draws as typed: one line, and a ``$`` never starts mathematics."""
    return " ".join(text.split()).replace("$", r"\$")


def _render_svg(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No date in the file, as app.stats.charts: the same figures give the same drawing.
    figure.savefig(buffer, format="svg", bbox_inches="tight", dpi=120, metadata={"Date": None})
    return buffer.getvalue()


def summary_svg(summary: ClassSummary) -> bytes:
    """Each species' count this year beside last year's: the class sees at a glance what came
    back, what is new and what it has not found again yet."""
    this = {s.cd_nom: s for s in summary.this_year.species}
    last = {s.cd_nom: s for s in summary.last_year.species}
    order = list(this) + [cd for cd in last if cd not in this]
    names = [_plain(_name(this.get(cd) or last[cd])) for cd in order]
    title = f"{_plain(summary.name)} : nombre compté par espèce"
    subtitle = f"{_plain(summary.school)} · {summary.year} comparé à {summary.year - 1}"

    if not order:
        figure = Figure(figsize=(8, 2.5))
        axes = figure.subplots()
        axes.set_axis_off()
        axes.text(0.5, 0.5, NOTHING_YET, ha="center", va="center", fontsize=18, color="#424242")
        axes.set_title(f"{title}\n{subtitle}", fontsize=13)
        return _render_svg(figure)

    figure = Figure(figsize=(9, max(3.0, 0.6 * len(order) + 1.8)))
    axes = figure.subplots()
    height = 0.4
    positions = list(range(len(order)))
    bars: list[tuple[Any, list[int]]] = []
    for offset, seen, colour, label in (
        (-height / 2, this, THIS_YEAR_COLOUR, f"cette année ({summary.year})"),
        (height / 2, last, LAST_YEAR_COLOUR, f"l'an dernier ({summary.year - 1})"),
    ):
        values = [seen[cd].count if cd in seen else 0 for cd in order]
        container = axes.barh(
            [y + offset for y in positions], values, height=height, color=colour, label=label
        )
        bars.append((container, values))
    for container, values in bars:
        axes.bar_label(
            container, labels=[_number(v) if v else "" for v in values], padding=3, fontsize=10
        )
    axes.set_yticks(positions, names, fontsize=11)
    axes.invert_yaxis()
    axes.margins(x=0.12)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(
        "nombre compté (individus ou nids), toutes observations additionnées", fontsize=11
    )
    axes.set_title(f"{title}\n{subtitle}", fontsize=13)
    axes.grid(axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    axes.legend(loc="best", fontsize=10)
    return _render_svg(figure)
