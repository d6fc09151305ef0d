"""Compiling a bundle's compliance declarations: purposes, recipients, profile views and
assertions. Part of validation (:mod:`veil.policy.validate` calls :func:`compile_compliance`);
every problem is reported with its file and line, like every other bundle problem.

* ``purposes`` (``vocabulary.purposes``): a description, or ``{description, category,
  statement, accountable}``; the category decides 164.528 accountability and LDS use.
* ``recipients``: who data goes to (name and address for the accounting, agreements).
* ``profiles``: views applying a shipped profile (:mod:`veil.policy.profiles`) to the
  requests their ``when`` selects; each identifier class must be mapped to declared tags
  (by default the tag of the same name) or explicitly to ``[]`` ("no dataset holds it"),
  so a proof is never vacuous by omission.
* ``assertions``: properties over fields and requests, proved like views.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from ..errors import Issue
from .bundle import CompiledAssertion, DatasetInfo, View
from .conditions import ALWAYS, ConditionSyntaxError, Dnf, parse_ace
from .loader import Located, RawBundle
from .model import PurposeDecl, RecipientDecl, ScopeWhen
from .profiles import PROFILES, find_profile, options_of

SCOPE_ACES = ("subject", "action", "context")


class IssueSink(Protocol):
    items: list[Issue]

    def add(
        self, code: str, msg: str, src: Located, sub: tuple[Any, ...] = (), hint: str = ""
    ) -> None: ...


def purposes_of(raw: RawBundle) -> dict[str, PurposeDecl]:
    """Every purpose as a :class:`PurposeDecl` (a plain string is its description)."""
    return {
        code: decl if isinstance(decl, PurposeDecl) else PurposeDecl(description=decl)
        for code, decl in raw.vocabulary.purposes.items()
    }


def _scope(
    when: ScopeWhen, src: Located, base: tuple[Any, ...], issues: IssueSink
) -> dict[str, Dnf] | None:
    out: dict[str, Dnf] = {}
    ok = True
    for ace in SCOPE_ACES:
        raw = getattr(when, ace)
        if raw in ({}, None, []):
            out[ace] = ALWAYS
            continue
        try:
            dnf = parse_ace(ace, raw)
        except (ConditionSyntaxError, ValueError) as exc:
            issues.add("condition", str(exc), src, (*base, "when", ace), getattr(exc, "hint", ""))
            ok = False
            continue
        out[ace] = dnf
    return out if ok else None


def _datasets(
    names: list[str] | None,
    datasets: dict[str, DatasetInfo],
    src: Located,
    issues: IssueSink,
) -> frozenset[str] | None:
    for name in names or []:
        if name not in datasets:
            issues.add(
                "dataset",
                f"unknown dataset '{name}'",
                src,
                ("datasets",),
                f"datasets: {', '.join(sorted(datasets))}",
            )
    return frozenset(names) if names is not None else None


def _views(
    raw: RawBundle, datasets: dict[str, DatasetInfo], tags: set[str], issues: IssueSink
) -> list[View]:
    views: list[View] = []
    for name, decl in raw.profiles.items():
        src = raw.profile_src[name]
        profile = find_profile(decl.profile)
        if profile is None:
            shipped = ", ".join(p.ref for p in PROFILES.values())
            issues.add(
                "profile",
                f"veil ships no profile '{decl.profile}'",
                src,
                ("profile",),
                f"shipped profiles: {shipped}",
            )
            continue
        try:
            options: BaseModel = options_of(profile, decl.options)
        except ValidationError as err:
            for e in err.errors(include_url=False, include_input=False):
                issues.add(
                    "profile",
                    f"{profile.ref} option: {e['msg']}",
                    src,
                    ("options", *e["loc"]),
                    f"options of {profile.name}: {', '.join(profile.options.model_fields)}",
                )
            continue
        known = {c.id for c in profile.classes}
        for cid in decl.classes:
            if cid not in known:
                issues.add(
                    "profile",
                    f"{profile.ref} has no identifier class '{cid}'",
                    src,
                    ("classes", cid),
                    f"classes: {', '.join(sorted(known))}",
                )
        class_tags: dict[str, frozenset[str]] = {}
        for cls in profile.classes:
            mapped = decl.classes.get(cls.id)
            if mapped is None:
                if cls.id not in tags:
                    issues.add(
                        "profile",
                        f"identifier class '{cls.id}' of {profile.ref} ({cls.cite}: "
                        f"{cls.text[:60]}...) is not mapped to a tag",
                        src,
                        ("classes",),
                        f"declare tag '{cls.id}' and put it on the fields that hold it, map "
                        f"the class to your tags (classes: {{{cls.id}: [...]}}), or state "
                        f"that no dataset holds it (classes: {{{cls.id}: []}})",
                    )
                    continue
                mapped = [cls.id]
            for tag in mapped:
                if tag not in tags:
                    issues.add(
                        "tag",
                        f"unknown tag '{tag}' for class '{cls.id}'",
                        src,
                        ("classes", cls.id),
                        f"declared tags: {', '.join(sorted(tags))}",
                    )
            class_tags[cls.id] = frozenset(mapped)
        scope = _scope(decl.when, src, (), issues)
        ds = _datasets(decl.datasets, datasets, src, issues)
        if scope is None or len(class_tags) != len(profile.classes):
            continue
        views.append(View(name, profile, options, ds, scope, class_tags, src))
    return views


def _assertions(
    raw: RawBundle, datasets: dict[str, DatasetInfo], tags: set[str], issues: IssueSink
) -> list[CompiledAssertion]:
    out: list[CompiledAssertion] = []
    seen: set[str] = set()
    for a, src in zip(raw.assertions, raw.assertion_src, strict=True):
        before = len(issues.items)
        if a.id in seen:
            issues.add("duplicate_id", f"assertion id '{a.id}' is used twice", src, ("id",))
        seen.add(a.id)
        for tag in a.fields.tags or []:
            if tag not in tags:
                issues.add(
                    "tag",
                    f"unknown tag '{tag}'",
                    src,
                    ("fields", "tags"),
                    f"declared tags: {', '.join(sorted(tags))}",
                )
        ds = _datasets(a.datasets, datasets, src, issues)
        if a.fields.fields is not None:
            paths = {
                p for name, d in datasets.items() if ds is None or name in ds for p in d.fields
            }
            for i, pat in enumerate(a.fields.fields):
                if not any(fnmatch.fnmatchcase(p, pat.replace("[", "[[]")) for p in paths):
                    issues.add(
                        "target",
                        f"field '{pat}' is not a field of the assertion's datasets",
                        src,
                        ("fields", "fields", i),
                        "use a declared field path",
                    )
        scope = _scope(a.when, src, (), issues)
        if scope is not None and len(issues.items) == before:
            out.append(CompiledAssertion(a, scope, src))
    return out


def recipient_scopes(raw: RawBundle, issues: IssueSink) -> dict[str, dict[str, Dnf]]:
    """Compiled ``named_by`` of each recipient that has one."""
    out: dict[str, dict[str, Dnf]] = {}
    for rid, decl in raw.recipients.items():
        if decl.named_by is not None:
            scope = _scope(decl.named_by, raw.recipient_src[rid], ("named_by",), issues)
            if scope is not None:
                out[rid] = scope
    return out


def _recipients(raw: RawBundle, issues: IssueSink) -> dict[str, RecipientDecl]:
    for rid, decl in raw.recipients.items():
        src = raw.recipient_src[rid]
        for i, agreement in enumerate(decl.agreements):
            if not agreement.replace("_", "").isalnum():
                issues.add(
                    "recipient",
                    f"agreement '{agreement}' of recipient '{rid}' is not a simple name",
                    src,
                    ("agreements", i),
                    "use e.g. data_use_agreement or business_associate_agreement",
                )
    return dict(raw.recipients)


def compile_compliance(
    raw: RawBundle, datasets: dict[str, DatasetInfo], tags: set[str], issues: IssueSink
) -> tuple[dict[str, Any], list[View], list[CompiledAssertion]]:
    """(``{"purposes": ..., "recipients": ...}``, views, assertions) for :class:`Bundle`."""
    purposes = purposes_of(raw)
    recipients = _recipients(raw, issues)
    views = _views(raw, datasets, tags, issues)
    assertions = _assertions(raw, datasets, tags, issues)
    scopes = recipient_scopes(raw, issues)
    return (
        {"purposes": purposes, "recipients": recipients, "recipient_scopes": scopes},
        views,
        assertions,
    )


#: 45 CFR 164.528(a)(1): disclosures for which no accounting is owed, by purpose category.
EXEMPT: dict[str, str] = {
    "treatment": "164.528(a)(1)(i): to carry out treatment (164.506)",
    "payment": "164.528(a)(1)(i): to carry out payment (164.506)",
    "health_care_operations": "164.528(a)(1)(i): to carry out health care operations (164.506)",
    "to_individual": "164.528(a)(1)(ii): to the individual, of PHI about them (164.502)",
    "incident": "164.528(a)(1)(iii): incident to a permitted use or disclosure",
    "authorization": "164.528(a)(1)(iv): pursuant to an authorization (164.508)",
    "directory": "164.528(a)(1)(v): facility directory or persons involved in care (164.510)",
    "national_security": "164.528(a)(1)(vi): national security or intelligence (164.512(k)(2))",
    "correctional_law_enforcement_custody": (
        "164.528(a)(1)(vii): correctional institutions or law enforcement custody (164.512(k)(5))"
    ),
}
#: Views after which what left is not an accountable disclosure of PHI.
VIEW_EXEMPT: dict[str, str] = {
    "hipaa-safe-harbor": "164.514(a)-(b): de-identified under Safe Harbor, not PHI",
    "hipaa-limited-data-set": "164.528(a)(1)(viii): as part of a limited data set (164.514(e))",
}


def accounting_basis(
    purposes: dict[str, PurposeDecl],
    recipients: dict[str, RecipientDecl],
    purpose: str,
    recipient: str,
    views: tuple[tuple[str, str], ...],
) -> dict[str, Any]:
    """What a ledger event records for the accounting of disclosures (164.528), decided
    when the disclosure is made: whether it is accountable and why (an exemption of
    (a)(1), or the view that made it non-PHI or a limited data set), the statement of
    purpose ((b)(2)(iv)) and the recipient's name and address if known ((b)(2)(ii))."""
    decl = purposes.get(purpose) or PurposeDecl()
    exempt = EXEMPT.get(decl.category)
    for _, ref in views:
        exempt = exempt or VIEW_EXEMPT.get(ref.partition("@")[0])
    accountable = exempt is None
    if decl.accountable is not None:
        accountable = decl.accountable
        exempt = None if accountable else (exempt or "declared not accountable by the bundle")
    who = recipients.get(recipient)
    return {
        "accountable": accountable,
        "basis": exempt or f"164.528(a): {decl.category.replace('_', ' ')} disclosure",
        "statement": decl.statement or decl.description or purpose,
        "recipient_name": who.name if who else recipient,
        "recipient_address": who.address if who else "",
        "business_associate": bool(who and who.business_associate),
    }
