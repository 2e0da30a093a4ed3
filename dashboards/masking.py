"""Contacts as shown to viewers without the view_contacts permission: enough to tell people apart in a
list, not enough to write to them."""

from __future__ import annotations


def mask_contact(contact: str | None) -> str:
    if not contact:
        return ""
    if "@" in contact:
        local, _, domain = contact.rpartition("@")
        return f"{local[:1]}***@{domain}"
    digits = contact.lstrip("+")
    return f"+{digits[:2]}***{digits[-2:]}" if len(digits) > 4 else "***"


def shown_contact(contact: str | None, may_see: bool) -> str:
    return (contact or "") if may_see else mask_contact(contact)
