"""An SMTP relay on loopback (aiosmtpd): STARTTLS required before AUTH, AUTH required before MAIL, then
the account's decision at the end of DATA: `250 2.0.0 OK <id>`, `454 4.7.0 Throttling failure` (its own
rate limit), `451 4.3.0` (a server error), or an acceptance answered only after `slow_seconds` (the client
times out after the relay queued the message). Recipients whose local part starts with `unknown` get
`550 5.1.1` at RCPT. The certificate is self-signed, made at start; clients trust `cert_file`."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import ipaddress
import socket
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from simulator.providers.accounts import ACCEPT, FORCED, RATE_LIMIT, Account

JOB_HEADER = "X-Backinstock-Job-Id"


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "relay.pem", folder / "relay.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class Relay:
    """The aiosmtpd handler: what the relay answers, and what it accepted (parsed)."""

    def __init__(self, account: Account, clock: Callable[[], dt.datetime]) -> None:
        self.account = account
        self.clock = clock
        self.messages: list[email.message.Message] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list) -> str:
        if address.lower().startswith("unknown"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = self.clock()
        recipient = envelope.rcpt_tos[0]
        parsed = email.message_from_bytes(envelope.original_content or envelope.content)
        job_id = parsed.get(JOB_HEADER)
        decision = self.account.decide(recipient, now)
        if decision.latency_seconds:
            await asyncio.sleep(decision.latency_seconds)
        if decision.kind == ACCEPT:
            delivery = self.account.accept(recipient, job_id, now)
            self.messages.append(parsed)
            self.account.record(now, recipient, job_id, decision.kind, 250)
            if decision.slow:
                await asyncio.sleep(self.account.faults.slow_seconds)
            return f"250 2.0.0 OK queued as {delivery.message_id}"
        if decision.kind == RATE_LIMIT:
            self.account.record(now, recipient, job_id, decision.kind, 454)
            return "454 4.7.0 Throttling failure: Maximum sending rate exceeded."
        if decision.kind == FORCED and decision.forced is not None:
            self.account.record(now, recipient, job_id, decision.kind, decision.forced.status)
            return f"{decision.forced.status} {decision.forced.body or 'forced answer'}"
        self.account.record(now, recipient, job_id, decision.kind, 451)
        return "451 4.3.0 Temporary server error. Please try again later."


class SmtpRelay:
    """The relay running in its own thread; a context manager."""

    def __init__(
        self,
        account: Account,
        *,
        username: str,
        password: str,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="relay-"))
        self.cert_file, key_file = self_signed(self.folder, host)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, key_file)
        self.handler = Relay(account, clock)
        self.host, self.port = host, port or free_port(host)
        credentials = (username.encode(), password.encode())

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == credentials
            return AuthResult(success=ok, handled=False)  # the relay answers 235 or 535 itself

        self.controller = Controller(
            self.handler,
            hostname=host,
            port=self.port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=authenticate,
        )

    def __enter__(self) -> SmtpRelay:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
