"""A validated, compiled policy bundle: what plans are built from.

Produced only by :func:`veil.validate.compile_bundle`; if it exists, every
cross-reference in it has been checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from ..text.decl import RecognizerDecl
from ..transforms.base import FieldType
from .conditions import Dnf
from .decision import Outcome
from .loader import Located
from .model import (
    Assertion,
    AttributeDecl,
    FieldDecl,
    PolicyTest,
    PurposeDecl,
    RecipientDecl,
    Rule,
    Vocabulary,
)
from .profiles import Profile


@dataclass(frozen=True)
class FieldInfo:
    path: str
    type: FieldType
    #: the type transforms see: the item type for a list of scalars, else ``type``
    value_type: FieldType
    tags: frozenset[str]
    nullable: bool = True
    declared: bool = True  # False for containers implied by a child path

    @property
    def is_container(self) -> bool:
        return self.type == FieldType.OBJECT or (
            self.type == FieldType.LIST and self.value_type in (FieldType.OBJECT, FieldType.LIST)
        )


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    record_id: tuple[str, ...]
    data_subject: tuple[str, ...]
    fields: dict[str, FieldInfo]  # in declaration order, implied containers first

    @property
    def is_flat(self) -> bool:
        return all("." not in p and not f.is_container for p, f in self.fields.items())


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    order: int
    src: Located
    when: dict[str, Dnf]
    outcome: Outcome | None  # None for row rules (then: exclude)

    @property
    def id(self) -> str:
        return self.rule.id


@dataclass(frozen=True)
class View:
    """A profile applied to the requests its scope selects (``profiles:`` in a bundle)."""

    name: str
    profile: Profile
    options: BaseModel
    datasets: frozenset[str] | None
    when: dict[str, Dnf]  # subject, action, context: decided per request
    #: identifier class -> the bundle tags that mark a field as holding it
    class_tags: dict[str, frozenset[str]]
    src: Located


@dataclass(frozen=True)
class CompiledAssertion:
    assertion: Assertion
    when: dict[str, Dnf]
    src: Located

    @property
    def id(self) -> str:
        return self.assertion.id


@dataclass(frozen=True)
class Bundle:
    name: str
    version: str
    root: Path
    description: str
    vocabulary: Vocabulary
    subject_attributes: dict[str, AttributeDecl]
    context_attributes: dict[str, AttributeDecl]
    datasets: dict[str, DatasetInfo]
    rules: tuple[CompiledRule, ...]
    tests: tuple[PolicyTest, ...] = ()
    test_src: tuple[Located, ...] = field(default_factory=tuple)
    recognizers: dict[str, RecognizerDecl] = field(default_factory=dict)
    purposes: dict[str, PurposeDecl] = field(default_factory=dict)
    recipients: dict[str, RecipientDecl] = field(default_factory=dict)
    #: compiled ``named_by`` scopes: who may name each recipient
    recipient_scopes: dict[str, dict[str, Dnf]] = field(default_factory=dict)
    views: tuple[View, ...] = ()
    assertions: tuple[CompiledAssertion, ...] = ()

    @property
    def short_version(self) -> str:
        return self.version.split(":", 1)[-1][:12]


__all__ = [
    "Bundle",
    "CompiledAssertion",
    "CompiledRule",
    "DatasetInfo",
    "FieldDecl",
    "FieldInfo",
    "View",
]
