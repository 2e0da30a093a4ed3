"""The message providers the product sends through, as fakes that behave like the real ones: SendGrid,
Postmark, Amazon SES v2, Resend (idempotency keys), Twilio and an SMTP relay. One set of fakes serves the
simulated world and the tests alike (`python -m simulator.providers` serves them alone)."""

from simulator.providers.accounts import Account, Delivery, Faults, Forced
from simulator.providers.common import Event, Incoming, Reply
from simulator.providers.hub import ProviderHub
from simulator.providers.postmark import PostmarkFront
from simulator.providers.resend import ResendFront
from simulator.providers.sendgrid import SendGridFront
from simulator.providers.ses import SesFront
from simulator.providers.twilio import TwilioFront

__all__ = [
    "Account",
    "Delivery",
    "Event",
    "Faults",
    "Forced",
    "Incoming",
    "PostmarkFront",
    "ProviderHub",
    "Reply",
    "ResendFront",
    "SendGridFront",
    "SesFront",
    "TwilioFront",
]
