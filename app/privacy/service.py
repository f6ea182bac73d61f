"""A participant's data: the export they may download, and the deletion of their account.

Deleting an account anonymises it rather than removing it. Observations, visits and sites are
the survey's science (yearly series, validated records others have built on): they keep their
ids and their foreign keys, and stay attributed to the same row, emptied of everything that
names the person. What goes:

- the e-mail address, the display name and the password (no one can sign in as the row again,
  and the address is free for a new account);
- refresh tokens, and the sign-in throttle row keyed by the address;
- what photos' metadata said (GPS position, time taken) and the original uploads, which carry
  all of it; the re-encoded files, stripped of metadata on upload, stay with the observation;
- site names, which often hold an address or a person's name ("Jardin de Camille"): each
  becomes the neutral name of its kind.

What stays, on purpose: the notes of observations and visits. They describe the sighting (where
on the façade, how many fledglings) and the CPIE reviews them; removing them would change
validated records. This is a judgment call: a note could name someone, and the CPIE may edit
such a note by hand.

The audit trail records the anonymisation without the values erased: writing the old address
there would defeat the erasure.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, delete, select

from app.accounts import throttle
from app.accounts.models import RefreshToken, User
from app.accounts.schemas import PASSWORD_MAX_LENGTH
from app.accounts.service import load_user
from app.audit import service as audit
from app.audit.models import AuditAction, AuditEntity, AuditEvent
from app.core.db import utcnow
from app.core.errors import Conflict, Unauthorized
from app.core.security import verify_password
from app.core.settings import Settings
from app.core.viewer import Viewer
from app.core.vocabulary import Role
from app.media.models import ObservationPhoto, PhotoVariant
from app.media.storage import Storage
from app.observations.models import Observation
from app.observations.photos import _file_actions, photo_key
from app.observations.visibility import present
from app.privacy.schemas import (
    AccountExport,
    AuditEventExport,
    PersonalDataExport,
    ReviewDecisionExport,
)
from app.records.models import ReviewDecision, ReviewTarget
from app.species.models import Species
from app.surveys.models import Site, Visit, VisitCount
from app.surveys.presenting import present_site, present_visit
from app.surveys.yearly import SiteKind

ANONYMOUS_NAME = "Participant anonyme"
# Not an argon2 hash: verifying any password against it fails, at once.
UNUSABLE_PASSWORD_HASH = "!"
ERASED = "[effacé]"
NEUTRAL_SITE_NAMES = {
    SiteKind.nest_site.value: "Façade",
    SiteKind.garden.value: "Jardin",
    SiteKind.transect.value: "Transect",
}


class WrongPassword(throttle.PersistentFailure, Unauthorized):
    """The password given to confirm a deletion is wrong; raised after the failure was counted
    in the account's sign-in throttle (a stolen access token must not become a way to guess)."""

    code = "auth.wrong_password"

    def __init__(self) -> None:
        super().__init__("The password is wrong.")


def anonymised_email(user_id: uuid.UUID) -> str:
    """Unique (it holds the id), lower-case, and in the reserved ``.invalid`` domain without a
    dot, which registration refuses: no one can take it beforehand to block a deletion."""
    return f"anonymised-{user_id.hex}@invalid"


def export_filename(exported_at: datetime) -> str:
    return f"sentinelles-export-{exported_at.date().isoformat()}.json"


# --- export ----------------------------------------------------------------------------------


def export_personal_data(session: Session, user: User) -> PersonalDataExport:
    """Everything held about ``user``, in seven queries whatever the amount of data: each kind
    of row is read once, filtered on the user in SQL (no list of ids is sent back)."""
    exported_at = utcnow()
    own_observations = select(Observation.id).where(
        col(Observation.observer_id) == user.id, col(Observation.deleted_at).is_(None)
    )
    own_visits = select(Visit.id).where(
        col(Visit.observer_id) == user.id, col(Visit.deleted_at).is_(None)
    )

    photos: dict[uuid.UUID, list[ObservationPhoto]] = defaultdict(list)
    for photo in session.exec(
        select(ObservationPhoto)
        .where(col(ObservationPhoto.observation_id).in_(own_observations))
        .order_by(
            col(ObservationPhoto.observation_id),
            col(ObservationPhoto.position),
            col(ObservationPhoto.created_at),
        )
    ):
        photos[photo.observation_id].append(photo)
    observations = [
        present(obs, species, Viewer.of(user), photos=photos.get(obs.id, ()))
        for obs, species in session.exec(
            select(Observation, Species)
            .join(Species, col(Species.id) == col(Observation.species_id))
            .where(col(Observation.id).in_(own_observations))
            .order_by(col(Observation.observed_at), col(Observation.id))
        )
    ]

    sites = [
        present_site(site)
        for site in session.exec(
            select(Site)
            .where(col(Site.owner_id) == user.id, col(Site.deleted_at).is_(None))
            .order_by(col(Site.created_at), col(Site.id))
        )
    ]

    counts: dict[uuid.UUID, list[tuple[VisitCount, int]]] = defaultdict(list)
    for count, cd_nom in session.exec(
        select(VisitCount, Species.cd_nom)
        .join(Species, col(Species.id) == col(VisitCount.species_id))
        .where(col(VisitCount.visit_id).in_(own_visits))
        .order_by(col(Species.cd_nom), col(VisitCount.artificial))
    ):
        counts[count.visit_id].append((count, cd_nom))
    visits = [
        present_visit(visit, SiteKind(kind), counts.get(visit.id, []))
        for visit, kind in session.exec(
            select(Visit, Site.kind)
            .join(Site, col(Site.id) == col(Visit.site_id))
            .where(col(Visit.id).in_(own_visits))
            .order_by(col(Visit.started_at), col(Visit.id))
        )
    ]

    decisions = [
        ReviewDecisionExport(
            target=ReviewTarget(row.target),
            target_id=row.target_id,
            decision=row.decision,
            comment=row.comment,
            created_at=row.created_at,
        )
        for row in session.exec(
            select(ReviewDecision)
            .where(
                or_(
                    and_(
                        col(ReviewDecision.target) == ReviewTarget.observation.value,
                        col(ReviewDecision.target_id).in_(own_observations),
                    ),
                    and_(
                        col(ReviewDecision.target) == ReviewTarget.visit.value,
                        col(ReviewDecision.target_id).in_(own_visits),
                    ),
                )
            )
            .order_by(col(ReviewDecision.created_at), col(ReviewDecision.id))
        )
    ]

    events = [
        AuditEventExport.model_validate(event)
        for event in session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.actor_id) == user.id)
            .order_by(col(AuditEvent.at), col(AuditEvent.id))
        )
    ]

    return PersonalDataExport(
        exported_at=exported_at,
        account=AccountExport.model_validate(user),
        observations=observations,
        sites=sites,
        visits=visits,
        review_decisions=decisions,
        audit_events=events,
    )


# --- deletion --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeletionAttempt:
    """What the read-only first step of a deletion found: the password hash to verify."""

    user_id: uuid.UUID
    password_hash: str


def start_account_deletion(session: Session, *, user_id: uuid.UUID) -> DeletionAttempt:
    """The first step of a deletion, read-only: 429 while the account's sign-in throttle
    refuses it, otherwise the hash to verify the password against.

    Like a sign-in, a deletion is split in three (``start_account_deletion``,
    ``verify_deletion_password``, ``delete_account``) so that the argon2 verification runs with
    no transaction open, holding neither SQLite's write lock nor a pooled connection.
    """
    user = load_user(session, user_id)
    throttle.check(session, throttle.throttle_key("account", user.email))
    return DeletionAttempt(user_id=user.id, password_hash=user.password_hash)


def verify_deletion_password(attempt: DeletionAttempt, password: str, settings: Settings) -> bool:
    """The costly step, to run outside any transaction."""
    return len(password) <= PASSWORD_MAX_LENGTH and verify_password(
        password, attempt.password_hash, settings
    )


def delete_account(
    session: Session,
    settings: Settings,
    storage: Storage,
    attempt: DeletionAttempt,
    *,
    verified: bool,
) -> None:
    """Anonymises the account once its password is confirmed; see the module's docstring.

    The password is checked like a sign-in: throttled on the same ``account:<email>`` key (429
    while it is blocked, checked again here since failures may have been counted while the
    password was verified), each wrong one counted (``WrongPassword``, 401; the caller must keep
    the session's writes, see ``throttle.FailureKeepingSession``). A password verified against a
    hash that has changed since confirms nothing. The last admin may not leave (409
    ``account.last_admin``): no one could then manage roles.
    """
    user = load_user(session, attempt.user_id)
    account_key = throttle.throttle_key("account", user.email)
    throttle.check(session, account_key)
    if not verified or user.password_hash != attempt.password_hash:
        throttle.record_failure(session, account_key, settings)
        raise WrongPassword()
    if user.role == Role.admin.value:
        _ensure_another_admin(session, user)
    anonymise(session, storage, user=user)


def _ensure_another_admin(session: Session, user: User) -> None:
    """409 unless an admin other than ``user`` remains. The admins' rows are locked
    (PostgreSQL; SQLite writers take turns anyway), so that two admins leaving at the same
    time cannot each count the other and leave none."""
    admins = session.exec(
        select(User.id)
        .where(col(User.role) == Role.admin.value, col(User.anonymised_at).is_(None))
        .with_for_update()
    ).all()
    if all(admin_id == user.id for admin_id in admins):
        raise Conflict(
            "This is the only admin account: make another account admin before deleting it.",
            code="account.last_admin",
        )


def anonymise(session: Session, storage: Storage, *, user: User) -> None:
    """Empties ``user`` of everything personal, in the caller's unit of work; the original
    photo files go once it is committed (they stay if it rolls back, as the rows say)."""
    now = utcnow()
    old_email, old_role = user.email, user.role

    _forget_photo_metadata(session, storage, user_id=user.id)
    _rename_sites(session, user_id=user.id, actor_id=user.id, at=now)
    session.exec(delete(RefreshToken).where(col(RefreshToken.user_id) == user.id))
    throttle.reset(session, throttle.throttle_key("account", old_email))

    user.email = anonymised_email(user.id)
    user.display_name = ANONYMOUS_NAME
    user.password_hash = UNUSABLE_PASSWORD_HASH
    user.role = Role.sentinel.value
    # The consent to be named goes with the name (the open data never names an anonymised
    # account anyway).
    user.credit_by_name = False
    user.anonymised_at = now
    user.updated_at = now
    session.add(user)

    changes: dict[str, list[object]] = {
        "email": [ERASED, user.email],
        "display_name": [ERASED, ANONYMOUS_NAME],
        "password_hash": [ERASED, UNUSABLE_PASSWORD_HASH],
        "anonymised_at": [None, now],
    }
    if old_role != user.role:
        changes["role"] = [old_role, user.role]
    audit.record(
        session,
        actor_id=user.id,
        entity=AuditEntity.user,
        entity_id=user.id,
        action=AuditAction.anonymise,
        changes=changes,
        at=now,
    )
    session.flush()


def _forget_photo_metadata(session: Session, storage: Storage, *, user_id: uuid.UUID) -> None:
    """Clears what the EXIF of the user's photos said, on their observations deleted or not,
    and schedules the removal of the originals kept (after the commit, like any photo file)."""
    own_photos = or_(
        col(ObservationPhoto.uploader_id) == user_id,
        col(ObservationPhoto.observation_id).in_(
            select(Observation.id).where(col(Observation.observer_id) == user_id)
        ),
    )
    originals = session.exec(
        select(ObservationPhoto.observation_id, ObservationPhoto.id).where(
            own_photos, col(ObservationPhoto.has_original)
        )
    ).all()
    session.exec(
        update(ObservationPhoto)
        .where(own_photos)
        .values(exif_latitude=None, exif_longitude=None, exif_taken_at=None, has_original=False)
        .execution_options(synchronize_session=False)
    )
    if originals:
        on_commit = _file_actions(session).on_commit
        for observation_id, photo_id in originals:
            key = photo_key(observation_id, photo_id, PhotoVariant.original)
            on_commit.append(functools.partial(storage.delete, key))


def _rename_sites(
    session: Session, *, user_id: uuid.UUID, actor_id: uuid.UUID, at: datetime
) -> None:
    """Gives each of the user's sites (deleted ones too) the neutral name of its kind, and
    records each renaming without the old name."""
    for site in session.exec(select(Site).where(col(Site.owner_id) == user_id)):
        neutral = NEUTRAL_SITE_NAMES.get(site.kind, ANONYMOUS_NAME)
        if site.name == neutral:
            continue
        site.name = neutral
        site.updated_at = at
        session.add(site)
        audit.record(
            session,
            actor_id=actor_id,
            entity=AuditEntity.site,
            entity_id=site.id,
            action=AuditAction.anonymise,
            changes={"name": [ERASED, neutral]},
            at=at,
        )
