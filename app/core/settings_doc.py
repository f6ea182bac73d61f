"""docs/configuration.md and .env.example, written from the settings class.

The settings' docstrings (``app/core/settings.py``) are the one place a setting is described, so
that the documentation cannot drift from the code: ``tests/core/test_docs.py`` fails when either
file differs from what this module renders.

    python -m app.core.settings_doc           # rewrite both files
    python -m app.core.settings_doc --check   # exit 1 if either is out of date
"""

from __future__ import annotations

import argparse
import json
import textwrap
import types
import uuid
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo

from app.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION_MD = ROOT / "docs" / "configuration.md"
ENV_EXAMPLE = ROOT / ".env.example"
REGENERATE = "python -m app.core.settings_doc"
PREFIX = "SENTINELLES_"


class Section:
    """A group of settings: from its first field, in the class's order, up to the next one's."""

    def __init__(self, first: str, title: str, intro: str = "") -> None:
        self.first, self.title, self.intro = first, title, intro


SECTIONS = [
    Section("environment", "The service and its database"),
    Section(
        "secret_key",
        "Secrets, tokens and passwords",
        "Make a secret key with `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`. "
        "Changing it (or deleting the generated key file) invalidates every access token at once "
        "(apps get new ones with their refresh tokens, which it does not sign) and every pupil "
        "token (the class's tablets join again).",
    ),
    Section(
        "login_max_failures",
        "The sign-in throttle",
        "How the three counts work together, and why these figures: "
        "[deployment, Security](deployment.md#security).",
    ),
    Section(
        "trusted_proxies",
        "Proxies, browsers and HTTPS",
        "See [deployment, behind a reverse proxy](deployment.md#with-postgresql).",
    ),
    Section(
        "media_backend",
        "Photos and storage",
        "The S3 backend needs boto3: `pip install 'sentinelles[s3]'`. What happens to a photo: "
        "[the API guide, Photos](api.md#photos-and-storage).",
    ),
    Section("territory_name", "The territory"),
    Section(
        "flag_min_validated",
        "Plausibility flags",
        "Shown to ecologists, never a reason to refuse a record "
        "([the review guide](guide-ecologists.md#plausibility-flags)).",
    ),
    Section("max_pupils_per_class", "School classes"),
    Section(
        "public_url",
        "Exports",
        "The links exports hold and the dataset the Darwin Core Archive's `eml.xml` and the "
        "SINP export describe.",
    ),
]


def env_name(name: str) -> str:
    return PREFIX + name.upper()


def grouped() -> Iterator[tuple[Section, list[tuple[str, FieldInfo]]]]:
    """Each section with its settings, in the order of the class. A section whose first field
    no longer exists is an error, so that renaming a setting cannot lose a section silently."""
    fields = list(Settings.model_fields.items())
    starts = [name for name, _ in fields]
    missing = [s.first for s in SECTIONS if s.first not in starts]
    if missing:
        raise LookupError(f"sections start at unknown settings: {missing}; see SECTIONS")
    bounds = sorted((starts.index(s.first), s) for s in SECTIONS)
    if bounds[0][0] != 0:
        raise LookupError(f"the first setting, {starts[0]}, belongs to no section")
    ends = [begin for begin, _ in bounds[1:]] + [len(fields)]
    for (begin, section), end in zip(bounds, ends, strict=True):
        yield section, fields[begin:end]


def describe_type(annotation: Any) -> str:
    """The type as someone writing an environment variable needs it."""
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in get_args(annotation))
    if origin in (Union, types.UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        return " or ".join(describe_type(arg) for arg in inner) + " (optional)"
    if origin is list:
        return "JSON list"
    if origin is dict:
        return "JSON object"
    names = {
        bool: "`true` or `false`",
        int: "integer",
        float: "number",
        str: "text",
        Path: "path",
        uuid.UUID: "UUID",
    }
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def describe_bounds(field: FieldInfo) -> str:
    parts = []
    for item in field.metadata:
        if isinstance(item, Ge):
            parts.append(f"≥ {item.ge}")
        elif isinstance(item, Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, Le):
            parts.append(f"≤ {item.le}")
        elif isinstance(item, Lt):
            parts.append(f"< {item.lt}")
    return ", ".join(parts)


def env_value(value: Any) -> str:
    """The default written as the environment variable would hold it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Enum):
        value = value.value
    text = str(value)
    if any(char in text for char in " #'\"") and not text.startswith(("[", "{")):
        return '"' + text.replace('"', '\\"') + '"'
    return text


def example(field: FieldInfo) -> Any:
    """What .env.example shows for a setting: its default, or the example of one unset by
    default (an empty value would not mean "unset" to every type)."""
    default = field.get_default(call_default_factory=True)
    if default is None and field.examples:
        return field.examples[0]
    return default


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width``, never broken inside a word, a link or a file name."""
    return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown() -> str:
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from app/core/settings.py by `" + REGENERATE + "`: edit the settings'",
        "     docstrings there, not this file. tests/core/test_docs.py checks it is current. -->",
        "",
        "Settings are read from environment variables prefixed `SENTINELLES_`, or from a `.env`",
        "file in the directory the command runs in ([`.env.example`](../.env.example) lists every",
        "one with its default). Every setting is optional in development; production needs at",
        "least a secret key ([deployment](deployment.md) says what a deployment must set).",
        "Lists and objects are written as JSON, e.g.",
        "`SENTINELLES_TRUSTED_PROXIES='[\"127.0.0.1\"]'`.",
        "",
        "The tests read two more variables of their own, listed in",
        "[development, Testing](development.md#testing).",
        "",
    ]
    for section, fields in grouped():
        lines += [f"## {section.title}", ""]
        if section.intro:
            lines += [*_wrap(section.intro, 96), ""]
        lines += ["| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
        for name, field in fields:
            kind = describe_type(field.annotation)
            bounds = describe_bounds(field)
            if bounds:
                kind += f", {bounds}"
            default = env_value(field.get_default(call_default_factory=True))
            shown = (
                f"`{_cell(default)}`" if default else "unset" if field.default is None else "empty"
            )
            meaning = field.description or ""
            if field.examples:
                meaning += f" Example: `{env_value(field.examples[0])}`."
            lines.append(f"| `{env_name(name)}` | {kind} | {shown} | {_cell(meaning)} |")
        lines.append("")
    return "\n".join(lines)


def render_env_example() -> str:
    lines = [
        "# Every setting of Sentinelles, with its default, commented out. Copy this file to .env",
        "# (read from the directory you run `sentinelles` in), or set the variables in the",
        "# environment, and uncomment what you change. docs/configuration.md says more.",
        f"# Generated from app/core/settings.py by `{REGENERATE}`: do not edit by hand.",
        "",
    ]
    for section, fields in grouped():
        lines += ["# " + "-" * 94, f"# {section.title}", "# " + "-" * 94, ""]
        for name, field in fields:
            text = " ".join((field.description or "").split()).replace("`", "")
            if field.get_default(call_default_factory=True) is None:
                text += " For example:"
            lines += ["# " + line for line in _wrap(text, 94)]
            lines += [f"# {env_name(name)}={env_value(example(field))}", ""]
    return "\n".join(lines)


def outputs() -> dict[Path, str]:
    return {CONFIGURATION_MD: render_markdown(), ENV_EXAMPLE: render_env_example()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(map(str, stale))}; run `{REGENERATE}`")
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
