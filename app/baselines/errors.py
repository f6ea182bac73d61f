"""Baselines: the historical counts ecologists import."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E(
        "baseline.not_found",
        404,
        "Cette série de référence n'existe pas.",
        "No baseline has this id.",
    ),
    E(
        "baseline.invalid_file",
        422,
        "Le fichier ne peut pas être importé : voyez les lignes en erreur.",
        "The baseline CSV cannot be imported; `errors` lists the rows at fault.",
    ),
    E(
        "baseline.row",
        422,
        "Cette ligne du fichier n'est pas valable.",
        "Field-level, under `baseline.invalid_file`: one row and why.",
    ),
    E(
        "baseline.too_large",
        422,
        "Le fichier dépasse 4 Mo : découpez-le.",
        "The CSV is larger than 4 MiB.",
    ),
    E(
        "baseline.not_text",
        422,
        "Le fichier n'est pas un fichier texte lisible (UTF-8 ou Windows-1252).",
        "The file is neither UTF-8 nor Windows-1252 text.",
    ),
)
