"""The one error tree of veil.

Every error carries a machine-readable ``code``, the CLI exit code and the HTTP status
that interfaces map it to. Messages say what went wrong, where, and how to fix it, and
never contain a record value: callers build them from paths, names and line numbers only.

    VeilError
    ├── PolicyError          a bundle failed to load or validate (carries every Issue)
    ├── RequestError         a request names an unknown dataset, purpose or attribute
    ├── AccessDenied         policy refuses the whole request
    ├── InputError           a record or file cannot be read (carries the line number)
    ├── ConfigError          missing key, bad key file, bad setting
    ├── TransformError       a transform's parameters are invalid for its field
    ├── LedgerError          the ledger cannot record: nothing is disclosed
    └── TamperDetected       ledger verification failed
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One static problem in a policy bundle, located in its file."""

    code: str
    message: str
    file: str = ""
    line: int | None = None
    where: str = ""
    hint: str = ""

    def render(self) -> str:
        loc = self.file or "<bundle>"
        if self.line is not None:
            loc += f":{self.line}"
        if self.where:
            loc += f" ({self.where})"
        text = f"{loc}: [{self.code}] {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class VeilError(Exception):
    """Base of every error veil raises on purpose."""

    code = "veil_error"
    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class PolicyError(VeilError):
    """A bundle that fails validation is never loaded; ``issues`` lists every problem."""

    code = "policy_invalid"
    exit_code = 3
    http_status = 500

    def __init__(self, issues: list[Issue]) -> None:
        n = len(issues)
        super().__init__(f"policy bundle is invalid: {n} problem{'s' if n != 1 else ''}")
        self.issues = issues

    def render(self) -> str:
        return "\n".join([self.message, *(i.render() for i in self.issues)])


class RequestError(VeilError):
    code = "bad_request"
    exit_code = 2
    http_status = 422


class AccessDenied(VeilError):
    code = "access_denied"
    exit_code = 5
    http_status = 403

    def __init__(self, message: str, *, rule_ids: tuple[str, ...] = (), hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.rule_ids = rule_ids


class InputError(VeilError):
    code = "bad_input"
    exit_code = 4
    http_status = 422

    def __init__(self, message: str, *, line: int | None = None, hint: str = "") -> None:
        prefix = f"line {line}: " if line is not None else ""
        super().__init__(prefix + message, hint=hint)
        self.line = line


class ConfigError(VeilError):
    code = "config_error"
    exit_code = 7
    http_status = 500


class TransformError(VeilError):
    code = "transform_invalid"
    exit_code = 3
    http_status = 500


class LedgerError(VeilError):
    code = "ledger_unavailable"
    exit_code = 6
    http_status = 503


class ServiceStarting(VeilError):
    """The service is up but not ready to serve every request yet (``/readyz``)."""

    code = "starting"
    exit_code = 6
    http_status = 503


def ledger_failure(exc: BaseException) -> LedgerError:
    """Any failure of an append as a :class:`LedgerError`: a backend bug must still fail
    closed (nothing disclosed), and only the exception's type is named, never its text."""
    if isinstance(exc, LedgerError):
        return exc
    return LedgerError(
        f"the ledger could not record the event ({type(exc).__name__})",
        hint="nothing was disclosed; check the ledger and retry",
    )


class TamperDetected(VeilError):
    code = "ledger_tampered"
    exit_code = 8
    http_status = 500
