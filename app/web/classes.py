"""``/classes``: a teacher's classes, opening one, its page for the board (the join code large,
with a QR code), its summary for the projector, and closing it at the end of the year.

Every action goes through the services of the API's ``/classes`` routes
(``app.classes.service``, ``app.classwork``), with the same checks: a teacher sees only their
own classes (another's is a 404, as in the API). Pupils appear by their pseudonym only.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app.classes import service
from app.classes.models import SchoolClass
from app.classes.schemas import ClassCreate
from app.classwork import service as classwork
from app.classwork import summary
from app.core.db import utcnow
from app.core.deps import SessionDep, SettingsDep
from app.core.headers import API_CSP
from app.web.auth import CSRF, TeacherPage
from app.web.templating import render

router = APIRouter(include_in_schema=False)

# Long enough for any honest value: the service's own limits (120, 200) answer at the field.
FORM_TEXT = 2000

FIELD_MESSAGES = {
    ("name", "string_too_short"): "Indiquez le nom de la classe, par exemple « CM1 B ».",
    ("name", "string_too_long"): "Le nom de la classe tient en 120 caractères au plus.",
    ("school", "string_too_short"): "Indiquez le nom de l'école.",
    ("school", "string_too_long"): "Le nom de l'école tient en 200 caractères au plus.",
    ("school_year", "value_error"): "Écrivez l'année scolaire sous la forme 2025-2026.",
    ("continues", "uuid_parsing"): "Choisissez une classe de la liste.",
}


def current_school_year(today: date) -> str:
    """« 2025-2026 » from September 2025 to August 2026."""
    start = today.year if today.month >= 9 else today.year - 1
    return f"{start}-{start + 1}"


def qr_svg(text: str, label: str) -> str:
    """The QR code of ``text`` as inline SVG markup (no style attribute: the page's CSP)."""
    code = segno.make(text, error="m")
    svg: str = code.svg_inline(scale=1, border=4, omitsize=True, dark="#000", light="#fff")
    return svg.replace("<svg", f'<svg role="img" aria-label="{label}"', 1)


def join_url(request: Request, code: str) -> str:
    """The address the QR code holds: the residents' app, at its « Rejoindre ma classe » view
    with the code filled in (the public address when set, else the one the page was asked at)."""
    settings = request.app.state.settings
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/observe/#/classe/{code}"


def _classes_page(
    request: Request,
    session: Session,
    teacher: Any,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    classes = service.list_classes(session, teacher)
    rows = [(c, service.pupil_count(session, c.id)) for c in classes]
    local_today = utcnow().astimezone(request.app.state.settings.tz).date()
    return render(
        request,
        "classes/index.html",
        {
            "rows": rows,
            "values": values
            or {"name": "", "school": "", "school_year": current_school_year(local_today)},
            "errors": errors or {},
            "previous": classes,
        },
        status_code=status_code,
    )


@router.get("/classes")
def classes_index(request: Request, session: SessionDep, teacher: TeacherPage) -> Response:
    return _classes_page(request, session, teacher)


@router.post("/classes", dependencies=[CSRF])
def classes_create(
    request: Request,
    session: SessionDep,
    teacher: TeacherPage,
    name: Annotated[str, Form(max_length=FORM_TEXT)] = "",
    school: Annotated[str, Form(max_length=FORM_TEXT)] = "",
    school_year: Annotated[str, Form(max_length=FORM_TEXT)] = "",
    continues: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    values = {"name": name, "school": school, "school_year": school_year, "continues": continues}
    try:
        data = ClassCreate.model_validate(
            {
                "name": name,
                "school": school,
                "school_year": school_year,
                "continues": continues or None,
            }
        )
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "name"
            errors.setdefault(
                field,
                FIELD_MESSAGES.get((field, error["type"]), "Cette valeur n'est pas valable."),
            )
        return _classes_page(
            request, session, teacher, values=values, errors=errors, status_code=422
        )
    school_class = service.create_class(session, teacher, data)
    return RedirectResponse(f"/classes/{school_class.id}?ouverte=1", status_code=303)


def _pupils(session: Session, school_class: SchoolClass) -> list[str]:
    return service.pupil_pseudonyms(session, school_class.id)


@router.get("/classes/{class_id}")
def class_page(
    request: Request,
    class_id: uuid.UUID,
    session: SessionDep,
    teacher: TeacherPage,
    ouverte: Annotated[int, Query(ge=0, le=1)] = 0,
    fermee: Annotated[int, Query(ge=0, le=1)] = 0,
    effaces: Annotated[int, Query(ge=0, le=1)] = 0,
) -> Response:
    school_class = service.class_of_teacher(session, class_id, teacher)
    return _class_page(
        request,
        session,
        school_class,
        opened=bool(ouverte),
        closed_now=bool(fermee),
        erased_now=bool(effaces),
    )


def _class_page(
    request: Request,
    session: Session,
    school_class: SchoolClass,
    *,
    opened: bool = False,
    closed_now: bool = False,
    erased_now: bool = False,
    close_error: str | None = None,
    erase_error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    code = school_class.join_code
    return render(
        request,
        "classes/class.html",
        {
            "school_class": school_class,
            "pupils": _pupils(session, school_class),
            "qr": qr_svg(
                join_url(request, code), f"QR code du code de la classe : {' '.join(code)}"
            )
            if school_class.active
            else None,
            "spelt": " ".join(code),
            "opened": opened,
            "closed_now": closed_now,
            "erased_now": erased_now,
            "close_error": close_error,
            "erase_error": erase_error,
            "retention_days": request.app.state.settings.pupil_retention_days,
        },
        status_code=status_code,
    )


@router.post("/classes/{class_id}/close", dependencies=[CSRF])
def class_close(
    request: Request,
    class_id: uuid.UUID,
    session: SessionDep,
    teacher: TeacherPage,
    confirm: Annotated[str, Form(max_length=10)] = "",
    erase: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    school_class = service.class_of_teacher(session, class_id, teacher)
    if confirm != "oui":
        return _class_page(
            request,
            session,
            school_class,
            close_error="Cochez la case pour confirmer la fermeture de la classe.",
            status_code=422,
        )
    service.close_class(session, school_class)
    if erase == "oui":
        classwork.erase_pupils(session, school_class)
    return RedirectResponse(f"/classes/{school_class.id}?fermee=1", status_code=303)


@router.post("/classes/{class_id}/erase", dependencies=[CSRF])
def class_erase(
    request: Request,
    class_id: uuid.UUID,
    session: SessionDep,
    teacher: TeacherPage,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A closed class's pseudonyms erased now rather than at the end of the retention period."""
    school_class = service.class_of_teacher(session, class_id, teacher)
    if school_class.active or confirm != "oui":
        return _class_page(
            request,
            session,
            school_class,
            erase_error="Cochez la case pour confirmer l'effacement des pseudonymes."
            if not school_class.active
            else None,
            status_code=422,
        )
    classwork.erase_pupils(session, school_class)
    return RedirectResponse(f"/classes/{school_class.id}?effaces=1", status_code=303)


@router.get("/classes/{class_id}/summary")
def class_summary(
    class_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    teacher: TeacherPage,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    """The projector page: the same page as the API's ``summary.html``, with the teacher's
    cookie. It carries its own style (it also opens from a USB key), hence the API's policy."""
    school_class = service.class_of_teacher(session, class_id, teacher)
    year = year if year is not None else utcnow().astimezone(settings.tz).year
    result = summary.class_summary(session, settings, school_class, year)
    page = summary.summary_html(result, back=(f"/classes/{class_id}", "Retour à la classe"))
    return HTMLResponse(page, headers={"Content-Security-Policy": API_CSP})
