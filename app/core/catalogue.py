"""The error catalogue's vocabulary, and the errors of the service as a whole.

A code reaches the phone app in ``code`` (and in ``errors[].code``), which the app translates:
each domain declares its codes once, in its ``errors.py``, as :class:`ErrorSpec` entries with the
French message the app shows and what the code means to a developer. ``app.errors_catalogue``
gathers them (core imports no domain); ``docs/errors.md`` is written from it, and
``tests/core/test_error_catalogue.py`` checks that every code the source uses is declared and every
declared code is used. The raise statements keep their literal codes: the declarations are the
source of truth the tests hold them to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CODE_PATTERN = re.compile(r"^[a-z_]+(\.[a-z_]+)*$")


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One code as the app and the documentation know it.

    ``message`` is French, addressed to the resident holding the phone, as the CPIE would put it;
    ``meaning`` is English, for whoever reads the code or integrates with the API. ``status`` is
    the HTTP status the code comes with (a code on a field comes with the 422 that carries it; in
    a batch, a rejected item carries the code its record would have had alone).
    """

    code: str
    status: int
    message: str
    meaning: str

    def __post_init__(self) -> None:
        if not CODE_PATTERN.match(self.code):
            raise ValueError(f"{self.code!r} is not a code: lower case words joined by dots")
        if not 400 <= self.status <= 599:
            raise ValueError(f"{self.code}: {self.status} is not an error status")
        if not self.message or not self.meaning:
            raise ValueError(f"{self.code}: a code needs a French message and a meaning")


E = ErrorSpec

SUMMARY = "Core: requests, authentication and the service's own state, for every route."

ERRORS = (
    E(
        "request.invalid",
        422,
        "Certaines informations envoyées ne sont pas valables.",
        "The request failed validation; `errors` lists each field at fault. Also the default "
        "code of an `AppError` raised without one (status 400).",
    ),
    E(
        "request.malformed_json",
        422,
        "L'application a envoyé des données illisibles. Réessayez ; si cela persiste, "
        "mettez l'application à jour.",
        "The body is not valid JSON (or not UTF-8).",
    ),
    E(
        "json_invalid",
        422,
        "Les données envoyées sont illisibles.",
        "Field-level code of a body that is not JSON (Pydantic's name for it), under "
        "`request.malformed_json`.",
    ),
    E(
        "number_type",
        422,
        "Ce champ attend un nombre.",
        "Field-level: a number was expected (Pydantic's name; booleans and numeric text are "
        "refused too).",
    ),
    E(
        "datetime_type",
        422,
        "Cette date n'est pas lisible : il faut une date avec son heure et son fuseau.",
        "Field-level: a time must be RFC 3339 text with an offset (Pydantic's name).",
    ),
    E(
        "request.invalid_cursor",
        422,
        "La liste a changé entre-temps : rechargez-la depuis le début.",
        "The `cursor` is not one this service gave out for this list (damaged, or of another "
        "list).",
    ),
    E(
        "request.invalid_datetime",
        422,
        "La date indiquée n'est pas lisible.",
        "A time in the query string is not RFC 3339 with an offset.",
    ),
    E(
        "request.invalid_bbox",
        422,
        "La zone de carte demandée n'est pas valable.",
        "`bbox` must be four finite numbers `minlon,minlat,maxlon,maxlat` in WGS 84 degrees, "
        "in range, the minimum corner first.",
    ),
    E(
        "request.unstorable_text",
        422,
        "Un texte contient des caractères impossibles à enregistrer. Retirez-les et réessayez.",
        "A string holds a NUL or a lone surrogate, which no database stores.",
    ),
    E(
        "request.unstorable_value",
        422,
        "Une valeur envoyée ne peut pas être enregistrée.",
        "The database refused a value no validation caught (a number out of its range...).",
    ),
    E(
        "request.too_large",
        413,
        "L'envoi est trop volumineux.",
        "The body is larger than this route accepts (`SENTINELLES_MAX_JSON_BODY_BYTES`, or "
        "the photo limit).",
    ),
    E(
        "request.unsupported_media_type",
        415,
        "Ce type de fichier n'est pas accepté ici.",
        "The body's media type is not one this route reads.",
    ),
    E(
        "auth.unauthenticated",
        401,
        "Connectez-vous pour continuer.",
        "No access token was given, or the route needs one.",
    ),
    E(
        "auth.forbidden",
        403,
        "Vous n'avez pas le droit de faire cela.",
        "The caller is known but may not do this.",
    ),
    E(
        "not_found",
        404,
        "Cette page ou cet élément n'existe pas.",
        "No route or resource at this address.",
    ),
    E(
        "method_not_allowed",
        405,
        "Cette action n'est pas possible ici.",
        "The route exists but not with this HTTP method; `Allow` lists those it takes.",
    ),
    E(
        "conflict",
        409,
        "Cet envoi entre en conflit avec des données déjà enregistrées.",
        "A uniqueness or integrity rule of the database refused the write.",
    ),
    E(
        "rate_limited",
        429,
        "Trop de tentatives : patientez un moment avant de réessayer.",
        "Too many requests; wait the `Retry-After` seconds.",
    ),
    E(
        "internal",
        500,
        "Une erreur inattendue s'est produite. Réessayez plus tard.",
        "An unexpected error; it is logged, nothing of it is echoed.",
    ),
    E(
        "service.database_unavailable",
        503,
        "Le service est momentanément indisponible. Vos données restent sur le téléphone et "
        "seront envoyées plus tard.",
        "The database is not answering: nothing was stored; send again after `Retry-After`.",
    ),
    E(
        "service.busy",
        503,
        "Le service est très sollicité. Vos données seront envoyées dans un instant.",
        "No database connection came free in time: nothing was stored; send again after "
        "`Retry-After`.",
    ),
)
