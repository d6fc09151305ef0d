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

**Which key version.** A random code names its key version (its marker, see
:mod:`veil.transforms.crypto`), and only that version's vault namespace is searched: a
code the vault never issued there is refused. An FF1 code carries no version, and any
key turns it into a well-formed value, so a wrong key would give a believable wrong card
number. Three checks stand in the way: the version must be named when the key has
several (the disclosure's ledger event records it); the ledger must hold a disclosure
made by the rule with that very key version (a key file with another key under the
same name is refused); and a rule with ``check: luhn`` refuses a result that fails the
Luhn check. One reveal uses one key version, which it reports and logs.

**What is logged.** A ``reveal`` event: who, why, which rule and field, how many values,
the key version and fingerprint; when the field is the dataset's data-subject field, the
revealed ids are its data subjects, so each patient's history shows that their code was
reversed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import AccessDenied, ConfigError, RequestError
from .keys import Keyring, KeyVersion
from .ledger.base import EventSource
from .ledger.events import Event, FieldDisclosure, Requester, current_request_id
from .policy.bundle import Bundle, CompiledRule
from .policy.conditions import ALWAYS
from .policy.matching import target_matches
from .policy.plan import build_plan
from .provenance import veil_version
from .request import Request
from .transforms.base import BindContext, CannotApply, TokenVault
from .transforms.crypto import (
    FPE_NEEDS_BYTES,
    FpeParams,
    RandomTokens,
    TokenizeParams,
    fpe_reveal,
    primary_for,
    token_version,
)

REVEAL = "reveal"


@dataclass(frozen=True)
class Revealed:
    values: list[str]
    event: Event
    #: the key version the values were revealed with
    key: KeyVersion


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


def _fpe_version(keys: Keyring, name: str, wanted: int | None) -> KeyVersion:
    """The version FF1 codes are revealed with: the one named, else the only one."""
    primary_for(keys, name, "aes", "fpe")  # the key's kind
    key = keys.key(name)
    if wanted is not None:
        return key.version(wanted)
    if len(key.versions) > 1:
        have = ", ".join(f"v{v.version} ({v.fingerprint})" for v in key.versions)
        raise RequestError(
            f"key '{name}' has several versions ({have}) and FF1 codes do not say which made them",
            hint="name it with --key-version: the disclosure's ledger event records it "
            f"(key_fingerprints: {{{name}: v<N>:<fingerprint>}})",
        )
    return key.versions[0]


def _made_with(history: EventSource, rule_id: str, name: str, version: KeyVersion) -> bool:
    """Does the ledger hold a disclosure by ``rule_id`` made with ``version`` of ``name``?
    Newest first, so recent codes are found at once; events written before keys had
    versions record the bare fingerprint, which is compared the same way."""
    fingerprint = version.fingerprint
    for stored in history.events(descending=True):
        event = stored.event
        label = event.key_fingerprints.get(name)
        if event.kind != "disclosure" or label is None:
            continue
        if label.rpartition(":")[2] != fingerprint:
            continue
        if any(rule_id in f.rules for f in event.fields.values()):
            return True
    return False


def _random_version(
    keys: Keyring, params: TokenizeParams, codes: Sequence[str], wanted: int | None
) -> KeyVersion:
    """The one key version all ``codes`` name (by their marker)."""
    found: set[int] = set()
    for n, code in enumerate(codes, 1):
        v = token_version(code, params.prefix)
        if v is None:
            raise RequestError(
                f"value {n} does not start with the rule's prefix '{params.prefix}'",
                hint="check the rule the codes were made by",
            )
        found.add(v)
    if len(found) > 1:
        raise RequestError(
            f"the codes were made with key versions {', '.join(f'v{v}' for v in sorted(found))}"
            f" of '{params.key}'; one reveal uses one version",
            hint="reveal each version's codes separately (so each reveal event names its version)",
        )
    version = found.pop() if found else (wanted or keys.primary(params.key).version)
    if wanted is not None and wanted != version:
        raise RequestError(
            f"the codes were made with version {version} of key '{params.key}', not {wanted}",
            hint="leave out --key-version: random codes carry their version",
        )
    chosen = keys.version(params.key, version)
    if chosen.kind not in (None, "hmac"):
        raise ConfigError(f"tokenize needs an hmac key, and key {chosen.ref} is {chosen.kind}")
    return chosen


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
    history: EventSource | None = None,
    key_version: int | None = None,
) -> Revealed:
    """Reveal ``codes`` made by rule ``rule_id`` for ``request``'s requester. ``recipient``:
    whom the codes were disclosed to (random codes are per recipient). ``history``: the
    ledger the codes' disclosures are in (FF1 codes are checked against it).
    ``key_version``: the key version FF1 codes were made with (needed when the key has
    several). The reveal event is appended (``append(event)``) before the values are
    returned; if that raises, nothing is returned."""
    rule = _rule(bundle, rule_id)
    dataset, path = _authorize(bundle, rule, request)
    params = rule.outcome.params if rule.outcome else None
    values: list[str] = []
    if isinstance(params, FpeParams):
        version = _fpe_version(keys, params.key, key_version)
        if history is None:
            raise RequestError(
                "FF1 codes are revealed against the ledger of their disclosures",
                hint="pass the ledger the codes were disclosed under",
            )
        if not _made_with(history, rule_id, params.key, version):
            raise RequestError(
                f"no disclosure in this ledger was made by rule '{rule_id}' with key "
                f"{version.ref} (fingerprint {version.fingerprint}): these codes cannot "
                "have been made with it",
                hint="check the key file (another key under this name?), --key-version and "
                "--ledger",
            )
        key = version.secret(FPE_NEEDS_BYTES)
        for n, code in enumerate(codes, 1):
            try:
                values.append(
                    fpe_reveal(
                        code,
                        key,
                        params.alphabet,
                        params.tweak,
                        params.preserve_other,
                        check=params.check,
                    )
                )
            except CannotApply:
                raise RequestError(
                    f"value {n} cannot have been made by rule '{rule_id}' with key {version.ref}",
                    hint="check the value, the rule and --key-version",
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
        version = _random_version(keys, params, codes, key_version)
        info = bundle.datasets[dataset].fields[path]
        ctx = BindContext(dataset, path, info.value_type, recipient or "*", keys, vault=vault)
        op = RandomTokens(params, ctx, vault, version)
        for n, code in enumerate(codes, 1):
            try:
                values.append(op.reveal(code))
            except CannotApply:
                raise RequestError(
                    f"value {n} was not issued by rule '{rule_id}' with key {version.ref} "
                    "to this recipient",
                    hint="check the rule, the recipient and the ledger",
                ) from None
        treatment = "random token reveal"
    subject_field = ".".join(bundle.datasets[dataset].data_subject) == path
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
        key_fingerprints={params.key: version.label},
        veil_version=veil_version(),
        request_id=current_request_id(),
        details={"codes_of_recipient": recipient} if recipient else {},
        data_subjects=sorted(set(values)) if subject_field else [],
    )
    if append is not None:
        append(event)
    return Revealed(values, event, version)
