"""The documentation stays true: the configuration reference and .env.example are those the
settings class renders, the error catalogue the one the domains declare, and every link between
the project's pages leads somewhere."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from app import errors_doc
from app.core import settings_doc
from app.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and [text](target "title"); images too. Targets with a scheme are not local.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)]*)\)")
TITLE = re.compile(r'^\s+"[^"]*"\s*$')
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
FENCE = re.compile(r"^\s*(```|~~~)")


@pytest.mark.parametrize(
    "path", sorted(settings_doc.outputs()), ids=lambda p: str(p.relative_to(ROOT))
)
def test_generated_from_the_settings_class(path: Path) -> None:
    expected = settings_doc.outputs()[path]
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    assert current == expected, (
        f"{path.relative_to(ROOT)} is out of date with app/core/settings.py: "
        f"run `{settings_doc.REGENERATE}` and commit the result"
    )


def test_error_catalogue_generated_from_the_declarations() -> None:
    path = errors_doc.ERRORS_MD
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    assert current == errors_doc.render_markdown(), (
        f"{path.relative_to(ROOT)} is out of date with the domains' errors.py: "
        f"run `{errors_doc.REGENERATE}` and commit the result"
    )


def test_error_catalogue_command_checks_and_rewrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "errors.md"
    stale.write_text("# Error codes\n", encoding="utf-8")
    monkeypatch.setattr(errors_doc, "ERRORS_MD", stale)
    monkeypatch.setattr(errors_doc, "ROOT", tmp_path)

    assert errors_doc.main(["--check"]) == 1
    assert errors_doc.REGENERATE in capsys.readouterr().out
    assert errors_doc.main([]) == 0
    assert stale.read_text(encoding="utf-8") == errors_doc.render_markdown()
    assert errors_doc.main(["--check"]) == 0


def test_every_setting_is_documented_once() -> None:
    markdown = settings_doc.render_markdown()
    env = settings_doc.render_env_example()
    for name, field in Settings.model_fields.items():
        variable = settings_doc.env_name(name)
        assert field.description, f"{name} has no docstring in app/core/settings.py"
        assert markdown.count(f"| `{variable}` |") == 1, variable
        assert env.count(f"# {variable}=") == 1, variable


def test_env_example_uncommented_gives_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uncommenting a line of .env.example sets what the documentation says: the default, or
    the example shown for a setting unset by default, never a value that fails to load."""
    for variable in [v for v in os.environ if v.startswith(settings_doc.PREFIX)]:
        monkeypatch.delenv(variable)
    monkeypatch.chdir(tmp_path)  # the development key is generated under ./var
    text = settings_doc.ENV_EXAMPLE.read_text(encoding="utf-8")
    assignments = [line[2:] for line in text.splitlines() if line.startswith("# SENTINELLES_")]
    (tmp_path / ".env").write_text("\n".join(assignments), encoding="utf-8")

    loaded = Settings(_env_file=tmp_path / ".env")

    for name, field in Settings.model_fields.items():
        if name == "secret_key":  # empty in the file: generated, by design
            continue
        assert field.annotation is not None
        wanted = TypeAdapter(field.annotation).validate_python(settings_doc.example(field))
        assert getattr(loaded, name) == wanted, settings_doc.env_name(name)


def _prose(path: Path) -> str:
    """The page outside fenced code blocks and inline code, where links are real (a link may
    run over two lines, so the lines stay together)."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return re.sub(r"`[^`\n]*`", "", "\n".join(lines))


def _anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces as
    hyphens (a repeated heading gets -1, -2...)."""
    seen: dict[str, int] = {}
    anchors = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#") or FENCE.match(line):
            continue
        text = line.lstrip("#").strip().replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _local_links(path: Path) -> list[str]:
    """Each local link's target; one broken over two lines keeps its space (and resolves to
    nothing), since a Markdown renderer would not join it either."""
    targets = []
    for inside in LINK.findall(_prose(path)):
        target = inside.strip().strip("<>")
        first, _, rest = target.partition(" ")
        if "\n" not in target and (not rest or TITLE.match(" " + rest)):
            target = first
        if not EXTERNAL.match(target):
            targets.append(target)
    return targets


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_resolve(page: Path) -> None:
    broken = []
    for target in _local_links(page):
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            broken.append(f"{target} (no file {resolved.relative_to(ROOT)})")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)} links to what does not exist: {broken}"


def test_the_readme_links_every_doc() -> None:
    linked = {
        (ROOT / target.partition("#")[0]).resolve() for target in _local_links(ROOT / "README.md")
    }
    missing = [str(p.relative_to(ROOT)) for p in PAGES[1:] if p.resolve() not in linked]
    assert not missing, f"README.md does not link to {missing}"


def test_the_readme_is_a_front_page() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size <= 12 * 1024, f"README.md is {size} bytes: details belong in docs/"
