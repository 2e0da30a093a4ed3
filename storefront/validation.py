"""What the public JSON endpoints accept, and the reasons they refuse the rest.

Shapes are pydantic models (their errors are turned into `{"errors":[{"field","message"}]}` by the app);
the checks that need settings or meaning are pure functions returning the same field errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from backinstock.settings import Settings

EMAIL_SHAPE = re.compile(
    r"^[^@\s<>(),;:\"\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
EMAIL_MAX = 254
LOCALE_SHAPE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
VARIANT_SHAPE = re.compile(r"^(?:gid://shopify/ProductVariant/)?[0-9]{1,20}$")
PRODUCT_SHAPE = re.compile(r"^(?:gid://shopify/Product/)?[0-9]{1,20}$")
CHANNELS = ("email",)
PRODUCT_VIEWED = "product_viewed"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class InvalidInput(Exception):
    """Answered as 422 with every field error at once."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))
        self.errors = errors


class SubscriptionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    shop: str = Field(max_length=255)
    variant_id: str | int
    email: str = Field(max_length=EMAIL_MAX)
    channel: str = Field(default="email", max_length=16)
    locale: str = Field(default="en", max_length=16)
    client_id: str | None = Field(default=None, max_length=128)
    consent_text: str | None = Field(default=None, max_length=4000)
    source_url: str | None = Field(default=None, max_length=1024)


class EventRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    shop: str = Field(max_length=255)
    name: str = Field(max_length=32)
    client_id: str = Field(min_length=1, max_length=128)
    variant_id: str | int
    product_id: str | int | None = None
    url: str | None = Field(default=None, max_length=2048)


def normalise_locale(locale: str) -> str:
    """`de_de` -> `de-de`: one separator, language part lower-case (regions keep what was sent)."""
    language, _, rest = locale.replace("_", "-").partition("-")
    return f"{language.lower()}-{rest}" if rest else language.lower()


def _shop_error(settings: Settings, shop: str) -> FieldError | None:
    return None if settings.shop(shop) is not None else FieldError("shop", "unknown shop")


def _variant_error(variant_id: str | int) -> FieldError | None:
    if VARIANT_SHAPE.match(str(variant_id).strip()):
        return None
    return FieldError("variant_id", "must be a variant id (a number or gid://shopify/ProductVariant/N)")


def subscription_errors(request: SubscriptionRequest, settings: Settings) -> list[FieldError]:
    """Everything wrong with a signup that can be told without the store."""
    errors = [_shop_error(settings, request.shop), _variant_error(request.variant_id)]
    if len(request.email) > EMAIL_MAX or not EMAIL_SHAPE.match(request.email):
        errors.append(FieldError("email", "not a valid email address"))
    if request.channel not in CHANNELS:
        errors.append(FieldError("channel", f"must be one of: {', '.join(CHANNELS)}"))
    if not LOCALE_SHAPE.match(request.locale):
        errors.append(FieldError("locale", "must look like a language tag, e.g. en or pt-BR"))
    return [error for error in errors if error is not None]


def event_errors(request: EventRequest, settings: Settings) -> list[FieldError]:
    errors = [_shop_error(settings, request.shop), _variant_error(request.variant_id)]
    if request.name != PRODUCT_VIEWED:
        errors.append(FieldError("name", f"only {PRODUCT_VIEWED!r} is accepted"))
    if request.product_id is not None and not PRODUCT_SHAPE.match(str(request.product_id).strip()):
        errors.append(FieldError("product_id", "must be a product id (a number or gid://shopify/Product/N)"))
    return [error for error in errors if error is not None]
