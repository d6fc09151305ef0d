"""The shipped example configuration loads and says what the defaults say: a setting the
README documents but the example misspells would otherwise be silently ignored."""

from __future__ import annotations

from pathlib import Path

import yaml

from veil.service.settings import ServiceSettings, load_settings

ROOT = Path(__file__).resolve().parent.parent.parent


def test_example_service_yaml_loads_and_names_only_known_settings() -> None:
    path = ROOT / "examples" / "service.yaml"
    loaded = load_settings(path)
    raw = yaml.safe_load(path.read_text())
    known = set(ServiceSettings.model_fields)
    assert set(raw) <= known, set(raw) - known
    for block in ("limits", "text", "server", "ready"):
        model = type(getattr(loaded, block))
        assert set(raw[block]) <= set(model.model_fields), (block, set(raw[block]))
        # the example restates the defaults: a changed default must be changed here too
        assert getattr(loaded, block) == model(), block
