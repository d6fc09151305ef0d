"""open_ledger: URL forms and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_factory import KEY, make_event

from veil.errors import ConfigError, LedgerError
from veil.ledger import Ledger, SQLiteLedger, open_ledger


def _use(led: Ledger) -> None:
    led.append(make_event())
    assert led.verify().ok
    led.close()


def test_relative_sqlite_url_creates_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    led = open_ledger("sqlite:///var/veil/ledger.db", KEY)
    assert isinstance(led, SQLiteLedger)
    _use(led)
    assert (tmp_path / "var" / "veil" / "ledger.db").is_file()


def test_absolute_sqlite_url(tmp_path: Path) -> None:
    target = tmp_path / "a" / "l.db"
    _use(open_ledger(f"sqlite:///{target}", None))  # tmp_path is absolute: 4 slashes
    assert target.is_file()


def test_plain_path(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "l.db"
    _use(open_ledger(str(target), None))
    assert target.is_file()


def test_unreachable_postgres_is_a_ledger_error(tmp_path: Path) -> None:
    from veil.errors import LedgerError

    with pytest.raises(LedgerError) as err:
        open_ledger("postgresql://veil:s3cret@127.0.0.1:1/veil?connect_timeout=1", KEY)
    assert err.value.hint and "s3cret" not in err.value.render()


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://host/x.db", "sqlite:///:memory:", ""])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        open_ledger(url, None)


def test_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(LedgerError, match="directory"):
        open_ledger(str(tmp_path / "file" / "sub" / "l.db"), None)
    with pytest.raises(LedgerError):
        open_ledger(str(tmp_path / "file" / "l.db"), None)
