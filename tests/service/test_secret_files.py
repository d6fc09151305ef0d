"""Secret files: ``veil api-key --write`` keeps API-keys files private and loadable, and
``veil serve`` will not start on a keyset or API-keys file that others can read."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from veil.cli import app
from veil.service.auth import Authenticator

RUNNER = CliRunner()


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _new_key(path: Path, subject: str, *attrs: str) -> tuple[int, str, str]:
    args = ["api-key", "--subject-id", subject, "--write", str(path)]
    for a in attrs:
        args += ["-a", a]
    r = RUNNER.invoke(app, args)
    return r.exit_code, r.stdout.strip(), r.stderr


def _who(path: Path, secret: str) -> tuple[str, dict[str, object]]:
    auth = Authenticator.from_files(path, None, None, None, 30, {})
    p = auth.authenticate({"X-API-Key": secret})
    return p.subject_id, dict(p.attributes)


def test_write_creates_a_private_file_whose_keys_authenticate(tmp_path: Path) -> None:
    path = tmp_path / "api_keys.yaml"
    code, secret, _ = _new_key(path, "r.chen", "role=researcher", "org=university")
    assert code == 0 and _mode(path) == 0o600
    assert secret not in path.read_text()  # only the hash is stored
    assert _who(path, secret) == ("r.chen", {"role": "researcher", "org": "university"})
    code, second, _ = _new_key(path, "dr.alvarez", "role=clinician")
    assert code == 0 and _mode(path) == 0o600
    assert _who(path, secret)[0] == "r.chen" and _who(path, second)[0] == "dr.alvarez"
    assert len(yaml.safe_load(path.read_text())["api_keys"]) == 2


def test_write_keeps_comments_and_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "api_keys.yaml"
    path.write_text("# owned by the privacy office\napi_keys:\n  # the first key\n")
    path.chmod(0o600)
    code, secret, _ = _new_key(path, "po.singh", "role=privacy_officer")
    assert code == 0
    text = path.read_text()
    assert "# owned by the privacy office" in text and "# the first key" in text
    assert _who(path, secret)[0] == "po.singh"
    # an api_keys mapping that is not last: rewritten, still loadable, nothing lost
    path.write_text("api_keys: {}\nnote: kept\n")
    path.chmod(0o600)
    code, secret, _ = _new_key(path, "a.b")
    assert code == 0 and yaml.safe_load(path.read_text())["note"] == "kept"
    assert _who(path, secret)[0] == "a.b"


@pytest.mark.parametrize(
    ("text", "mode", "why"),
    [
        ("api_keys: {}\n", 0o644, "readable or writable by group or others"),
        ("keys:\n  a: hex:00\n", 0o600, "not an API keys file"),
        ("api_keys: [\n", 0o600, "cannot read API keys file"),
    ],
)
def test_write_refuses_an_unsafe_or_foreign_file(
    tmp_path: Path, text: str, mode: int, why: str
) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    path.chmod(mode)
    code, secret, err = _new_key(path, "x.y")
    assert code == 7 and why in err and secret == ""
    assert path.read_text() == text  # untouched


@pytest.mark.parametrize("which", ["api_keys_file", "key_file"])
def test_serve_refuses_secret_files_others_can_read(tmp_path: Path, which: str) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("api_keys: {}\n" if which == "api_keys_file" else "keys: {}\n")
    secret.chmod(0o640)
    config = tmp_path / "service.yaml"
    config.write_text(yaml.safe_dump({which: str(secret), "policies": "policies/health"}))
    r = RUNNER.invoke(app, ["serve", "--config", str(config), "--port", "1"])
    assert r.exit_code == 7
    assert "refusing to serve" in r.stderr and "chmod 600" in r.stderr and str(secret) in r.stderr


def test_serve_refuses_a_shared_VEIL_KEY_FILE(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "keys.yaml"
    secret.write_text("keys: {}\n")
    secret.chmod(0o604)
    monkeypatch.setenv("VEIL_KEY_FILE", str(secret))
    r = RUNNER.invoke(app, ["serve", "--port", "1"])
    assert r.exit_code == 7 and "refusing to serve" in r.stderr
