"""docs/configuration.md is generated from the settings class: it fails here when it differs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config", _DOCS / "gen_config.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_configuration_reference_is_generated_from_the_settings_class() -> None:
    # given
    expected = _generator().render()

    # when
    current = (_DOCS / "configuration.md").read_text()

    # then
    assert current == expected, (
        "docs/configuration.md differs from server/settings.py: "
        "run `.venv/bin/python docs/gen_config.py`"
    )


def test_every_setting_is_in_the_reference() -> None:
    # given
    from server.settings import Settings

    # when
    text = (_DOCS / "configuration.md").read_text()

    # then
    missing = [n for n in Settings.model_fields if f"`LOYALTY_{n.upper()}`" not in text]
    assert missing == []
