"""The adapter interface every channel implements, and the registry the app picks them from."""

from __future__ import annotations

from typing import ClassVar

from ticketing.domain.contact import (
    Channel,
    Contact,
    DeliveryReceipt,
    InboundRequest,
    OutboundMessage,
)


class ChannelAdapter:
    """Translate one channel's raw input into contacts, and deliver outbound messages.

    Adapters never look up customers, never decide threading and never touch the database:
    they only translate. Capabilities are class attributes so the back office can ask.
    """

    channel: ClassVar[Channel]
    #: longest body the channel carries in one message (None: no practical limit)
    body_max_length: ClassVar[int | None] = None
    supports_html: ClassVar[bool] = False
    supports_attachments: ClassVar[bool] = False
    supports_subject: ClassVar[bool] = False

    def parse_inbound(self, request: InboundRequest) -> list[Contact]:
        """Turn raw input into contacts; raise InvalidInbound with a reason when impossible."""
        raise NotImplementedError

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Hand one message to the provider and report what it said; never raise for refusals."""
        raise NotImplementedError


class AdapterRegistry:
    """Explicit mapping from channel to the adapter instance configured for it."""

    def __init__(self) -> None:
        self._adapters: dict[Channel, ChannelAdapter] = {}

    def register(self, adapter: ChannelAdapter) -> None:
        self._adapters[adapter.channel] = adapter

    def get(self, channel: Channel | str) -> ChannelAdapter:
        return self._adapters[Channel(channel)]

    def __contains__(self, channel: object) -> bool:
        try:
            return Channel(channel) in self._adapters  # type: ignore[arg-type]
        except ValueError:
            return False

    def channels(self) -> list[Channel]:
        return list(self._adapters)
