"""Media: the photos of an observation, their files and licences."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E(
        "photo.not_found",
        404,
        "Cette photo n'existe pas.",
        "No photo the caller may see has this id.",
    ),
    E(
        "photo.original_not_kept",
        404,
        "L'original de cette photo n'a pas été conservé.",
        "Only the resized copies of this photo are stored.",
    ),
    E(
        "photo.not_observer",
        403,
        "Seule la personne qui a fait l'observation peut retirer cette photo.",
        "Only the observer or an ecologist may remove the photo.",
    ),
    E(
        "photo.limit_reached",
        409,
        "Cette observation a déjà le nombre maximal de photos : supprimez-en une pour en "
        "ajouter une autre.",
        "The observation has `SENTINELLES_MAX_PHOTOS_PER_OBSERVATION` photos.",
    ),
    E("photo.empty", 415, "Le fichier de la photo est vide.", "The uploaded file has no bytes."),
    E(
        "photo.not_an_image",
        415,
        "Ce fichier n'est pas une photo (formats acceptés : JPEG, PNG, WebP, HEIC).",
        "The file is not a JPEG, PNG, WebP or HEIC/HEIF image.",
    ),
    E(
        "photo.undecodable",
        422,
        "La photo est abîmée et ne peut pas être lue.",
        "The image is damaged or truncated.",
    ),
    E(
        "photo.too_many_pixels",
        422,
        "La photo est trop grande : réduisez sa résolution.",
        "The image has more pixels than the service decodes.",
    ),
    E(
        "photo.too_large",
        413,
        "Le fichier de la photo est trop lourd.",
        "The file is larger than `SENTINELLES_MAX_PHOTO_BYTES`.",
    ),
    E(
        "photo.unknown_licence",
        422,
        "Cette licence de photo n'est pas proposée.",
        "Field-level: the licence is not one of those the service offers.",
    ),
    E(
        "photo.busy",
        503,
        "Beaucoup de photos sont en cours de traitement : l'application va renvoyer la vôtre "
        "dans un instant.",
        "Every photo worker is busy; send again after `Retry-After`.",
    ),
)
