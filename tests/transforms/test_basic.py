import pytest
from pydantic import ValidationError
from transform_helpers import make_op

from veil import transforms
from veil.errors import TransformError
from veil.transforms import REGISTRY, CannotApply, FieldType

RANKS = {
    "keep": 100,
    "scan_text": 95,
    "fpe": 90,
    "date_shift": 85,
    "truncate": 70,
    "mask": 60,
    "generalize": 50,
    "mask_date": 50,
    "tokenize": 40,
    "hash": 30,
    "replace": 20,
    "nullify": 10,
    "redact": 0,
}
KEYED = {"fpe", "date_shift", "tokenize", "hash"}


def test_importing_the_package_registers_every_transform():
    assert {name: spec.rank for name, spec in REGISTRY.items()} == RANKS


@pytest.mark.parametrize("name", sorted(RANKS))
def test_specs_are_documented(name):
    spec = transforms.get(name)
    assert spec.summary and "\n" not in spec.summary
    assert "->" in spec.example
    assert spec.applies_to
    assert spec.keyed == (name in KEYED)


@pytest.mark.parametrize("name", sorted(KEYED))
def test_keyed_specs_name_their_key(name):
    spec = transforms.get(name)
    raw = {"key": "research"} if name != "generalize" else {}
    assert spec.keys_of(spec.parse_params(raw)) == ("research",)


def test_keyed_params_require_a_key():
    for name in KEYED:
        with pytest.raises(ValidationError):
            transforms.get(name).parse_params({})


def test_unknown_transform_lists_known_ones():
    with pytest.raises(TransformError) as exc:
        transforms.get("scramble")
    assert "mask" in exc.value.hint


def test_keep_is_identity():
    keep = make_op("keep", field_type=FieldType.OBJECT)
    value = {"a": [1, 2]}
    assert keep(value, None) is value
    assert make_op("keep")("Alice", "s1") == "Alice"


def test_nullify_returns_none():
    assert make_op("nullify")("078-05-1120", None) is None
    assert make_op("nullify", field_type=FieldType.INTEGER)(42, None) is None


def test_redact_op_fails_closed():
    with pytest.raises(CannotApply):
        make_op("redact")("078-05-1120", None)


@pytest.mark.parametrize("constant", ["[withheld]", 0, 1.5, True, None])
def test_replace_returns_the_constant(constant):
    assert make_op("replace", {"value": constant})("Alice", None) == constant


def test_replace_keeps_the_constant_type():
    spec = transforms.get("replace")
    assert spec.parse_params({"value": True}).value is True  # type: ignore[attr-defined]
    assert spec.parse_params({"value": 1}).value == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("raw", [{}, {"value": "x", "other": 1}, {"value": [1]}])
def test_replace_rejects_bad_params(raw):
    with pytest.raises(ValidationError):
        transforms.get("replace").parse_params(raw)


@pytest.mark.parametrize("name", ["keep", "nullify", "redact"])
def test_no_params_transforms_reject_params(name):
    with pytest.raises(ValidationError):
        transforms.get(name).parse_params({"length": 3})


def test_params_are_frozen():
    params = transforms.get("mask").parse_params({"keep_last": 4})
    with pytest.raises(ValidationError):
        params.keep_last = 10  # type: ignore[attr-defined]
