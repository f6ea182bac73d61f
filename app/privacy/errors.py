"""Privacy: a person's own data, and deleting an account."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E(
        "auth.wrong_password",
        401,
        "Le mot de passe est incorrect.",
        "The password confirming an account's deletion is wrong; counted by the sign-in throttle.",
    ),
    E(
        "account.last_admin",
        409,
        "C'est le seul compte administrateur : nommez un autre administrateur avant de le "
        "supprimer.",
        "Deleting the only admin account is refused.",
    ),
)
