"""Who asks, for what purpose, on whose behalf, and which dataset.

Requests are checked against the bundle's declarations before planning, so a typo in
an attribute name or purpose is an error rather than a silent non-match.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import AccessDenied, RequestError
from .ledger.events import canonical_json
from .policy.bundle import Bundle
from .policy.conditions import ALWAYS, Context
from .policy.matching import residual
from .policy.model import AttributeDecl

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list, tuple),
}


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subject_id: str = Field(min_length=1)
    subject: dict[str, Any] = Field(default_factory=dict)
    purpose: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    action: str = "read"
    recipient: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    #: justification for break-glass access; break-glass rules never match without one
    reason: str | None = None
    #: the recipients the requester's credential lets them name (None: no such limit);
    #: set by the service from the API key or token, never from a request body
    allowed_recipients: tuple[str, ...] | None = None

    @property
    def effective_recipient(self) -> str:
        return self.recipient or self.subject_id

    def cache_key(self) -> str:
        return canonical_json(self.model_dump(mode="json"))

    def elements(self) -> dict[str, dict[str, Any]]:
        """The subject, action and context elements py-abac conditions read."""
        return {
            "subject": {**self.subject, "id": self.subject_id},
            "action": {"name": self.action},
            "context": {
                **self.context,
                "purpose": self.purpose,
                "recipient": self.effective_recipient,
                "reason": self.reason,
            },
        }


def _check_attrs(kind: str, given: dict[str, Any], declared: dict[str, AttributeDecl]) -> None:
    for name, value in given.items():
        decl = declared.get(name)
        if decl is None:
            raise RequestError(
                f"{kind} attribute '{name}' is not declared by the policy bundle",
                hint=f"declared {kind} attributes: {', '.join(sorted(declared)) or '(none)'}",
            )
        ok = isinstance(value, _TYPES[decl.type]) and not (
            decl.type in ("integer", "number") and isinstance(value, bool)
        )
        if not ok:
            raise RequestError(f"{kind} attribute '{name}' must be of type {decl.type}")
        if decl.values is not None and value not in decl.values:
            raise RequestError(
                f"{kind} attribute '{name}' has a value the bundle does not allow",
                hint=f"allowed: {', '.join(map(str, decl.values))}",
            )


def check_request(bundle: Bundle, req: Request) -> None:
    if req.dataset not in bundle.datasets:
        raise RequestError(
            f"unknown dataset '{req.dataset}'",
            hint=f"datasets in bundle '{bundle.name}': {', '.join(sorted(bundle.datasets))}",
        )
    purposes = bundle.vocabulary.purposes
    if req.purpose not in purposes:
        raise RequestError(
            f"unknown purpose '{req.purpose}'",
            hint=f"purposes declared by the bundle: {', '.join(sorted(purposes))}",
        )
    if req.action not in bundle.vocabulary.actions:
        raise RequestError(
            f"unknown action '{req.action}'",
            hint=f"actions: {', '.join(bundle.vocabulary.actions)}",
        )
    _check_attrs("subject", req.subject, bundle.subject_attributes)
    reserved = {"purpose", "recipient", "reason"} & set(req.context)
    if reserved:
        raise RequestError(
            f"context attribute '{sorted(reserved)[0]}' is reserved",
            hint="pass purpose, recipient and reason as request fields, not context",
        )
    _check_attrs("context", req.context, bundle.context_attributes)
    check_recipient(bundle, req)


def check_recipient(bundle: Bundle, req: Request) -> None:
    """A recipient is an authenticated fact, not a claim: the requester may name only a
    recipient their credential lists (if it lists any) and, when the bundle declares
    recipients, only a declared one whose ``named_by`` selects them. Receiving data
    oneself (no recipient, or one's own id) is always allowed. Raises AccessDenied."""
    r = req.recipient
    if r is None or r == req.subject_id:
        return
    if req.allowed_recipients is not None and r not in req.allowed_recipients:
        raise AccessDenied(
            "the requester's credential does not let them name this recipient",
            hint="use a recipient your API key or token lists, or ask for one to be added",
        )
    if not bundle.recipients:
        return
    if r not in bundle.recipients:
        raise AccessDenied(
            f"the recipient is not declared by bundle '{bundle.name}'",
            hint=f"recipients: {', '.join(sorted(bundle.recipients))}",
        )
    scope = bundle.recipient_scopes.get(r)
    if scope is not None:
        ctx = Context(req.elements())
        if any(residual(dnf, ctx) != ALWAYS for dnf in scope.values()):
            raise AccessDenied(
                "this requester may not name this recipient",
                hint="the recipient's named_by in the bundle says who may",
            )
