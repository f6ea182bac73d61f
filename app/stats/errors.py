"""Stats: yearly counts, comparisons and TRIM trends."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E(
        "stats.invalid_year_range",
        422,
        "La période demandée n'est pas valable : l'année de début doit précéder celle de fin, "
        "sur une durée limitée.",
        "`from_year` comes after `to_year`, or the range spans too many years.",
    ),
    E(
        "stats.species_required",
        422,
        "Choisissez une espèce.",
        "Neither `species_id` nor `cd_nom` was given.",
    ),
    E(
        "stats.unknown_species",
        422,
        "Cette espèce ne figure pas dans la liste de référence.",
        "`species_id` or `cd_nom` names no species of the reference.",
    ),
    E(
        "stats.species_mismatch",
        422,
        "L'espèce indiquée est incohérente.",
        "`cd_nom` is not the species `species_id` names.",
    ),
    E(
        "stats.invalid_changepoints",
        422,
        "Les années de rupture doivent être des années séparées par des virgules (2012,2018).",
        "`changepoints` is not a comma-separated list of years.",
    ),
    E(
        "stats.invalid_slope_intervals",
        422,
        "Les bornes des intervalles de pente doivent être des années séparées par des virgules "
        "(2012,2018).",
        "`slope_intervals` is not a comma-separated list of years.",
    ),
    E(
        "trim.bad_slope_intervals",
        422,
        "Les bornes des intervalles de pente doivent être des années de la série.",
        "A year of `slope_intervals` is not one of the series' years.",
    ),
    E(
        "trim.stepwise_model",
        422,
        "La sélection pas à pas des années de rupture demande le modèle 2.",
        "`stepwise` was asked for with model 3, which has no changepoints to select.",
    ),
    E(
        "trim.no_sites",
        422,
        "Aucun site de suivi n'a compté cette espèce : pas de tendance possible.",
        "No survey site has counts of the species (validated visits, baselines tied to a site).",
    ),
    E(
        "trim.bad_base_year",
        422,
        "L'année de référence choisie ne fait pas partie des années comptées.",
        "`base_year` is not one of the series' years.",
    ),
    E(
        "trim.bad_input",
        422,
        "Les comptages ne permettent pas de calculer une tendance.",
        "TRIM's input is not usable (the default TRIM code).",
    ),
    E(
        "trim.bad_csv",
        422,
        "Le fichier de comptages n'est pas lisible.",
        "The command-line TRIM reader met a CSV line it cannot read.",
    ),
    E(
        "trim.no_positive_counts",
        422,
        "Aucun comptage n'est supérieur à zéro : pas de tendance possible.",
        "TRIM needs some counts above zero.",
    ),
    E(
        "trim.too_few_years",
        422,
        "Il faut des comptages positifs sur au moins deux années pour voir une tendance.",
        "Positive counts in fewer than two years.",
    ),
    E(
        "trim.not_estimable",
        422,
        "Les comptages sont trop peu nombreux pour estimer une tendance.",
        "The model's parameters cannot be estimated from these counts (singular information "
        "matrix, estimates running off).",
    ),
    E(
        "trim.no_convergence",
        422,
        "Le calcul de tendance n'aboutit pas avec ces comptages : essayez un modèle plus simple.",
        "The estimation does not converge; fit without serial correlation, or by maximum "
        "likelihood.",
    ),
)
