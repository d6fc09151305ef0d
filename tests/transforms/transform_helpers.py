"""Shared helpers; imported as a top-level module (tests/transforms has no __init__)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from veil import transforms
from veil.keys import Keyring
from veil.transforms import BindContext, FieldType

KEYS = Keyring(
    keys={"k": bytes(range(32)), "k2": bytes(range(1, 33)), "k20": bytes(range(20))},
    use_env=False,
)


def make_op(
    name: str,
    params: dict[str, Any] | None = None,
    field_type: FieldType = FieldType.STRING,
    recipient: str = "analyst",
    keys: Keyring = KEYS,
) -> Callable[[Any, str | None], Any]:
    spec = transforms.get(name)
    ctx = BindContext("people", "field", field_type, recipient, keys)
    return spec.bind(spec.parse_params(params), ctx)
