"""Reading the signed token in a link: its claims, or None for anything we did not sign for this purpose."""

from __future__ import annotations

from fastapi import Request

from backinstock import tokens
from storefront.state import now_of, settings_of

BAD_LINK = "This link is not valid. It may have been copied incompletely."
EXPIRED_LINK = "This link has expired."


def claims(request: Request, purpose: str, token: str) -> tokens.Claims | None:
    """The token's claims when it is ours, for this purpose, carries an id and has not expired."""
    try:
        verified = tokens.verify(settings_of(request).token_keys, purpose, token, now=now_of(request))
        verified.number  # noqa: B018 (raises InvalidToken when the token carries no id)
    except tokens.InvalidToken:
        return None
    return verified
