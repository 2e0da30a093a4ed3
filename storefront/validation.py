"""What the public JSON endpoints accept, and the reasons they refuse the rest.

Shapes are pydantic models (their errors are turned into the documented error shape by the app): every
string has a width, and no string may hold control, invisible or direction-changing characters (NUL, the
zero-width family, RTL overrides, line separators), which look harmless on screen and break stores, logs
and the people who read them. The checks that need settings or meaning are pure functions returning the
same field errors. Emails are validated and normalised by `email-validator`, phone numbers for SMS alerts
by `phonenumbers` (to E.164).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneNumberType
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from backinstock.settings import Settings
from storefront.errors import FieldError

EMAIL_MAX = 254
LOCALE_SHAPE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
VARIANT_SHAPE = re.compile(r"^(?:gid://shopify/ProductVariant/)?[0-9]{1,20}$")
PRODUCT_SHAPE = re.compile(r"^(?:gid://shopify/Product/)?[0-9]{1,20}$")
URL_SHAPE = re.compile(r"^https?://[!-~]+$")  # printable ASCII: browsers send URLs percent-encoded
CHANNELS = ("email", "sms")
# Numbers that cannot receive a text message.
NOT_FOR_SMS = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.SHARED_COST,
        PhoneNumberType.VOICEMAIL,
        PhoneNumberType.PAGER,
        PhoneNumberType.UAN,
    }
)
PRODUCT_VIEWED = "product_viewed"
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def unsafe_character(text: str) -> str | None:
    """The first control, invisible, direction-changing or unassigned character in `text`, if any."""
    return next((char for char in text if unicodedata.category(char) in UNSAFE_CATEGORIES), None)


def _plain(text: str) -> str:
    char = unsafe_character(text)
    if char is not None:
        raise ValueError(f"contains a control or invisible character (U+{ord(char):04X})")
    return text


def _url(text: str) -> str:
    if not URL_SHAPE.match(text):
        raise ValueError("must be an http(s) URL")
    return text


Plain = Annotated[str, AfterValidator(_plain)]
Url = Annotated[str, AfterValidator(_url)]


class SubscriptionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    shop: Plain | None = Field(default=None, max_length=255)  # optional through the App Proxy
    variant_id: Annotated[str, Field(max_length=64), AfterValidator(_plain)] | int
    channel: Plain = Field(default="email", max_length=16)
    email: Plain | None = Field(default=None, max_length=320)  # for channel email
    phone: Plain | None = Field(
        default=None, max_length=32
    )  # for channel sms: E.164, or national with country
    country: Plain | None = Field(default=None, max_length=2)  # ISO 3166 region of a national phone number
    locale: Plain = Field(default="en", max_length=16)
    client_id: Plain | None = Field(default=None, max_length=128)
    # The version of the consent text the form showed (GET /api/consent); the current one when left out.
    consent_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    source_url: Url | None = Field(default=None, max_length=1024)
    # The honeypot: a field people never see (hidden by the theme's form), that form-filling bots fill in.
    website: str | None = Field(default=None, max_length=1024)


class EventRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    shop: Plain | None = Field(default=None, max_length=255)
    name: Plain = Field(max_length=32)
    client_id: Plain = Field(min_length=1, max_length=128)
    variant_id: Annotated[str, Field(max_length=64), AfterValidator(_plain)] | int
    product_id: Annotated[str, Field(max_length=64), AfterValidator(_plain)] | int | None = None
    url: Url | None = Field(default=None, max_length=2048)


def normalise_locale(locale: str) -> str:
    """`de_de` -> `de-de`: one separator, language part lower-case (regions keep what was sent)."""
    language, _, rest = locale.replace("_", "-").partition("-")
    return f"{language.lower()}-{rest}" if rest else language.lower()


def normalised_email(value: str) -> str | FieldError:
    """The address as we store and compare it (ASCII, IDN domains in punycode, lower-cased), or why not."""
    try:
        checked = validate_email(
            value,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError as invalid:
        return FieldError("email", f"not a valid email address: {invalid}")
    address = checked.ascii_email or checked.normalized
    if len(address) > EMAIL_MAX:
        return FieldError("email", f"not a valid email address: longer than {EMAIL_MAX} characters")
    return address.lower()


def normalised_phone(value: str, country: str | None) -> str | FieldError:
    """The number in E.164 (`+4915123456789`), or why it cannot take SMS alerts."""
    try:
        number = phonenumbers.parse(value, country.upper() if country else None)
    except phonenumbers.NumberParseException:
        hint = "" if country or value.startswith("+") else " (start with + and the country code)"
        return FieldError("phone", f"not a phone number{hint}")
    if not phonenumbers.is_valid_number(number):
        return FieldError("phone", "not a valid phone number")
    if phonenumbers.number_type(number) in NOT_FOR_SMS:
        return FieldError("phone", "this number cannot receive text messages")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalised_contact(request: SubscriptionRequest) -> str | FieldError:
    """The channel's contact, validated and normalised."""
    if request.channel == "sms":
        if request.phone is None:
            return FieldError("phone", "required for SMS alerts")
        return normalised_phone(request.phone, request.country)
    if request.email is None:
        return FieldError("email", "required for email alerts")
    return normalised_email(request.email)


def _shop_error(settings: Settings, shop: str | None) -> FieldError | None:
    if shop is None:
        return FieldError("shop", "required")
    return None if settings.shop(shop) is not None else FieldError("shop", "unknown shop")


def _variant_error(variant_id: str | int) -> FieldError | None:
    if VARIANT_SHAPE.match(str(variant_id).strip()):
        return None
    return FieldError("variant_id", "must be a variant id (a number or gid://shopify/ProductVariant/N)")


def checked_subscription(request: SubscriptionRequest, settings: Settings) -> tuple[str, list[FieldError]]:
    """The signup's contact, normalised (validated once: email-validator is a good part of a signup's
    cost), and everything wrong with the signup that can be told without the store."""
    errors = [_shop_error(settings, request.shop), _variant_error(request.variant_id)]
    normalised = ""
    if request.channel not in CHANNELS:
        errors.append(FieldError("channel", f"must be one of: {', '.join(CHANNELS)}"))
    else:
        contact = normalised_contact(request)
        if isinstance(contact, FieldError):
            errors.append(contact)
        else:
            normalised = contact
    if not LOCALE_SHAPE.match(request.locale):
        errors.append(FieldError("locale", "must look like a language tag, e.g. en or pt-BR"))
    return normalised, [error for error in errors if error is not None]


def event_errors(request: EventRequest, settings: Settings) -> list[FieldError]:
    errors = [_shop_error(settings, request.shop), _variant_error(request.variant_id)]
    if request.name != PRODUCT_VIEWED:
        errors.append(FieldError("name", f"only {PRODUCT_VIEWED!r} is accepted"))
    if request.product_id is not None and not PRODUCT_SHAPE.match(str(request.product_id).strip()):
        errors.append(FieldError("product_id", "must be a product id (a number or gid://shopify/Product/N)"))
    return [error for error in errors if error is not None]
