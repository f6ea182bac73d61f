"""Accounts: signing up and in, tokens, roles, the sign-in throttle."""

from __future__ import annotations

from app.core.catalogue import ErrorSpec as E

ERRORS = (
    E(
        "auth.invalid_token",
        401,
        "Votre session a expiré : reconnectez-vous.",
        "The access token is invalid or expired, or its account no longer exists.",
    ),
    E(
        "auth.invalid_credentials",
        401,
        "L'adresse e-mail ou le mot de passe est incorrect.",
        "Wrong e-mail or password; the failure counts in the sign-in throttle.",
    ),
    E(
        "auth.invalid_refresh_token",
        401,
        "Votre session n'est plus valable : reconnectez-vous.",
        "The refresh token is not one this service gave out.",
    ),
    E(
        "auth.refresh_token_expired",
        401,
        "Votre session a expiré : reconnectez-vous.",
        "The refresh token is past its lifetime.",
    ),
    E(
        "auth.refresh_token_reused",
        401,
        "Par sécurité, votre session a été fermée : reconnectez-vous.",
        "A refresh token already used came back: its whole family was revoked.",
    ),
    E(
        "auth.email_taken",
        409,
        "Un compte existe déjà avec cette adresse e-mail.",
        "Sign-up with an address another account uses.",
    ),
    E(
        "user.display_name_contact",
        422,
        "Choisissez un nom d'affichage qui ne soit ni une adresse e-mail ni un numéro de "
        "téléphone : il est visible des autres participants.",
        "Field-level: the display name looks like an e-mail address or a phone number.",
    ),
    E(
        "auth.email_invalid",
        422,
        "Cette adresse e-mail n'est pas valable.",
        "Field-level: the e-mail address is not well formed.",
    ),
    E(
        "auth.password_too_short",
        422,
        "Le mot de passe est trop court.",
        "Field-level: the password has fewer characters than the minimum.",
    ),
    E(
        "auth.password_too_long",
        422,
        "Le mot de passe est trop long.",
        "Field-level: the password has more characters than the maximum.",
    ),
    E(
        "auth.role_required",
        403,
        "Cette action est réservée à l'équipe du CPIE.",
        "The route needs a role the account does not have (ecologist, admin).",
    ),
    E(
        "auth.too_many_attempts",
        429,
        "Trop de tentatives de connexion : patientez avant de réessayer.",
        "The sign-in throttle blocks this address or account until `Retry-After`.",
    ),
    E("user.not_found", 404, "Ce compte n'existe pas.", "No user has this id."),
    E(
        "user.null_not_allowed",
        422,
        "Ce champ ne peut pas être vidé.",
        "Field-level: a PATCH set to null a field of the profile that must keep a value.",
    ),
)
