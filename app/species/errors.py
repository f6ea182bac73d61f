"""Species: the reference list of species and its imports."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E(
        "species.not_found",
        404,
        "Cette espèce n'existe pas dans la liste de référence.",
        "No species has this id.",
    ),
    E(
        "species.cd_nom_taken",
        409,
        "Cette espèce est déjà dans la liste de référence.",
        "A species with this TAXREF `cd_nom` is already in the reference.",
    ),
    E(
        "species.null_not_allowed",
        422,
        "Ce champ ne peut pas être vidé.",
        "Field-level: a PATCH set to null a field of the species that must keep a value.",
    ),
    E(
        "species.invalid_characters",
        422,
        "Le texte contient des caractères non autorisés.",
        "Field-level: a name holds a control character or characters that are not Unicode.",
    ),
    E(
        "species.invalid_file",
        422,
        "Le fichier des espèces ne peut pas être importé : voyez les lignes en erreur.",
        "The species CSV cannot be imported; `errors` lists the rows at fault.",
    ),
    E(
        "species.invalid_row",
        422,
        "Cette ligne du fichier des espèces n'est pas valable.",
        "Field-level, under `species.invalid_file`: one row of the CSV and why.",
    ),
)
