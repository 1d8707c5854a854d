"""SMS through Twilio: webhook validation and parsing, status callbacks, and sending."""

from channels.sms.adapter import TwilioSmsAdapter, parse_status_callback
from channels.sms.signature import public_request_url, validate_twilio_signature
from channels.sms.transport import RedirectingTwilioHttpClient

__all__ = [
    "RedirectingTwilioHttpClient",
    "TwilioSmsAdapter",
    "parse_status_callback",
    "public_request_url",
    "validate_twilio_signature",
]
