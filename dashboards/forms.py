"""What console forms share: optional fields (an empty input means "not given") and refusals in words."""

from __future__ import annotations

from fastapi import HTTPException


def given(value: str | None) -> str | None:
    """A form field's value, stripped; None when left empty."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def refuse(reason: object) -> HTTPException:
    """A 400 whose page says what was wrong with the input (nothing was changed)."""
    return HTTPException(400, str(reason).strip("'\""))
