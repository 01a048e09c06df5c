"""Sending email through the configured SMTP server (``OMS_SMTP_URL``).

``smtp://host:port`` sends in the clear (a relay on the same host), ``smtp+starttls://`` upgrades
with STARTTLS, ``smtps://`` speaks TLS from the start; a user and password in the URL log in.
A refusal the server says is final (5xx) is ``Refused``: that email is recorded as failed and
the next goes on. Anything else (no answer, 4xx) is ``TryLater``: the notifier waits and tries
the same email again, so none is lost and their order holds.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from api.notifications.render import Email


class TryLater(Exception):
    """The server could not take the email now."""


class Refused(Exception):
    """The server refused the email for good (such as an unknown recipient)."""


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    security: str  # "none", "starttls" or "tls"
    user: str | None = None
    password: str | None = None
    timeout: float = 15.0

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        security = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "tls"}.get(parts.scheme)
        if security is None or not parts.hostname:
            raise ValueError("OMS_SMTP_URL is smtp://, smtp+starttls:// or smtps:// and a host")
        default = {"none": 25, "starttls": 587, "tls": 465}[security]
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(parts.hostname, parts.port or default, security, user, password)


class Mailer:
    def __init__(self, server: SmtpServer, sender: str) -> None:
        self.server = server
        self.sender = sender

    def message(self, to: str, email: Email, message_id: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = email.subject
        message["Date"] = formatdate(localtime=False)
        # Stable per event and kind: a copy sent again after a crash is recognisably the same email.
        message["Message-ID"] = message_id
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        message["Content-Language"] = email.language  # after the parts: setting content clears Content-*
        return message

    def send(self, message: EmailMessage) -> None:
        s = self.server
        try:
            client: smtplib.SMTP
            if s.security == "tls":
                client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with client:
                if s.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if s.user:
                    client.login(s.user, s.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(code >= 500 for code in codes):
                raise Refused(f"recipient refused: {error.recipients}") from None
            raise TryLater(f"recipient deferred: {error.recipients}") from None
        except smtplib.SMTPResponseException as error:
            if error.smtp_code >= 500:
                raise Refused(f"{error.smtp_code} {error.smtp_error!r}") from None
            raise TryLater(f"{error.smtp_code} {error.smtp_error!r}") from None
        except (OSError, smtplib.SMTPException) as error:
            raise TryLater(f"{type(error).__name__}: {error}") from None
