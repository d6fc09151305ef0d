"""No network at run time: the guard in tests/conftest.py works, and building and using
the analyzers (tldextract's suffix list included) never tries to connect."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import tests_guard_access as guard

from conftest import needs_ner
from veil.text.engine import (
    NER_ENTITIES,
    PATTERN_ENTITIES,
    EngineConfig,
    Query,
    TextAnalyzer,
)


def test_guard_refuses_remote_connects_and_lookups() -> None:
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 80), timeout=0.5)
    with pytest.raises(OSError):
        socket.getaddrinfo("publicsuffix.org", 443)
    assert guard.blocked() == ["DNS lookup of 'publicsuffix.org'", "connect to '192.0.2.1'"]
    guard.clear()


def test_guard_allows_loopback() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        client = socket.create_connection(server.getsockname(), timeout=2)
        client.close()
        socket.getaddrinfo("localhost", 80)
    finally:
        server.close()
    assert guard.blocked() == []


def test_building_and_using_the_default_engine_stays_offline() -> None:
    # A config no other test uses, so the analyzer is built inside this test.
    analyzer = TextAnalyzer(EngineConfig(phone_regions=("GB",)))
    spans = analyzer.analyze(
        "mail a@example.org, b@mail.co.uk or c@invalid.notatld", Query(("EMAIL_ADDRESS",), 0.4)
    )
    assert [s.entity for s in spans] == ["EMAIL_ADDRESS", "EMAIL_ADDRESS"]
    assert guard.blocked() == []
    assert analyzer.supported == PATTERN_ENTITIES


@needs_ner
def test_ner_engine_stays_offline_and_detects_names() -> None:
    analyzer = TextAnalyzer(EngineConfig(engine="ner", phone_regions=("GB",)))
    assert analyzer.supported == PATTERN_ENTITIES | NER_ENTITIES
    spans = analyzer.analyze("Robert Burgess flew to Boston.", Query(("PERSON", "LOCATION"), 0.4))
    assert {s.entity for s in spans} == {"PERSON", "LOCATION"}
    assert guard.blocked() == []


def test_cli_import_does_not_load_presidio_or_spacy() -> None:
    code = "import sys, veil.cli; print(sorted({'presidio_analyzer','spacy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
