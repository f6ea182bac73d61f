"""Zones: the territory's communes and areas, imported as GeoJSON."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E("zone.not_found", 404, "Cette zone n'existe pas.", "No zone has this id."),
    E(
        "zone.invalid_file",
        422,
        "Le fichier des zones ne peut pas être importé.",
        "The file is not readable GeoJSON, not a FeatureCollection, or holds no usable feature.",
    ),
    E(
        "zone.invalid_feature",
        422,
        "Une zone du fichier n'est pas valable.",
        "Field-level, under `zone.invalid_file`: one feature and why.",
    ),
)
