"""Test mail, and a plain imaplib client that puts it on the Dovecot server and reads its flags."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any


def make_mail(number: int, *, reply_to: str | None = None, sender: int | None = None) -> bytes:
    """A complaint written at 10:<number> on a Monday, with Message-ID <imap-<number>@...>."""
    message = EmailMessage()
    who = number if sender is None else sender
    message["From"] = f"Klant {who} <klant{who}@example.nl>"
    message["To"] = "support@example.org"
    message["Subject"] = f"Klacht {number}"
    message["Message-ID"] = f"<imap-{number}@example.nl>"
    message["Date"] = f"Mon, 2 Mar 2026 10:{number:02d}:00 +0100"
    if reply_to:
        message["In-Reply-To"] = f"<{reply_to}>"
    message.set_content(f"Mijn bestelling {number} is kapot aangekomen.")
    return message.as_bytes()


@contextmanager
def imap_client(server: dict[str, Any]) -> Iterator[imaplib.IMAP4]:
    client = imaplib.IMAP4(server["host"], server["port"])
    client.login(server["user"], server["password"])
    try:
        yield client
    finally:
        client.logout()


def create_folder(server: dict[str, Any], folder: str) -> None:
    with imap_client(server) as client:
        client.create(folder)


def append_mail(server: dict[str, Any], raws: list[bytes], folder: str = "INBOX") -> None:
    with imap_client(server) as client:
        for raw in raws:
            client.append(folder, None, None, raw)


def mail_flags(server: dict[str, Any], folder: str = "INBOX") -> list[str]:
    """The FLAGS response of every message in the folder (an empty list for an empty folder)."""
    with imap_client(server) as client:
        _typ, count = client.select(folder)
        if int(count[0]) == 0:
            return []
        _typ, data = client.fetch("1:*", "(FLAGS)")
    return [item.decode() for item in data if item]
