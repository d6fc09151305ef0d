"""The policy bundle as data: what a YAML file under ``policies/`` may say.

These models check shape only (types, required keys, no unknown keys). Cross-references
(tags, field paths, purposes, transform parameters, conditions) are checked by
:mod:`veil.validate`, which sees the whole bundle and reports every problem at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..text.decl import RecognizerDecl
from ..transforms.base import Disclosure, FieldType

Verdict = Literal["allow", "redact", "deny", "exclude"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeDecl(Strict):
    """A declared subject or context attribute: rules may only read declared ones."""

    type: Literal["string", "integer", "number", "boolean", "list"] = "string"
    values: list[Any] | None = None  # allowed values, when the attribute is an enumeration
    description: str = ""


class FieldDecl(Strict):
    type: FieldType
    items: FieldType | None = None  # item type of a list of scalars
    tags: list[str] = Field(default_factory=list)
    nullable: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _items_only_for_lists(self) -> FieldDecl:
        if self.items is not None and self.type != FieldType.LIST:
            raise ValueError("'items' is only allowed on fields of type list")
        if self.items in (FieldType.LIST, FieldType.OBJECT):
            raise ValueError(
                "'items' must be a scalar type; declare nested objects as 'parent[*].child'"
            )
        return self


class Dataset(Strict):
    description: str = ""
    record_id: str
    data_subject: str
    fields: dict[str, FieldDecl]


class Target(Strict):
    """Which fields a rule is about. All given parts must hold (fields/tags: any of)."""

    datasets: list[str] | None = None
    fields: list[str] | None = None  # glob patterns over field paths
    tags: list[str] | None = None
    types: list[FieldType] | None = None


ConditionMap = dict[str, dict[str, Any]]


class When(Strict):
    """py-abac rule language: a mapping is an implicit AND, a list of mappings an OR."""

    subject: ConditionMap | list[ConditionMap] = Field(default_factory=dict)
    action: ConditionMap | list[ConditionMap] = Field(default_factory=dict)
    context: ConditionMap | list[ConditionMap] = Field(default_factory=dict)
    resource: ConditionMap | list[ConditionMap] = Field(default_factory=dict)


class TransformThen(Strict):
    transform: str
    params: dict[str, Any] = Field(default_factory=dict)


class Rule(Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:\-]+$")
    description: str = ""
    target: Target = Field(default_factory=Target)
    when: When = Field(default_factory=When)
    then: Verdict | TransformThen
    exception: bool = False
    priority: int = Field(default=0, ge=0)
    break_glass: bool = False

    @model_validator(mode="after")
    def _break_glass_is_exception(self) -> Rule:
        if self.break_glass and not self.exception:
            raise ValueError("a break_glass rule must also set 'exception: true'")
        return self

    @property
    def is_row_rule(self) -> bool:
        return self.then == "exclude"


class TestRequest(Strict):
    subject_id: str
    subject: dict[str, Any] = Field(default_factory=dict)
    purpose: str
    dataset: str
    action: str = "read"
    recipient: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None


class TestExpect(Strict):
    outcomes: dict[str, str] = Field(default_factory=dict)
    output: dict[str, Any] | None = None
    absent: list[str] = Field(default_factory=list)
    excluded: bool | None = None
    denied: bool | None = None


class PolicyTest(Strict):
    name: str
    request: TestRequest
    record: dict[str, Any] | None = None
    expect: TestExpect


#: What a purpose of use is under HIPAA, which decides whether its disclosures are listed
#: in an accounting (45 CFR 164.528(a)(1)) and whether a limited data set may serve it
#: (164.514(e)(3)(i)). ``other`` is neither exempt nor LDS-eligible.
PurposeCategory = Literal[
    "treatment",
    "payment",
    "health_care_operations",
    "to_individual",
    "incident",
    "authorization",
    "directory",
    "national_security",
    "correctional_law_enforcement_custody",
    "research",
    "public_health",
    "health_oversight",
    "judicial",
    "law_enforcement",
    "marketing",
    "other",
]


class PurposeDecl(Strict):
    """A purpose of use. A plain string in ``vocabulary.purposes`` is its description."""

    description: str = ""
    category: PurposeCategory = "other"
    #: 164.528(b)(2)(iv): "a brief statement of the purpose of the disclosure that
    #: reasonably informs the individual of the basis for the disclosure"
    statement: str = ""
    #: force an event of this purpose into (True) or out of (False) the accounting; by
    #: default the category decides (see ``veil.ledger.accounting.EXEMPT``)
    accountable: bool | None = None


class ScopeWhen(Strict):
    """Which requests a profile view or an assertion governs: rule conditions over the
    subject, action and context (never the record: a view is decided per request)."""

    subject: ConditionMap | list[ConditionMap] = Field(default_factory=dict)
    action: ConditionMap | list[ConditionMap] = Field(default_factory=dict)
    context: ConditionMap | list[ConditionMap] = Field(default_factory=dict)


class RecipientDecl(Strict):
    """Someone data is disclosed to, as an accounting names them (164.528(b)(2)(ii))."""

    name: str = Field(min_length=1)
    address: str = ""
    business_associate: bool = False
    #: agreements in force with this recipient; ``data_use_agreement`` (164.514(e)(4)) is
    #: what a limited data set needs
    agreements: list[str] = Field(default_factory=list)
    description: str = ""
    #: who may name this recipient in a request (rule conditions over the requester and
    #: the context); absent: anyone the policy lets read. A credential can narrow it further
    #: (an API key's or token's ``recipients``).
    named_by: ScopeWhen | None = None


class ProfileView(Strict):
    """A shipped profile applied to some requests: ``profiles: {research: {profile:
    hipaa-safe-harbor, when: ...}}``. ``classes`` maps the profile's identifier classes
    to this bundle's tags where the names differ (by default a class is the tag of the
    same name)."""

    profile: str = Field(pattern=r"^[a-z0-9\-]+(@[A-Za-z0-9.\-]+)?$")
    description: str = ""
    datasets: list[str] | None = None
    when: ScopeWhen = Field(default_factory=ScopeWhen)
    classes: dict[str, list[str]] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)


class FieldSelect(Strict):
    """Fields an assertion is about: any field matching any of the given parts."""

    fields: list[str] | None = None
    tags: list[str] | None = None
    types: list[FieldType] | None = None


class Assertion(Strict):
    """A property of the bundle proved at validation over every request it declares, e.g.
    "no direct identifier reaches HRESCH in clear or as a derived token"."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:\-]+$")
    description: str = ""
    datasets: list[str] | None = None
    when: ScopeWhen = Field(default_factory=ScopeWhen)
    fields: FieldSelect
    allow: list[Disclosure] | None = None
    never: list[Disclosure] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Assertion:
        if (self.allow is None) == (self.never is None):
            raise ValueError("give exactly one of 'allow' or 'never'")
        return self


class BundleMeta(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""


class Vocabulary(Strict):
    tags: dict[str, str] = Field(default_factory=dict)  # tag -> meaning
    #: purpose code -> description, or a :class:`PurposeDecl`
    purposes: dict[str, str | PurposeDecl] = Field(default_factory=dict)
    actions: list[str] = Field(default_factory=lambda: ["read"])


class TextDecl(Strict):
    """Bundle-wide settings of free-text detection (``text:`` in one bundle file)."""

    #: regions whose national phone formats ``scan_text`` rules detect (ISO 3166 codes;
    #: numbers in international or E.164 form are detected for every region); a rule's
    #: own ``phone_regions`` wins over it
    regions: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = Field(
        default_factory=list, max_length=64
    )


class BundleFile(Strict):
    """One YAML file of a bundle; a bundle is the union of its files."""

    bundle: BundleMeta | None = None
    vocabulary: Vocabulary | None = None
    subject_attributes: dict[str, AttributeDecl] = Field(default_factory=dict)
    context_attributes: dict[str, AttributeDecl] = Field(default_factory=dict)
    datasets: dict[str, Dataset] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    tests: list[PolicyTest] = Field(default_factory=list)
    #: custom free-text detectors by name (see :class:`RecognizerDecl`)
    recognizers: dict[str, RecognizerDecl] = Field(default_factory=dict)
    text: TextDecl | None = None
    recipients: dict[str, RecipientDecl] = Field(default_factory=dict)
    profiles: dict[str, ProfileView] = Field(default_factory=dict)
    assertions: list[Assertion] = Field(default_factory=list)

    @field_validator("subject_attributes")
    @classmethod
    def _id_is_reserved(cls, v: dict[str, AttributeDecl]) -> dict[str, AttributeDecl]:
        if "id" in v:
            raise ValueError("'id' is the subject id and is always present; do not declare it")
        return v
