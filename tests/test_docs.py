"""The documentation stays true: the configuration reference and .env.example are those the
settings class renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import settings_doc
from app.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


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


def test_every_setting_is_documented_once() -> None:
    markdown = settings_doc.render_markdown()
    env = settings_doc.render_env_example()
    for name, field in Settings.model_fields.items():
        variable = settings_doc.env_name(name)
        assert field.description, f"{name} has no docstring in app/core/settings.py"
        assert markdown.count(f"| `{variable}` |") == 1, variable
        assert env.count(f"# {variable}=") == 1, variable
