"""Declarations of custom free-text recognizers, as a bundle states them (``recognizers:``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


EntityName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{1,63}$")]


class PatternDecl(_Strict):
    name: str = Field(default="pattern", min_length=1)
    regex: str = Field(min_length=1)
    score: float = Field(default=0.6, gt=0.0, le=1.0)


class RecognizerDecl(_Strict):
    """A custom detector for free text (``scan_text``): regexes and/or a deny list.

    ``context`` words near a match raise its score (Presidio's context enhancement);
    ``validator`` checks a regex match's digits (``luhn``: card-style check digit,
    ``mod97``: ISO 7064 as in IBANs) and drops matches that fail.
    """

    entity: EntityName
    patterns: list[PatternDecl] = Field(default_factory=list)
    deny_list: list[str] = Field(default_factory=list)
    context: list[str] = Field(default_factory=list)
    validator: Literal["luhn", "mod97"] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _detects_something(self) -> RecognizerDecl:
        if not self.patterns and not self.deny_list:
            raise ValueError("a recognizer needs 'patterns' or a 'deny_list'")
        if self.validator is not None and not self.patterns:
            raise ValueError("'validator' checks regex matches; add 'patterns'")
        return self
