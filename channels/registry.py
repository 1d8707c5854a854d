"""Build the adapter registry from settings, and pick how each outbound message is sent."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from channels.base import AdapterRegistry, ChannelAdapter
from channels.memory import MemoryAdapter
from ticketing.domain.contact import Channel, DeliveryReceipt, OutboundMessage

#: Inbound SMS must be parsed and signature-checked even where we cannot send (no account SID
#: yet, tests): the adapter is then built with this marker, and `is_sending_configured` keeps
#: outbound texts in the development outbox.
UNCONFIGURED_TWILIO_SID = "AC-not-configured"


def build_registry(config: Mapping[str, Any], clock: Callable[[], datetime]) -> AdapterRegistry:
    """One adapter per channel, configured from the app settings.

    `clock` dates outgoing mail: adapters never read the system clock themselves.
    """
    from channels.email import EmailAdapter, ParseOptions, SmtpSettings
    from channels.sms import TwilioSmsAdapter
    from channels.webform import WebFormAdapter

    registry = AdapterRegistry()
    smtp = None
    if config.get("SMTP_HOST"):
        smtp = SmtpSettings(
            host=config["SMTP_HOST"],
            port=int(config.get("SMTP_PORT") or 587),
            username=config.get("SMTP_USERNAME"),
            password=config.get("SMTP_PASSWORD"),
            security=config.get("SMTP_SECURITY", "starttls"),
            timeout=float(config.get("SMTP_TIMEOUT") or 30),
            from_address=config.get("MAIL_FROM_ADDRESS") or "support@localhost",
            from_name=config.get("MAIL_FROM_NAME"),
            message_id_domain=config.get("MAIL_MESSAGE_ID_DOMAIN") or "localhost",
            ssl_context=(
                ssl.create_default_context(cafile=config["SMTP_CA_FILE"])
                if config.get("SMTP_CA_FILE")
                else None
            ),
        )
    registry.register(
        EmailAdapter(
            smtp=smtp,
            clock=clock,
            parse_options=ParseOptions(
                allow_remote_images=bool(config.get("ALLOW_REMOTE_IMAGES")),
                max_message_bytes=int(config.get("EMAIL_MAX_BYTES") or 30 * 1024 * 1024),
                max_attachment_bytes=int(config.get("ATTACHMENT_MAX_BYTES") or 10 * 1024 * 1024),
            ),
        )
    )
    if config.get("TWILIO_AUTH_TOKEN"):
        registry.register(
            TwilioSmsAdapter(
                account_sid=config.get("TWILIO_ACCOUNT_SID") or UNCONFIGURED_TWILIO_SID,
                auth_token=config["TWILIO_AUTH_TOKEN"],
                from_number=config.get("TWILIO_FROM_NUMBER"),
                messaging_service_sid=config.get("TWILIO_MESSAGING_SERVICE_SID")
                or (None if config.get("TWILIO_FROM_NUMBER") else "MG-not-configured"),
                default_region=config.get("DEFAULT_PHONE_REGION", "NL"),
                api_base_url=config.get("TWILIO_API_BASE_URL"),
                status_callback_url=_status_callback_url(config),
            )
        )
    registry.register(WebFormAdapter(default_region=config.get("DEFAULT_PHONE_REGION", "NL")))
    registry.register(MemoryAdapter())
    return registry


def _status_callback_url(config: Mapping[str, Any]) -> str | None:
    base = config.get("PUBLIC_BASE_URL")
    return f"{base.rstrip('/')}/inbound/twilio/status" if base else None


def is_sending_configured(config: Mapping[str, Any], channel: str) -> bool:
    """Whether outbound messages on the channel go to a real provider."""
    if channel == Channel.email.value:
        return bool(config.get("SMTP_HOST"))
    if channel == Channel.sms.value:
        return bool(config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN"))
    return channel == Channel.memory.value


def _development_outbox(_message: OutboundMessage) -> DeliveryReceipt:
    # Without a provider the message is "sent" to /dev/outbox, where it stays readable.
    return DeliveryReceipt(accepted=True, provider_id=None, status="development outbox")


def outbound_sender(app: Any, channel: str) -> tuple[Callable[[OutboundMessage], DeliveryReceipt],
                                                      str | None]:
    """Return (send function, how it was delivered) for the channel."""
    registry: AdapterRegistry = app.extensions["channels"]
    if is_sending_configured(app.config, channel) and channel in registry:
        adapter: ChannelAdapter = registry.get(channel)
        return adapter.send, None
    return _development_outbox, "dev"
