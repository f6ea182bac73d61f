"""Every table, imported in one place so that Alembic and the tests see the whole schema."""

from app.accounts.models import LoginThrottle, RefreshToken, TeacherInvitation, User
from app.audit.models import AuditEvent
from app.baselines.models import Baseline
from app.classes.models import Pupil, SchoolClass
from app.core import db as _db  # noqa: F401  (sets the naming convention first)
from app.media.models import ObservationPhoto
from app.observations.models import Observation
from app.records.models import ReviewDecision
from app.species.models import Species
from app.surveys.models import Site, Visit, VisitCount
from app.surveys.rollups import SiteYear, YearlyCell
from app.zones.models import Zone

__all__ = [
    "AuditEvent",
    "Baseline",
    "LoginThrottle",
    "Observation",
    "ObservationPhoto",
    "Pupil",
    "RefreshToken",
    "ReviewDecision",
    "SchoolClass",
    "Site",
    "SiteYear",
    "Species",
    "TeacherInvitation",
    "User",
    "Visit",
    "VisitCount",
    "YearlyCell",
    "Zone",
]
