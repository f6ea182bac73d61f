"""Every error code of the service, gathered from the domains' declarations.

Each domain declares its codes in its own ``errors.py``; this module is the one list of those
modules, above every domain, so that core never imports one. A new domain with errors adds its
module to ``DECLARATIONS``. ``python -m app.errors_doc`` writes ``docs/errors.md`` from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from app.accounts import errors as accounts
from app.baselines import errors as baselines
from app.classes import errors as classes
from app.core import catalogue as core
from app.core.catalogue import ErrorSpec
from app.exports import errors as exports
from app.media import errors as media
from app.observations import errors as observations
from app.privacy import errors as privacy
from app.review import errors as review
from app.species import errors as species
from app.stats import errors as stats
from app.surveys import errors as surveys
from app.zones import errors as zones

# In the order docs/errors.md shows them: the service's own first, then the domains.
DECLARATIONS: tuple[ModuleType, ...] = (
    core,
    accounts,
    privacy,
    observations,
    media,
    surveys,
    species,
    review,
    classes,
    stats,
    baselines,
    zones,
    exports,
)


@dataclass(frozen=True, slots=True)
class Group:
    """The codes one module declares: ``domain`` is its package (``core`` for the service's)."""

    domain: str
    module: str
    summary: str
    errors: tuple[ErrorSpec, ...]


def groups() -> list[Group]:
    """The declarations, domain by domain; a code declared twice is an error, so that two
    domains cannot give one code two meanings."""
    result, seen = [], dict[str, str]()
    for module in DECLARATIONS:
        domain = module.__name__.split(".")[1]
        errors: tuple[ErrorSpec, ...] = module.ERRORS
        for spec in errors:
            if spec.code in seen:
                raise ValueError(f"{spec.code} is declared in {seen[spec.code]} and {domain}")
            seen[spec.code] = domain
        summary = getattr(module, "SUMMARY", None) or (module.__doc__ or "").strip().split("\n")[0]
        result.append(Group(domain, module.__name__, summary, errors))
    return result


def catalogue() -> dict[str, ErrorSpec]:
    """Every declared code and its entry."""
    return {spec.code: spec for group in groups() for spec in group.errors}
