"""Provider lanes. Each turns a message into a classified `ProviderResult`."""

from __future__ import annotations

from backinstock.settings import EmailSettings
from dispatch.providers.base import EmailMessage, EmailProvider, ProviderResult
from dispatch.providers.sendgrid import SendGridProvider

__all__ = ["EmailMessage", "EmailProvider", "ProviderResult", "SendGridProvider", "email_provider"]


def email_provider(settings: EmailSettings) -> EmailProvider:
    """The configured email lane (only SendGrid's v3 API exists so far)."""
    if settings.provider == "sendgrid":
        return SendGridProvider(settings)
    raise ValueError(f"no email provider lane named {settings.provider!r}")
