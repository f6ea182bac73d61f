"""Exports: the open-data snapshot and its files."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E(
        "open_data.contact_placeholder",
        409,
        "Les données ne peuvent pas être publiées : l'adresse de contact du jeu de données est "
        "encore celle d'exemple. Renseignez-la dans la configuration.",
        "`SENTINELLES_DATASET_CONTACT_EMAIL` is still the shipped placeholder: a published "
        "dataset needs a real contact.",
    ),
    E(
        "open_data.publish_running",
        409,
        "Une publication est déjà en cours. Réessayez dans quelques minutes.",
        "Another snapshot is being built.",
    ),
    E(
        "open_data.not_found",
        404,
        "Ce fichier n'est pas (encore) publié.",
        "No snapshot was published yet, or it holds no file of that name.",
    ),
)
