"""Re-identification: turning a rule's codes back into values, for a requester the policy
allows, with the reveal recorded in the ledger before any value is shown.

Two kinds of code can be revealed: FF1 ciphertexts (``fpe``, reversed with the key) and
random re-identification codes (``tokenize`` with ``mode: random``, looked up in the
token vault and unsealed with the key). Keyed hashes and keyed tokens cannot be reversed.

**Who may.** A reveal is a request like any other, with action ``reveal``: the bundle
must declare the action, and the rule's target field must be disclosed in clear to the
requester for that action by a rule that *names the reveal action* in its ``when``. A rule
that allows a field for every action (a clinician's treatment view, say) does not let its
holders re-identify research codes: 164.514(c)(2) forbids using the code "for any other
purpose".

**What is logged.** A ``reveal`` event: who, why, which rule and field, how many values,
the key fingerprint; when the field is the dataset's data-subject field, the revealed
ids are its data subjects, so each patient's history shows that their code was reversed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import AccessDenied, RequestError
from .keys import Keyring
from .ledger.events import Event, FieldDisclosure, Requester
from .policy.bundle import Bundle, CompiledRule
from .policy.conditions import ALWAYS
from .policy.matching import target_matches
from .policy.plan import build_plan
from .provenance import veil_version
from .request import Request
from .transforms.base import BindContext, CannotApply, TokenVault
from .transforms.crypto import FpeParams, RandomTokens, TokenizeParams, fpe_reveal

REVEAL = "reveal"


@dataclass(frozen=True)
class Revealed:
    values: list[str]
    event: Event


def _rule(bundle: Bundle, rule_id: str) -> CompiledRule:
    found = next((r for r in bundle.rules if r.id == rule_id), None)
    out = found.outcome if found else None
    ok = out is not None and (
        out.transform == "fpe"
        or (out.transform == "tokenize" and getattr(out.params, "mode", "") == "random")
    )
    if found is None or not ok:
        raise RequestError(
            f"rule '{rule_id}' of bundle '{bundle.name}' makes no reversible code",
            hint="reveal works on rules with transform fpe, or tokenize with mode: random",
        )
    return found


def _authorize(bundle: Bundle, rule: CompiledRule, request: Request) -> tuple[str, str]:
    """(dataset, field) the requester may re-identify for ``rule``; else AccessDenied."""
    if REVEAL not in bundle.vocabulary.actions:
        raise AccessDenied(
            f"bundle '{bundle.name}' does not declare the action '{REVEAL}'",
            hint="add 'reveal' to vocabulary.actions and a rule that allows it",
        )
    names = rule.rule.target.datasets or sorted(bundle.datasets)
    for dataset in names:
        req = request.model_copy(update={"dataset": dataset, "action": REVEAL})
        try:
            plan = build_plan(bundle, req)
        except RequestError:
            continue
        by_id = {r.id: r for r in bundle.rules}
        for path, decision in plan.decide(0).items():
            fr = plan.fields[path]
            if fr.info.is_container:
                continue
            if not target_matches(rule, bundle.datasets[dataset], fr.info):
                continue
            named = [by_id[r] for r in decision.rules if r in by_id]
            if decision.outcome.verdict == "allow" and any(
                r.when["action"] != ALWAYS for r in named
            ):
                return dataset, path
    raise AccessDenied(
        f"policy does not let '{request.subject_id}' re-identify the codes of rule "
        f"'{rule.id}' for purpose '{request.purpose}'",
        hint="a rule naming the reveal action must allow the rule's field for this requester",
    )


def reveal(
    bundle: Bundle,
    rule_id: str,
    request: Request,
    codes: Sequence[str],
    keys: Keyring,
    *,
    recipient: str | None = None,
    vault: TokenVault | None = None,
    append: Callable[[Event], object] | None = None,
) -> Revealed:
    """Reveal ``codes`` made by rule ``rule_id`` for ``request``'s requester. ``recipient``:
    whom the codes were disclosed to (random codes are per recipient). The reveal event is
    appended (``append(event)``) before the values are returned; if that raises, nothing
    is returned."""
    rule = _rule(bundle, rule_id)
    dataset, path = _authorize(bundle, rule, request)
    params = rule.outcome.params if rule.outcome else None
    values: list[str] = []
    if isinstance(params, FpeParams):
        key = keys.get(params.key)
        for n, code in enumerate(codes, 1):
            try:
                values.append(
                    fpe_reveal(code, key, params.alphabet, params.tweak, params.preserve_other)
                )
            except CannotApply:
                raise RequestError(
                    f"value {n} cannot be revealed with rule '{rule_id}'",
                    hint="check the rule and the key",
                ) from None
        treatment = "fpe reveal"
    else:
        assert isinstance(params, TokenizeParams)
        if vault is None:
            raise RequestError(
                "random codes are revealed from the token vault, and this ledger has none",
                hint="use the ledger the codes were issued with",
            )
        if params.per_recipient and not recipient:
            raise RequestError(
                "these codes are per recipient: say whom they were disclosed to",
                hint="pass --recipient (the recipient of the extract that holds them)",
            )
        info = bundle.datasets[dataset].fields[path]
        ctx = BindContext(dataset, path, info.value_type, recipient or "*", keys, vault=vault)
        op = RandomTokens(params, ctx, vault)
        for n, code in enumerate(codes, 1):
            try:
                values.append(op.reveal(code))
            except CannotApply:
                raise RequestError(
                    f"value {n} was not issued by rule '{rule_id}' to this recipient",
                    hint="check the rule, the recipient and the ledger",
                ) from None
        treatment = "random token reveal"
    subject_field = ".".join(bundle.datasets[dataset].data_subject) == path
    key_name = getattr(params, "key", "")
    event = Event(
        kind="reveal",
        requester=Requester(id=request.subject_id, attributes=request.subject),
        recipient=request.subject_id,
        purpose=request.purpose,
        action=REVEAL,
        dataset=dataset,
        bundle=bundle.name,
        bundle_version=bundle.version,
        context=request.context,
        fields={
            path: FieldDisclosure(
                outcomes={"revealed": len(values)}, rules=[rule_id], treatment=treatment
            )
        },
        key_fingerprints={key_name: keys.fingerprint(key_name)} if key_name else {},
        veil_version=veil_version(),
        details={"codes_of_recipient": recipient} if recipient else {},
        data_subjects=sorted(set(values)) if subject_field else [],
    )
    if append is not None:
        append(event)
    return Revealed(values, event)
