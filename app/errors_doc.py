"""docs/errors.md, written from the domains' error declarations.

Each code is declared once, in its domain's ``errors.py`` (the service's own in
``app/core/catalogue.py``); ``tests/core/test_docs.py`` fails when this page differs from what
this module renders, ``tests/core/test_error_catalogue.py`` when the source uses a code no domain
declares.

    python -m app.errors_doc           # rewrite docs/errors.md
    python -m app.errors_doc --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.errors_catalogue import Group, groups

ROOT = Path(__file__).resolve().parents[1]
ERRORS_MD = ROOT / "docs" / "errors.md"
REGENERATE = "python -m app.errors_doc"

INTRO = """\
Every error answer is `application/problem+json` (RFC 9457) with a stable `code`
([the API guide, Conventions](api.md#conventions)); a 422 lists the fields at fault in `errors`,
each with its own `code`. The phone app shows the French message of the code it receives (of
the answer's `code`, or of each field's); `detail` and `message` stay English, for developers,
and may name values. A batch answers 200 and gives a rejected item's codes in its `errors`
([batches](api.md#batches-partial-success)): the status listed is the one the same record would
have had alone.

A field code without a dot that is not listed here (`missing`, `string_too_long`,
`extra_forbidden`…) is Pydantic's name for a validation error of the request's shape; any other
HTTP error the framework answers has the code `http.<status>`."""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _summary(group: Group) -> str:
    """The group's summary without the domain's name it opens with (the heading says it)."""
    head, _, rest = group.summary.partition(": ")
    if rest and head.lower() == group.domain:
        return rest[0].upper() + rest[1:]
    return group.summary


def render_markdown() -> str:
    lines = [
        "# Error codes",
        "",
        "<!-- Generated from the domains' errors.py by `" + REGENERATE + "`: edit the",
        "     declarations there, not this file. tests/test_docs.py checks it is current. -->",
        "",
        INTRO,
        "",
    ]
    for group in groups():
        lines += [f"## {group.domain}", "", _summary(group), ""]
        lines += ["| code | status | message (fr) | meaning |", "| --- | --- | --- | --- |"]
        for spec in group.errors:
            lines.append(
                f"| `{spec.code}` | {spec.status} | {_cell(spec.message)} | {_cell(spec.meaning)} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is out of date")
    args = parser.parse_args(argv)
    text = render_markdown()
    current = ERRORS_MD.read_text(encoding="utf-8") if ERRORS_MD.exists() else None
    if current == text:
        return 0
    if args.check:
        print(f"out of date: {ERRORS_MD.relative_to(ROOT)}; run `{REGENERATE}`")
        return 1
    ERRORS_MD.write_text(text, encoding="utf-8")
    print(f"wrote {ERRORS_MD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
