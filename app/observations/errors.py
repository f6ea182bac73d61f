"""Observations: recording, changing and reading what residents saw."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E(
        "observation.not_found",
        404,
        "Cette observation n'existe pas ou n'est plus visible.",
        "No observation the caller may see has this id.",
    ),
    E(
        "observation.not_observer",
        403,
        "Seule la personne qui a fait l'observation peut la modifier.",
        "The caller sees the observation but is not its observer.",
    ),
    E(
        "observation.not_editable",
        409,
        "Cette observation ne peut plus être modifiée à ce stade de son examen.",
        "A rejected observation cannot be edited; its photos can be removed only while it is "
        "pending or needs information.",
    ),
    E(
        "observation.client_id_in_flight",
        409,
        "L'envoi précédent est encore en cours : l'application va réessayer.",
        "Another request with the same `client_id` is being processed; send again.",
    ),
    E(
        "observation.not_an_object",
        422,
        "Une observation envoyée est illisible.",
        "In a batch, an item is not a JSON object.",
    ),
    E(
        "observation.null_not_allowed",
        422,
        "Ce champ ne peut pas être vidé.",
        "Field-level: a PATCH set to null a field that must keep a value.",
    ),
    E(
        "observation.observed_at_in_future",
        422,
        "La date d'observation est dans le futur.",
        "Field-level: `observed_at` is more than 10 minutes ahead of the server's clock.",
    ),
    E(
        "observation.observed_at_too_old",
        422,
        "La date d'observation est trop ancienne : elle doit être en 1900 ou après.",
        "Field-level: `observed_at` is before 1900.",
    ),
    E(
        "observation.invalid_characters",
        422,
        "Le texte contient des caractères non autorisés.",
        "Field-level: a text holds a NUL or characters that are not Unicode.",
    ),
    E(
        "observation.species_required",
        422,
        "Indiquez l'espèce observée.",
        "Neither `species_id` nor `cd_nom` was given.",
    ),
    E(
        "observation.unknown_species",
        422,
        "Cette espèce ne figure pas dans la liste de référence.",
        "`species_id` or `cd_nom` names no species of the reference.",
    ),
    E(
        "observation.species_mismatch",
        422,
        "L'espèce indiquée est incohérente : mettez à jour la liste des espèces.",
        "`cd_nom` is not the species `species_id` names.",
    ),
)
