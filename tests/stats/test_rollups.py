"""The rollups equal the from-scratch aggregate after any sequence of changes made through the
API (observations created, reviewed, edited, deleted; a species' sensitivity or taxon changed;
an account erased; survey visits posted, reviewed, deleted), on both databases: the tables
themselves, and the /stats answers read from them against the raw computation."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as run_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import Session, col, select

from app.core.settings import Settings
from app.core.vocabulary import Role
from app.species.models import Species
from app.stats.comparison import comparison_statistics
from app.stats.yearly import yearly_statistics
from app.surveys import rollups
from app.zones.models import Zone
from tests.factories import DEFAULT_PASSWORD, auth_headers, create_user, load_reference_data

SPECIES = (3696, 2938, 608364)  # swallow, peregrine, peacock butterfly
PLACES = ((50.4571, 2.7852), (50.43, 2.80))
YEARS = (2024, 2025)


def test_rollups_follow_every_change(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    session.commit()
    ecologist = create_user(session, settings, role=Role.ecologist)
    staff = auth_headers(ecologist, settings)
    loos = session.exec(select(Zone.id).where(col(Zone.code) == "62528")).one()

    reached = {"cells": 0, "site_years": 0}

    class Rollups(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.observations: list[tuple[str, dict[str, str]]] = []
            self.visits: list[tuple[str, dict[str, str]]] = []
            self.people: list[tuple[Any, dict[str, str]]] = []
            self.sites: list[tuple[str, dict[str, str]]] = []
            self.erased = False

        @initialize()
        def people_(self) -> None:
            for _ in range(2):
                user = create_user(session, settings)
                headers = auth_headers(user, settings)
                self.people.append((user, headers))
                for kind in ("nest_site", "garden"):
                    body = {
                        "client_id": str(uuid.uuid4()),
                        "kind": kind,
                        "name": "Façades" if kind == "nest_site" else "Jardin",
                        "latitude": PLACES[0][0],
                        "longitude": PLACES[0][1],
                    }
                    site = client.post("/sites", json=body, headers=headers)
                    assert site.status_code == 201, site.text
                    self.sites.append((site.json()["id"], headers))
            session.commit()
            # Something validated to start from, of each kind.
            self.observe(0, SPECIES[0], YEARS[0], 5, 3, "individuals", PLACES[0])
            self.review(0, "validated")
            self.visit(0, SPECIES[0], YEARS[0], 5, 4, True)
            self.review_visit(0, "validated")

        @rule(
            i=st.integers(0, 3),
            cd_nom=st.sampled_from(SPECIES),
            year=st.sampled_from(YEARS),
            month=st.integers(4, 8),
            figure=st.integers(0, 12),
            complete=st.booleans(),
        )
        def visit(
            self, i: int, cd_nom: int, year: int, month: int, figure: int, complete: bool
        ) -> None:
            site_id, headers = self.sites[i]
            nest_site = i % 2 == 0
            count = (
                {"cd_nom": cd_nom, "occupied": figure}
                if nest_site
                else {"cd_nom": cd_nom, "count": figure}
            )
            body = {
                "client_id": str(uuid.uuid4()),
                "started_at": f"{year}-{month:02d}-10T09:30:00+02:00",
                "duration_min": 30,
                "observers": 1,
                "complete": complete,
                "counts": [count],
            }
            answer = client.post(f"/sites/{site_id}/visits", json=body, headers=headers)
            if answer.status_code == 201:
                self.visits.append((answer.json()["id"], headers))

        @precondition(lambda self: bool(self.visits))
        @rule(i=st.integers(0, 50), decision=st.sampled_from(("validated", "rejected")))
        def review_visit(self, i: int, decision: str) -> None:
            if self.visits:
                vid, _ = self.visits[i % len(self.visits)]
                body = {"decision": decision}
                client.post(f"/visits/{vid}/review", json=body, headers=staff)

        @precondition(lambda self: bool(self.visits))
        @rule(i=st.integers(0, 50), complete=st.booleans())
        def edit_visit(self, i: int, complete: bool) -> None:
            if self.visits:
                vid, headers = self.visits[i % len(self.visits)]
                client.patch(f"/visits/{vid}", json={"complete": complete}, headers=headers)

        @precondition(lambda self: bool(self.visits))
        @rule(i=st.integers(0, 50))
        def delete_visit(self, i: int) -> None:
            if self.visits:
                vid, headers = self.visits[i % len(self.visits)]
                client.delete(f"/visits/{vid}", headers=headers)

        @rule(
            who=st.integers(0, 1),
            cd_nom=st.sampled_from(SPECIES),
            year=st.sampled_from(YEARS),
            month=st.integers(1, 12),
            count=st.integers(0, 30),
            unit=st.sampled_from(("individuals", "nests")),
            place=st.sampled_from(PLACES),
        )
        def observe(
            self, who: int, cd_nom: int, year: int, month: int, count: int, unit: str, place: Any
        ) -> None:
            _, headers = self.people[who]
            body = {
                "client_id": str(uuid.uuid4()),
                "cd_nom": cd_nom,
                "observed_at": f"{year}-{month:02d}-01T00:30:00+01:00",
                "latitude": place[0],
                "longitude": place[1],
                "count": count,
                "count_unit": unit,
            }
            answer = client.post("/observations", json=body, headers=headers)
            if answer.status_code == 201:
                self.observations.append((answer.json()["id"], headers))

        @precondition(lambda self: bool(self.observations))
        @rule(i=st.integers(0, 50), decision=st.sampled_from(("validated", "rejected")))
        def review(self, i: int, decision: str) -> None:
            if self.observations:
                oid, _ = self.observations[i % len(self.observations)]
                client.post(
                    f"/observations/{oid}/review", json={"decision": decision}, headers=staff
                )

        @precondition(lambda self: bool(self.observations))
        @rule(data=st.data())
        def review_many(self, data: st.DataObject) -> None:
            if self.observations:
                ids = data.draw(st.sets(st.sampled_from([o for o, _ in self.observations])))
                if ids:
                    client.post(
                        "/review/bulk",
                        json={"target": "observation", "ids": sorted(ids), "decision": "validated"},
                        headers=staff,
                    )

        @precondition(lambda self: bool(self.observations))
        @rule(i=st.integers(0, 50), count=st.integers(0, 30), year=st.sampled_from(YEARS))
        def edit(self, i: int, count: int, year: int) -> None:
            if self.observations:
                oid, headers = self.observations[i % len(self.observations)]
                client.patch(
                    f"/observations/{oid}",
                    json={"count": count, "observed_at": f"{year}-06-15T10:00:00+02:00"},
                    headers=headers,
                )

        @precondition(lambda self: bool(self.observations))
        @rule(i=st.integers(0, 50))
        def delete(self, i: int) -> None:
            if self.observations:
                oid, headers = self.observations[i % len(self.observations)]
                client.delete(f"/observations/{oid}", headers=headers)

        @rule(cd_nom=st.sampled_from(SPECIES), sensitive=st.booleans())
        def sensitivity(self, cd_nom: int, sensitive: bool) -> None:
            species = session.exec(select(Species).where(col(Species.cd_nom) == cd_nom)).one()
            client.patch(f"/species/{species.id}", json={"sensitive": sensitive}, headers=staff)

        @rule(cd_nom=st.sampled_from(SPECIES), into=st.sampled_from(SPECIES))
        def new_taxon(self, cd_nom: int, into: int) -> None:
            """A TAXREF update making one name a synonym of another (or accepted again)."""
            species = session.exec(select(Species).where(col(Species.cd_nom) == cd_nom)).one()
            species.cd_ref = into
            session.add(species)
            session.commit()

        @precondition(lambda self: bool(self.observations) and not self.erased)
        @rule()
        def erase(self) -> None:
            """The second person leaves: their records stay, attributed to no one named."""
            _, headers = self.people[1]
            answer = client.post("/me/delete", json={"password": DEFAULT_PASSWORD}, headers=headers)
            assert answer.status_code == 204, answer.text
            self.erased = True

        @invariant()
        def rollups_equal_the_aggregate(self) -> None:
            session.expire_all()
            cells, site_years = rollups.stored_cells(session), rollups.stored_site_years(session)
            assert cells == rollups.expected_cells(session)
            assert site_years == rollups.expected_site_years(session)
            reached["cells"] = max(reached["cells"], len(cells))
            reached["site_years"] = max(reached["site_years"], len(site_years))
            for staff_, zone_id in itertools.product((False, True), (None, loos)):
                kw: dict[str, Any] = {
                    "staff": staff_,
                    "species_id": None,
                    "cd_nom": None,
                    "zone_id": zone_id,
                    "from_year": YEARS[0],
                    "to_year": YEARS[-1],
                }
                assert yearly_statistics(session, settings, **kw) == yearly_statistics(
                    session, settings, **kw, raw=True
                )
                for year in YEARS:
                    args: dict[str, Any] = {"staff": staff_, "year": year, "zone_id": zone_id}
                    assert comparison_statistics(
                        session, settings, **args
                    ) == comparison_statistics(session, settings, **args, raw=True)

    run_state_machine_as_test(
        Rollups,
        settings=run_settings(
            max_examples=3,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    # The runs reached validated observations and visits, not only empty tables.
    assert reached["cells"] > 0 and reached["site_years"] > 0, reached
