"""Review: ecologists' decisions on observations and visits."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E(
        "review.unknown_ids",
        422,
        "Certains éléments choisis n'existent plus : rien n'a été modifié.",
        "Some ids of a bulk review name nothing reviewable; nothing was changed.",
    ),
    E(
        "review.unknown_id",
        422,
        "Cet élément n'existe plus.",
        "Field-level, under `review.unknown_ids`: this id names no record (or a deleted one).",
    ),
)
