"""Transforms: obligations applied to disclosed fields.

Importing this package registers every built-in transform in :data:`REGISTRY`.
"""

from . import basic, crypto, dates, generalize, mask, text  # text last: it uses the others
from .base import (
    REGISTRY,
    BindContext,
    CannotApply,
    FieldType,
    Params,
    TransformSpec,
    get,
    register,
)

__all__ = [
    "REGISTRY",
    "BindContext",
    "CannotApply",
    "FieldType",
    "Params",
    "TransformSpec",
    "basic",
    "crypto",
    "dates",
    "generalize",
    "get",
    "mask",
    "register",
    "text",
]
