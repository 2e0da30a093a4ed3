"""SMTP relay: STARTTLS (required unless the lane says otherwise) and AUTH, then MAIL, RCPT, DATA; the
reply code decides the class. smtplib in a thread pool, one reusable connection per concurrent send.

Before DATA nothing was sent: a failure there is `transient` (a reused connection the server dropped is
reopened once, inside the same attempt). Once DATA is under way, a timeout or a dropped connection is
`unknown`: the relay may have queued the message. A relay has no idempotency key and no event webhook, so
the lane's default policy for unknown outcomes is to hold them for review.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr, make_msgid

from backinstock.settings import LaneSettings
from dispatch.classify import ACCOUNT, TRANSIENT, UNKNOWN, smtp_verdict
from dispatch.providers.base import Message, ProviderResult, since

TAG_HEADER = "X-Backinstock-{}"


def mime(message: Message, now: datetime) -> EmailMessage:
    email = EmailMessage(policy=SMTP_POLICY)
    email["From"] = formataddr((message.from_name, message.from_email))
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = format_datetime(now)
    email["Message-ID"] = make_msgid(
        idstring=f"job{message.job_id}", domain=message.from_email.rpartition("@")[2] or None
    )
    for name, value in message.headers.items():
        email[name] = value
    for name, value in message.tags.items():
        email[TAG_HEADER.format(name.replace("_", "-").title())] = value
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


class Smtp:
    name = "smtp"
    channel = "email"

    def __init__(self, lane: LaneSettings) -> None:
        self.lane = lane
        self.tls = ssl.create_default_context(cafile=lane.tls_ca_file or None)
        self.executor = ThreadPoolExecutor(
            max_workers=lane.concurrency, thread_name_prefix=f"smtp-{lane.name}"
        )
        self.idle: list[smtplib.SMTP] = []
        self.lock = threading.Lock()

    async def send(self, message: Message, now: datetime) -> ProviderResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._send, message, now)

    def _open(self) -> smtplib.SMTP:
        lane = self.lane
        connection = smtplib.SMTP(lane.host, lane.port, timeout=lane.timeout_seconds)
        try:
            connection.ehlo()
            if lane.starttls:
                connection.starttls(context=self.tls)
                connection.ehlo()
            if lane.username:
                connection.login(lane.username, lane.password.get_secret_value())
        except BaseException:
            _close(connection)
            raise
        return connection

    def _take(self) -> smtplib.SMTP | None:
        with self.lock:
            return self.idle.pop() if self.idle else None

    def _give_back(self, connection: smtplib.SMTP) -> None:
        with self.lock:
            self.idle.append(connection)

    def _send(self, message: Message, now: datetime) -> ProviderResult:
        started = time.perf_counter()
        email = mime(message, now)
        payload = email.as_bytes()
        message_id = email["Message-ID"].strip("<>")
        connection = self._take()
        reused = connection is not None
        phase = "connect"
        try:
            if connection is None:
                connection = self._open()
            phase = "envelope"
            try:
                code, reply = connection.mail(message.from_email)
            except (smtplib.SMTPServerDisconnected, OSError):
                if not reused:
                    raise
                _close(connection)  # the relay dropped an idle connection: open a fresh one, nothing sent
                connection = self._open()
                code, reply = connection.mail(message.from_email)
            if code == 250:
                code, reply = connection.rcpt(message.to)
            if code not in (250, 251):
                connection.rset()
                self._give_back(connection)
                return self._answer(code, reply, started)
            phase = "data"
            code, reply = connection.data(payload)
            self._give_back(connection)
            return self._answer(code, reply, started, message_id)
        except smtplib.SMTPResponseException as error:  # the relay answered with a refusal
            _close(connection)
            return self._answer(error.smtp_code, error.smtp_error, started)
        except smtplib.SMTPNotSupportedError as error:  # no STARTTLS or AUTH: the lane is misconfigured
            _close(connection)
            return ProviderResult(
                ACCOUNT, error=f"relay does not support it: {error}", latency_ms=since(started)
            )
        except (smtplib.SMTPException, OSError) as error:
            _close(connection)
            outcome = UNKNOWN if phase == "data" else TRANSIENT
            sent = "no answer after DATA" if phase == "data" else f"not sent ({phase})"
            return ProviderResult(outcome, error=f"{sent}: {error!r}", latency_ms=since(started))

    @staticmethod
    def _answer(
        code: int, reply: bytes | str, started: float, message_id: str | None = None
    ) -> ProviderResult:
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        found = smtp_verdict(code)
        if found.outcome == "accepted":
            return ProviderResult("accepted", code, message_id, latency_ms=since(started))
        return ProviderResult(
            found.outcome,
            code,
            error=f"{code} {text}"[:500],
            latency_ms=since(started),
            suppress=found.suppress,
        )

    async def aclose(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for connection in idle:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                _close(connection)
        self.executor.shutdown(wait=False, cancel_futures=True)


def _close(connection: smtplib.SMTP | None) -> None:
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.close()
