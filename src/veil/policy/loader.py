"""YAML files -> one raw bundle, with every problem located by file and line.

Each file is composed once (for line numbers) and loaded once (for data). Shape errors
from pydantic are mapped back to the YAML node they came from, so an error says
``policies/health/rules.yaml:42 (rules[3].then.params.keep_last)`` rather than an index
into merged data. Duplicate mapping keys, which YAML silently collapses, are reported:
in a policy, the second ``ssn:`` must not quietly replace the first.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .. import safeyaml
from ..errors import Issue, PolicyError
from ..safeyaml import YamlLimitError
from ..text.decl import RecognizerDecl
from .model import (
    Assertion,
    AttributeDecl,
    BundleFile,
    BundleMeta,
    Dataset,
    PolicyTest,
    ProfileView,
    RecipientDecl,
    Rule,
    TextDecl,
    Vocabulary,
)

Loc = Sequence[str | int]
#: Limits on one policy file (see :mod:`veil.safeyaml`) and on a whole bundle.
FILE_LIMITS = safeyaml.Limits(max_bytes=2 * 1024 * 1024, max_depth=48, max_nodes=500_000)
BUNDLE_MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Located:
    """Where an item of the bundle came from: its file and its node within the file."""

    file: str
    node: yaml.Node | None
    base: tuple[str | int, ...] = ()

    def line(self, sub: Loc = ()) -> int | None:
        return node_line(self.node, sub)

    def where(self, sub: Loc = ()) -> str:
        return format_loc([*self.base, *sub])


@dataclass
class RawBundle:
    root: Path
    version: str
    meta: BundleMeta
    vocabulary: Vocabulary
    subject_attributes: dict[str, AttributeDecl] = field(default_factory=dict)
    context_attributes: dict[str, AttributeDecl] = field(default_factory=dict)
    datasets: dict[str, Dataset] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    tests: list[PolicyTest] = field(default_factory=list)
    dataset_src: dict[str, Located] = field(default_factory=dict)
    rule_src: list[Located] = field(default_factory=list)
    test_src: list[Located] = field(default_factory=list)
    attr_src: dict[str, Located] = field(default_factory=dict)
    recognizers: dict[str, RecognizerDecl] = field(default_factory=dict)
    recognizer_src: dict[str, Located] = field(default_factory=dict)
    recipients: dict[str, RecipientDecl] = field(default_factory=dict)
    recipient_src: dict[str, Located] = field(default_factory=dict)
    profiles: dict[str, ProfileView] = field(default_factory=dict)
    profile_src: dict[str, Located] = field(default_factory=dict)
    assertions: list[Assertion] = field(default_factory=list)
    assertion_src: list[Located] = field(default_factory=list)
    vocabulary_src: Located | None = None
    text: TextDecl | None = None


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def node_line(node: yaml.Node | None, loc: Loc) -> int | None:
    """Line (1-based) of the deepest node reachable along ``loc``."""
    if node is None:
        return None
    best = node.start_mark.line + 1
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = v
                    best = k.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            nxt = node.value[part]
        if nxt is None:
            break
        node = nxt
        best = node.start_mark.line + 1
    return best


def bundle_version(root: Path, files: list[Path]) -> str:
    """Content hash over every file of the bundle (names and bytes), recorded in the ledger."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode())
        h.update(b"\x00")
        h.update(f.read_bytes())
        h.update(b"\x00")
    return "sha256:" + h.hexdigest()


def _duplicate_keys(
    node: yaml.Node,
    rel: str,
    loc: list[str | int],
    issues: list[Issue],
    seen_nodes: set[int] | None = None,
) -> None:
    # An aliased node is checked once, where it is defined, not at every alias.
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else "?"
            if key in seen:
                issues.append(
                    Issue(
                        "duplicate_key",
                        f"key '{key}' appears twice in the same mapping",
                        rel,
                        k.start_mark.line + 1,
                        format_loc(loc),
                        "YAML keeps only the last one; merge or rename them",
                    )
                )
            seen.add(key)
            _duplicate_keys(v, rel, [*loc, key], issues, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicate_keys(item, rel, [*loc, i], issues, seen_nodes)


def _pydantic_issues(err: ValidationError, rel: str, node: yaml.Node | None) -> list[Issue]:
    issues = []
    for e in err.errors(include_url=False, include_input=False):
        # Drop pydantic's union-branch markers (e.g. 'TransformThen', 'literal[...]').
        loc = [p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p[:1].isupper()))]
        msg = e["msg"]
        hint = ""
        if e["type"] == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}'" if loc else "unknown key"
            hint = "check the spelling; see the README's policy language section"
        elif e["type"] == "missing":
            msg = f"required key '{loc[-1]}' is missing" if loc else "required key missing"
        elif e["type"] in ("literal_error", "enum"):
            hint = "allowed values are listed in the message"
        issues.append(Issue("schema", msg, rel, node_line(node, loc), format_loc(loc), hint))
    return issues


def _load_file(path: Path, rel: str, issues: list[Issue]) -> tuple[BundleFile, yaml.Node] | None:
    try:
        if path.stat().st_size > FILE_LIMITS.max_bytes:
            raise YamlLimitError(f"larger than {FILE_LIMITS.max_bytes // 1024} KiB")
        text = path.read_text(encoding="utf-8")
        node = safeyaml.compose(text, FILE_LIMITS)
        # constructing flattens merge keys in place; keep the composed graph as written
        data = safeyaml.construct(copy.deepcopy(node))
    except UnicodeDecodeError:
        issues.append(Issue("yaml", "file is not UTF-8 text", rel))
        return None
    except YamlLimitError as exc:
        issues.append(
            Issue(
                "yaml_limit",
                f"file is too large or too deep to load: {exc}",
                rel,
                exc.line,
                hint="a policy file is at most "
                f"{FILE_LIMITS.max_bytes // 1024} KiB, {FILE_LIMITS.max_depth} levels deep and "
                f"{FILE_LIMITS.max_nodes:,} nodes with aliases expanded; split or simplify it",
            )
        )
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        issues.append(Issue("yaml", f"YAML syntax error: {problem}", rel, line))
        return None
    if data is None or node is None:
        return None  # an empty file contributes nothing
    if not isinstance(data, dict):
        issues.append(Issue("schema", "a bundle file must be a mapping at top level", rel, 1))
        return None
    before = len(issues)
    _duplicate_keys(node, rel, [], issues)
    try:
        parsed = BundleFile.model_validate(data)
    except ValidationError as err:
        issues.extend(_pydantic_issues(err, rel, node))
        return None
    return (parsed, node) if len(issues) == before else None


def _child(node: yaml.Node, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                found: yaml.Node = v
                return found
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        item: yaml.Node = node.value[key]
        return item
    return None


def _merge_named(
    kind: str,
    section: str,
    items: dict[str, Any],
    target: dict[str, Any],
    src: dict[str, Located],
    rel: str,
    node: yaml.Node,
    issues: list[Issue],
) -> None:
    """Add one file's named items of ``section``; a name declared twice is an issue."""
    snode = _child(node, section)
    for name, item in items.items():
        if name in target:
            issues.append(
                Issue(
                    "duplicate",
                    f"{kind} '{name}' is declared twice",
                    rel,
                    node_line(node, [section, name]),
                    f"{section}.{name}",
                    f"first declared in {src[name].file}",
                )
            )
            continue
        target[name] = item
        src[name] = Located(rel, _child(snode, name) if snode else None, (section, name))


def load_raw(root: str | Path) -> RawBundle:
    """Read every ``*.yaml``/``*.yml`` under ``root``; raise PolicyError with all shape issues."""
    root = Path(root)
    if not root.is_dir():
        raise PolicyError(
            [Issue("not_found", f"policy directory '{root}' does not exist", str(root))]
        )
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        raise PolicyError([Issue("empty", "no .yaml files in the policy directory", str(root))])
    total = sum(f.stat().st_size for f in files)
    if total > BUNDLE_MAX_BYTES:
        raise PolicyError(
            [
                Issue(
                    "yaml_limit",
                    f"the bundle's files hold {total // 1024} KiB, more than "
                    f"{BUNDLE_MAX_BYTES // 1024} KiB",
                    str(root),
                    hint="a policy bundle is rules and declarations, not data; keep it small",
                )
            ]
        )
    issues: list[Issue] = []
    meta: BundleMeta | None = None
    vocab: Vocabulary | None = None
    text: TextDecl | None = None
    raw = RawBundle(root, bundle_version(root, files), BundleMeta(name="unnamed"), Vocabulary())
    for path in files:
        rel = path.relative_to(root.parent).as_posix() if root.parent != root else path.name
        loaded = _load_file(path, rel, issues)
        if loaded is None:
            continue
        bf, node = loaded

        def once(
            kind: str, value: Any, current: Any, rel: str = rel, node: yaml.Node = node
        ) -> Any:
            if value is None:
                return current
            if current is not None:
                issues.append(
                    Issue(
                        "duplicate",
                        f"'{kind}' is declared in more than one file",
                        rel,
                        node_line(node, [kind]),
                        kind,
                        "declare it in one file only",
                    )
                )
                return current
            return value

        meta = once("bundle", bf.bundle, meta)
        vocab = once("vocabulary", bf.vocabulary, vocab)
        text = once("text", bf.text, text)
        for section, target in (
            ("subject_attributes", raw.subject_attributes),
            ("context_attributes", raw.context_attributes),
        ):
            for name, decl in getattr(bf, section).items():
                key = f"{section}.{name}"
                if name in target:
                    issues.append(
                        Issue(
                            "duplicate",
                            f"attribute '{name}' declared twice",
                            rel,
                            node_line(node, [section, name]),
                            key,
                        )
                    )
                target[name] = decl
                raw.attr_src[key] = Located(
                    rel, _child(_child(node, section) or node, name), (section, name)
                )
        _merge_named(
            "dataset", "datasets", bf.datasets, raw.datasets, raw.dataset_src, rel, node, issues
        )
        _merge_named(
            "recognizer",
            "recognizers",
            bf.recognizers,
            raw.recognizers,
            raw.recognizer_src,
            rel,
            node,
            issues,
        )
        _merge_named(
            "recipient",
            "recipients",
            bf.recipients,
            raw.recipients,
            raw.recipient_src,
            rel,
            node,
            issues,
        )
        _merge_named(
            "profile view",
            "profiles",
            bf.profiles,
            raw.profiles,
            raw.profile_src,
            rel,
            node,
            issues,
        )
        anode = _child(node, "assertions")
        for i, assertion in enumerate(bf.assertions):
            raw.assertions.append(assertion)
            raw.assertion_src.append(
                Located(rel, _child(anode, i) if anode else None, ("assertions", i))
            )
        if bf.vocabulary is not None and raw.vocabulary_src is None:
            raw.vocabulary_src = Located(rel, _child(node, "vocabulary"), ("vocabulary",))
        rnode = _child(node, "rules")
        for i, rule in enumerate(bf.rules):
            raw.rules.append(rule)
            raw.rule_src.append(Located(rel, _child(rnode, i) if rnode else None, ("rules", i)))
        tnode = _child(node, "tests")
        for i, test in enumerate(bf.tests):
            raw.tests.append(test)
            raw.test_src.append(Located(rel, _child(tnode, i) if tnode else None, ("tests", i)))
    if meta is None:
        issues.append(
            Issue(
                "missing",
                "no file declares 'bundle: {name: ...}'",
                str(root),
                hint="add a bundle.yaml with 'bundle: {name: my-bundle}'",
            )
        )
    if issues:
        raise PolicyError(issues)
    assert meta is not None
    raw.meta = meta
    raw.vocabulary = vocab or Vocabulary()
    raw.text = text
    return raw
