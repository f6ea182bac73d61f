"""Classes: a teacher's class, its pupils, their tokens and invitations."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E(
        "class.not_found",
        404,
        "Cette classe est introuvable : vérifiez le code de la classe.",
        "No class of the teacher's has this id, or no open class has this join code.",
    ),
    E(
        "class.closed",
        409,
        "Cette classe est fermée.",
        "The class was closed: its join code can no longer be renewed.",
    ),
    E(
        "class.full",
        409,
        "La classe est complète.",
        "The class already has `SENTINELLES_MAX_PUPILS_PER_CLASS` pupils.",
    ),
    E(
        "class.pseudonym_taken",
        409,
        "Ce pseudonyme est déjà pris dans la classe : choisissez-en un autre.",
        "Another pupil of the class has this pseudonym.",
    ),
    E(
        "class.not_its_observation",
        422,
        "Certaines observations choisies ne sont pas celles de la classe.",
        "Some ids checked by the teacher are not observations of the class.",
    ),
    E(
        "class.too_many_attempts",
        429,
        "Trop de codes de classe essayés : patientez avant de réessayer.",
        "The join throttle blocks this address until `Retry-After`.",
    ),
    E(
        "auth.pupil_not_allowed",
        403,
        "Avec le compte de la classe, cette action n'est pas possible.",
        "A pupil's token records and reads the class's own data only.",
    ),
    E(
        "auth.pupil_revoked",
        401,
        "La classe est fermée ou vous n'en faites plus partie.",
        "The pupil's token no longer works: the class closed or the pupil was removed.",
    ),
    E(
        "user.invalid_invitation",
        422,
        "Ce code d'invitation est inconnu, déjà utilisé ou expiré.",
        "The invitation code given at sign-up cannot be used.",
    ),
)
