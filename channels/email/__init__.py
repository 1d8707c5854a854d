"""E-mail channel: raw RFC 822 in (parse_message), SMTP out (EmailAdapter.send)."""

from channels.email.adapter import EmailAdapter
from channels.email.parse import ParseOptions, parse_message
from channels.email.smtp import SmtpSettings

__all__ = ["EmailAdapter", "ParseOptions", "SmtpSettings", "parse_message"]
