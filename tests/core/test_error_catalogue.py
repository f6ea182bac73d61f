"""The error catalogue is the truth about codes: every code the service answers with is
declared once in a domain's ``errors.py``, every declared code is answered somewhere, with the
status the catalogue says (tests/test_docs.py checks that docs/errors.md is current).

The scan reads the source, not the running app, so that it finds codes wherever they live: it is
tied to no package, and code moved from one domain to another is still found.
"""

from __future__ import annotations

import ast
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

import app.main  # noqa: F401  (imports every domain, so that every error class is known)
from app import errors_doc
from app.core.catalogue import CODE_PATTERN
from app.core.errors import AppError
from app.core.settings import Settings
from app.errors_catalogue import DECLARATIONS, Group, catalogue, groups
from tests.factories import auth_headers, create_user
from tests.observations.test_observations import payload

ROOT = Path(__file__).resolve().parents[2]
APP = (ROOT / "app").resolve()
DOTTED = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
# The calls whose string arguments are codes without a ``code=`` keyword.
FIELD_CODE_CALLS = {"PydanticCustomError"}  # its first argument: a field's code, in a 422
RESPONSE_CALLS = {"problem_response"}  # (status, code, detail)


@dataclass(frozen=True)
class Use:
    """A string literal the source uses as a code, and the status it comes with when the source
    says so (the error class raised, the status written next to it)."""

    code: str
    path: Path
    line: int
    status: int | None

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _error_statuses() -> dict[str, int | None]:
    """Each AppError subclass's status by class name (None for a name two classes share)."""
    statuses: dict[str, int | None] = {}
    pending = [AppError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls is AppError:
            continue  # its defaults are only there for subclasses to override
        name = cls.__name__
        statuses[name] = cls.status if statuses.get(name, cls.status) == cls.status else None
    return statuses


STATUSES = _error_statuses()


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_code_name(node: ast.expr) -> bool:
    name = (_name(node) or "").lower().removesuffix("s")
    return name == "code" or name.endswith("_code")


def _text(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _int(node: ast.expr | None) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


class _Scan(ast.NodeVisitor):
    """The literals of one file in code positions: ``code=`` keywords, assignments to a name
    ending in ``code``, a ``code`` parameter's default, a Pydantic field error's first argument,
    a problem response's code. Whatever else looks like a code of a known family (``photo.x``)
    is kept too, but for a table's column (``ForeignKey("species.id")``) and a file name joined
    to a path (``... / "species.csv"``)."""

    def __init__(self, path: Path, families: set[str]) -> None:
        self.path, self.families = path, families
        self.uses: list[Use] = []
        self.placed: set[int] = set()  # the literals already seen in a code position
        self.skipped: set[int] = set()
        self.classes: list[str] = []

    def _use(self, node: ast.expr | None, status: int | None = None) -> None:
        text = _text(node)
        if node is not None and text is not None and CODE_PATTERN.match(text):
            self.placed.add(id(node))
            self.uses.append(Use(text, self.path, node.lineno, status))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()

    def visit_Call(self, node: ast.Call) -> None:
        called = _name(node.func)
        for keyword in node.keywords:
            if keyword.arg == "code":
                self._use(keyword.value, STATUSES.get(called or "") or _field_status(called))
        if called in FIELD_CODE_CALLS and node.args:
            self._use(node.args[0], 422)
        if called in RESPONSE_CALLS and len(node.args) >= 2:
            self._use(node.args[1], _int(node.args[0]))
        if called == "ForeignKey":
            self.skipped.update(id(arg) for arg in node.args)
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Div):
            self.skipped.update({id(node.left), id(node.right)})
        self.generic_visit(node)

    def _class_status(self) -> int | None:
        return STATUSES.get(self.classes[-1]) if self.classes else None

    def _assigned(self, target: ast.expr, value: ast.expr | None) -> None:
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            pairs = list(zip(target.elts, value.elts, strict=False))
            status = next((_int(v) for t, v in pairs if _name(t) == "status"), None)
            for element, item in pairs:
                if _is_code_name(element):
                    self._use(item, status or self._class_status())
        elif _is_code_name(target) and isinstance(value, ast.Dict):
            for key, item in zip(value.keys, value.values, strict=True):
                self._use(item, _int(key))
        elif _is_code_name(target):
            self._use(value, self._class_status())

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._assigned(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._assigned(node.target, node.value)
        self.generic_visit(node)

    def visit_arguments(self, node: ast.arguments) -> None:
        positional = [*node.posonlyargs, *node.args]
        with_default = positional[len(positional) - len(node.defaults) :]
        defaults = zip(with_default, node.defaults, strict=True)
        for arg, default in [*defaults, *zip(node.kwonlyargs, node.kw_defaults, strict=True)]:
            if arg.arg == "code":
                self._use(default)
        self.generic_visit(node)

    def rest(self, tree: ast.AST) -> Iterator[Use]:
        """The literals of a known family outside the positions above."""
        for node in ast.walk(tree):
            text = _text(node) if isinstance(node, ast.Constant) else None
            if text is None or id(node) in self.placed or id(node) in self.skipped:
                continue
            if not DOTTED.match(text):
                continue
            if text.split(".")[0] in self.families:
                yield Use(text, self.path, node.lineno, None)


def _field_status(called: str | None) -> int | None:
    """A field's error (FieldError, refuse_null) comes in a 422."""
    return 422 if called in {"FieldError", "refuse_null"} else None


DECLARING = {Path(module.__file__ or "").resolve() for module in DECLARATIONS}


def code_uses() -> list[Use]:
    families = {code.split(".")[0] for code in catalogue() if "." in code}
    uses: list[Use] = []
    for path in sorted(APP.rglob("*.py")):
        if path in DECLARING:
            continue  # the declarations themselves
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        scan = _Scan(path, families)
        scan.visit(tree)
        uses += scan.uses
        uses += scan.rest(tree)
    return uses


USES = code_uses()


def test_every_code_used_is_declared() -> None:
    declared = catalogue()
    undeclared = [f"{use}: {use.code}" for use in USES if use.code not in declared]
    assert not undeclared, (
        "codes used but declared in no domain's errors.py (add them there, with their French "
        f"message, and run `{errors_doc.REGENERATE}`): {undeclared}"
    )


def test_every_declared_code_is_used() -> None:
    used = {use.code for use in USES}
    unused = [
        f"{group.module}: {spec.code}"
        for group in groups()
        for spec in group.errors
        if spec.code not in used
    ]
    assert not unused, f"codes declared but used nowhere in app/ (remove them): {unused}"


def test_codes_come_with_their_declared_status() -> None:
    declared = catalogue()
    wrong = [
        f"{use}: {use.code} comes with {use.status}, declared {declared[use.code].status}"
        for use in USES
        if use.status is not None
        and use.code in declared
        and use.status != declared[use.code].status
    ]
    assert not wrong, wrong


def test_the_scan_finds_codes_in_every_kind_of_place() -> None:
    """A guard on the scan itself: one code of each way the source sets one."""
    found = {(use.code, use.status) for use in USES}
    for expected in [
        ("observation.not_found", 404),  # NotFound(..., code=...)
        ("observation.observed_at_in_future", 422),  # PydanticCustomError(code, ...)
        ("auth.invalid_credentials", 401),  # a class attribute of an Unauthorized subclass
        ("photo.empty", 415),  # status, code, title = ...
        ("method_not_allowed", 405),  # codes = {405: ...}
        ("internal", 500),  # problem_response(500, "internal", ...)
        ("trim.bad_input", None),  # a parameter's default
        ("visit.count_required", None),  # a helper's positional argument
    ]:
        assert expected in found, expected


@pytest.mark.parametrize("group", groups(), ids=lambda g: g.domain)
def test_messages_are_sentences(group: Group) -> None:
    for spec in group.errors:
        assert spec.message[0].isupper() and spec.message.endswith("."), spec.code
        assert spec.meaning[0].isupper() or spec.meaning[0] == "`", spec.code
        assert spec.meaning.endswith("."), spec.code


def test_answers_carry_declared_codes_with_their_status(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """What the app receives is what the catalogue says: the answer's code and each field's are
    declared, with the status the answer has."""
    headers = auth_headers(create_user(session, settings), settings)
    as_json = {**headers, "Content-Type": "application/json"}
    future = payload(observed_at="2999-01-01T00:00:00Z")
    answers = [
        client.get("/observationz"),
        client.put("/observations", json={}),
        client.post("/observations", json=payload()),
        client.post("/observations", json=payload(), headers={"Authorization": "Bearer x.y"}),
        client.post("/observations", content=b"{", headers=as_json),
        client.post("/observations", json=future, headers=headers),
        client.get(f"/observations/{uuid.uuid4()}", headers=headers),
    ]
    declared = catalogue()
    for answer in answers:
        body = answer.json()
        assert body["code"] in declared, body
        assert declared[body["code"]].status == answer.status_code, body
        for error in body.get("errors", []):
            if "." in error["code"] or error["code"] in declared:
                assert declared[error["code"]].status == answer.status_code, error
    codes = [answer.json()["code"] for answer in answers]
    assert codes == [
        "not_found",
        "method_not_allowed",
        "auth.unauthenticated",
        "auth.invalid_token",
        "request.malformed_json",
        "observation.observed_at_in_future",
        "observation.not_found",
    ]
