"""Dataset declarations compiled: field paths parsed, containers implied by child paths
(``name[*].given`` implies a list ``name`` of objects), record-id and data-subject fields
checked; and field lists of rules and assertions checked against the declared paths.
Part of validation: every problem is reported, with its file and line, not raised."""

from __future__ import annotations

import difflib
import fnmatch
from typing import Any

from ..paths import PathSyntaxError, parent, parse
from ..transforms.base import FieldType
from .bundle import DatasetInfo, FieldInfo
from .compliance import IssueSink
from .loader import Located
from .model import Dataset


def compile_dataset(
    name: str, ds: Dataset, src: Located, known_tags: set[str], issues: IssueSink
) -> DatasetInfo | None:
    fields: dict[str, FieldInfo] = {}
    ok = True
    for path, decl in ds.fields.items():
        where = ("fields", path)
        try:
            parse(path)
        except PathSyntaxError as exc:
            issues.add("path", str(exc), src, where)
            ok = False
            continue
        for tag in decl.tags:
            if tag not in known_tags:
                issues.add(
                    "tag",
                    f"unknown tag '{tag}' on field '{path}'",
                    src,
                    (*where, "tags"),
                    f"declared tags: {', '.join(sorted(known_tags)) or '(none)'}",
                )
        vtype = decl.items or decl.type
        if decl.type == FieldType.LIST and decl.items is None:
            vtype = FieldType.OBJECT
        fields[path] = FieldInfo(path, decl.type, vtype, frozenset(decl.tags), decl.nullable)
    # Containers implied by child paths ("name[*].given" implies list "name" of objects).
    for path in list(fields):
        child = path
        while (par := parent(child)) is not None:
            is_list = child.startswith(par + "[*].")
            want = FieldType.LIST if is_list else FieldType.OBJECT
            existing = fields.get(par)
            if existing is None:
                fields[par] = FieldInfo(par, want, FieldType.OBJECT, frozenset(), True, False)
            elif existing.type != want or (is_list and existing.value_type != FieldType.OBJECT):
                issues.add(
                    "path",
                    f"field '{par}' is declared as {existing.type.value} but "
                    f"'{path}' needs it to be a {want.value}" + (" of objects" if is_list else ""),
                    src,
                    ("fields", par),
                    "declare it as 'type: list' without 'items' for a list of objects"
                    if is_list
                    else "declare it as 'type: object'",
                )
                ok = False
            child = par
    ordered = dict(sorted(fields.items(), key=lambda kv: kv[0].count(".")))
    ids = {}
    for key in ("record_id", "data_subject"):
        path = getattr(ds, key)
        f = fields.get(path)
        if f is None or f.is_container or "[*]" in path or f.type == FieldType.LIST:
            issues.add(
                "dataset",
                f"{key} '{path}' must be a declared scalar field outside lists",
                src,
                (key,),
                f"declare '{path}' under fields, or point {key} at one that is",
            )
            ok = False
        ids[key] = tuple(path.split("."))
    if not ok:
        return None
    return DatasetInfo(name, ds.description, ids["record_id"], ids["data_subject"], ordered)


def check_field_names(
    patterns: list[str] | None,
    datasets: list[DatasetInfo],
    src: Located,
    where: tuple[Any, ...],
    issues: IssueSink,
) -> None:
    """Every name (or glob) in a field list must match a field of the datasets it is for:
    a misspelt field in ``fields: [amount, balnce]`` would otherwise just never match."""
    paths = [p for ds in datasets for p in ds.fields]
    for i, pattern in enumerate(patterns or []):
        glob = pattern.replace("[", "[[]")
        if any(fnmatch.fnmatchcase(p, glob) for p in paths):
            continue
        close = difflib.get_close_matches(pattern, paths, n=3)
        names = sorted({ds.name for ds in datasets})
        issues.add(
            "target",
            f"field '{pattern}' is not a field of "
            f"{'dataset' if len(names) == 1 else 'datasets'} {', '.join(names) or '(none)'}",
            src,
            (*where, i),
            f"did you mean {' or '.join(repr(c) for c in close)}?"
            if close
            else "use a declared field path (globs like 'name[*].*' are allowed)",
        )
