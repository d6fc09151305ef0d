"""Small bundles written to a temporary directory, for validation and proof tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from veil.policy.bundle import Bundle
from veil.policy.profiles import SAFE_HARBOR, Profile
from veil.policy.validate import load_bundle

RESEARCH = {"context": {"$.purpose": {"condition": "Equals", "value": "HRESCH"}}}
RESEARCHER = {
    "subject": {"$.role": {"condition": "Equals", "value": "researcher"}},
    **RESEARCH,
}


def field_type(class_id: str) -> str:
    return {"date": "date", "birth_date": "date", "age": "integer"}.get(class_id, "string")


def bundle_dict(
    *,
    fields: dict[str, dict[str, Any]],
    rules: list[dict[str, Any]],
    profile: Profile = SAFE_HARBOR,
    view: dict[str, Any] | None = None,
    extra_tags: tuple[str, ...] = (),
    purposes: dict[str, Any] | None = None,
    recipients: dict[str, Any] | None = None,
    assertions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One dataset ``records`` (id field ``rid``), a researcher role, a view of ``profile``
    over HRESCH with every class mapped to the tag of its name."""
    tags = {c.id: c.text[:40] for c in profile.classes}
    tags.update({t: t for t in extra_tags})
    doc: dict[str, Any] = {
        "bundle": {"name": "t"},
        "vocabulary": {
            "tags": tags,
            "purposes": purposes
            or {
                "HRESCH": {"description": "research", "category": "research"},
                "TREAT": {"description": "treatment", "category": "treatment"},
            },
        },
        "subject_attributes": {"role": {"values": ["researcher", "clinician"]}},
        "datasets": {
            "records": {
                "record_id": "rid",
                "data_subject": "rid",
                "fields": {"rid": {"type": "string"}, **fields},
            }
        },
        "rules": [
            {
                "id": "rid-removed",
                "target": {"fields": ["rid"]},
                "then": {"transform": "replace", "params": {"value": "x"}},
            },
            *rules,
        ],
        "profiles": {"v": view or {"profile": profile.ref, "when": RESEARCH}},
    }
    if recipients is not None:
        doc["recipients"] = recipients
    if assertions is not None:
        doc["assertions"] = assertions
    return doc


def write_bundle(root: Path, doc: dict[str, Any]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "bundle.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return root


def load(root: Path, doc: dict[str, Any]) -> Bundle:
    return load_bundle(str(write_bundle(root, doc)))
