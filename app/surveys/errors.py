"""Surveys: survey sites and the visits counted at them."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E(
        "site.not_found",
        404,
        "Ce site de suivi n'existe pas.",
        "No site the caller may see has this id.",
    ),
    E(
        "site.not_owner",
        403,
        "Seule la personne qui a créé ce site peut le modifier ou y noter des visites.",
        "The caller does not own the site.",
    ),
    E(
        "site.client_id_in_flight",
        409,
        "L'envoi précédent est encore en cours : l'application va réessayer.",
        "Another request with the same `client_id` is being processed; send again.",
    ),
    E(
        "site.null_not_allowed",
        422,
        "Ce champ ne peut pas être vidé.",
        "Field-level: a PATCH set to null a field of the site that must keep a value.",
    ),
    E(
        "site.invalid_geometry",
        422,
        "Le tracé du site n'est pas valable.",
        "Field-level: the geometry is not a well-formed, valid GeoJSON Polygon or LineString.",
    ),
    E(
        "site.geometry_out_of_range",
        422,
        "Le tracé du site sort des coordonnées possibles.",
        "Field-level: a position is not [longitude, latitude] within WGS 84's range.",
    ),
    E(
        "site.geometry_too_large",
        422,
        "Le tracé du site a trop de points : simplifiez-le.",
        "Field-level: the geometry has more vertices than accepted.",
    ),
    E(
        "site.geometry_kind_mismatch",
        422,
        "Le tracé ne convient pas à ce type de site.",
        "Field-level: the geometry does not suit the site's kind (a transect needs a line, a "
        "nest site takes none).",
    ),
    E(
        "visit.not_found",
        404,
        "Cette visite n'existe pas.",
        "No visit the caller may see has this id.",
    ),
    E(
        "visit.not_observer",
        403,
        "Seule la personne qui a fait la visite peut la modifier.",
        "The caller is not the visit's observer (nor, to delete it, the site's owner or an "
        "ecologist).",
    ),
    E(
        "visit.not_editable",
        409,
        "Cette visite a été écartée après examen : elle ne peut plus être modifiée.",
        "A rejected visit cannot be edited.",
    ),
    E(
        "visit.client_id_in_flight",
        409,
        "L'envoi précédent est encore en cours : l'application va réessayer.",
        "Another request with the same `client_id` is being processed; send again.",
    ),
    E(
        "visit.not_an_object",
        422,
        "Une visite envoyée est illisible.",
        "In a batch, an item is not a JSON object.",
    ),
    E(
        "visit.null_not_allowed",
        422,
        "Ce champ ne peut pas être vidé.",
        "Field-level: a PATCH set to null a field of the visit that must keep a value.",
    ),
    E(
        "visit.started_at_in_future",
        422,
        "La date de la visite est dans le futur.",
        "Field-level: `started_at` is more than 10 minutes ahead of the server's clock.",
    ),
    E(
        "visit.started_at_too_old",
        422,
        "La date de la visite est trop ancienne : elle doit être en 1900 ou après.",
        "Field-level: `started_at` is before 1900.",
    ),
    E(
        "visit.site_required",
        422,
        "Indiquez le site de la visite.",
        "Neither `site_id` nor `site_client_id` was given.",
    ),
    E(
        "visit.unknown_site",
        422,
        "Ce site de suivi est inconnu ou ne vous appartient pas.",
        "The visit's site is not one of the caller's.",
    ),
    E(
        "visit.species_required",
        422,
        "Indiquez l'espèce comptée.",
        "A count gives neither `species_id` nor `cd_nom`.",
    ),
    E(
        "visit.unknown_species",
        422,
        "Cette espèce ne figure pas dans la liste de référence.",
        "A count's species is not in the reference.",
    ),
    E(
        "visit.species_mismatch",
        422,
        "L'espèce indiquée est incohérente : mettez à jour la liste des espèces.",
        "A count's `cd_nom` is not the species its `species_id` names.",
    ),
    E(
        "visit.duplicate_species",
        422,
        "Cette espèce est comptée deux fois dans la visite.",
        "The same species (and `artificial`, at a nest site) appears twice in `counts`.",
    ),
    E(
        "visit.count_kind_mismatch",
        422,
        "Ce comptage ne convient pas à ce type de site : nids pour un site de nidification, "
        "individus ailleurs.",
        "A nest site counts nests (`occupied`...), other sites count individuals (`count`).",
    ),
    E(
        "visit.count_required",
        422,
        "Indiquez le nombre d'individus vus (0 si aucun).",
        "A count at a site that counts individuals has no `count`.",
    ),
    E(
        "visit.occupied_required",
        422,
        "Indiquez le nombre de nids occupés (0 si aucun).",
        "A count at a nest site has no `occupied`.",
    ),
    E(
        "visit.not_a_nesting_species",
        422,
        "Sur un site de nidification, on ne compte que les nids d'hirondelles, de martinets "
        "et autres oiseaux.",
        "A nest site's count names a species that is not a bird.",
    ),
)
