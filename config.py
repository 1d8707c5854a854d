"""Settings read once from the environment: one class per environment, no logic."""

import os


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class Config:
    """Settings shared by every environment; each can be set through the environment."""

    ENV_NAME = "base"
    #: folder for the embedded database, task queue, generated secret and attachments
    INSTANCE_PATH = os.environ.get("TICKETING_INSTANCE_PATH")
    SECRET_KEY = os.environ.get("SECRET_KEY")
    #: None means the embedded SQLite file instance/ticketing.db
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    #: Redis for the task queue and rate limits; None means SQLite (Huey) and memory (limits)
    REDIS_URL = os.environ.get("REDIS_URL")
    #: run background tasks inline (tests, demos without a worker)
    HUEY_IMMEDIATE = _flag("HUEY_IMMEDIATE")

    #: the organisation's name in customer-facing text
    ORGANISATION_NAME = os.environ.get("ORGANISATION_NAME", "Klantenservice")
    #: used to build links in mail and to check Twilio signatures behind a proxy
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL")
    #: number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted
    TRUSTED_PROXY_COUNT = _int("TRUSTED_PROXY_COUNT", 0)
    #: region for phone numbers written without a country code
    DEFAULT_PHONE_REGION = os.environ.get("DEFAULT_PHONE_REGION", "NL")
    #: the timezone the back office shows times in
    DISPLAY_TIMEZONE = os.environ.get("DISPLAY_TIMEZONE", "Europe/Amsterdam")
    BABEL_DEFAULT_LOCALE = os.environ.get("DEFAULT_LOCALE", "nl")
    LANGUAGES = ("nl", "en")

    # Outbound mail (SMTP). Without SMTP_HOST mail goes to the development outbox only.
    SMTP_HOST = os.environ.get("SMTP_HOST")
    SMTP_PORT = _int("SMTP_PORT", 587)
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD")
    #: "starttls", "tls" or "none" (only for a relay on localhost)
    SMTP_SECURITY = os.environ.get("SMTP_SECURITY", "starttls")
    SMTP_TIMEOUT = _int("SMTP_TIMEOUT", 30)
    #: a private CA bundle to verify the SMTP server with (default: the system's trust store)
    SMTP_CA_FILE = os.environ.get("SMTP_CA_FILE")
    MAIL_FROM_ADDRESS = os.environ.get("MAIL_FROM_ADDRESS", "support@example.org")
    MAIL_FROM_NAME = os.environ.get("MAIL_FROM_NAME", "Klantenservice")
    #: the right-hand side of the Message-IDs we generate
    MAIL_MESSAGE_ID_DOMAIN = os.environ.get("MAIL_MESSAGE_ID_DOMAIN", "tickets.example.org")

    # Inbound mail
    IMAP_HOST = os.environ.get("IMAP_HOST")
    IMAP_PORT = _int("IMAP_PORT", 993)
    IMAP_USERNAME = os.environ.get("IMAP_USERNAME")
    IMAP_PASSWORD = os.environ.get("IMAP_PASSWORD")
    #: "tls", "starttls" or "none" (only for a server on localhost)
    IMAP_SECURITY = os.environ.get("IMAP_SECURITY", "tls")
    IMAP_FOLDER = os.environ.get("IMAP_FOLDER", "INBOX")
    #: move processed mail here; empty means flag it \Seen and leave it in place
    IMAP_PROCESSED_FOLDER = os.environ.get("IMAP_PROCESSED_FOLDER", "")
    IMAP_BATCH_SIZE = _int("IMAP_BATCH_SIZE", 100)
    #: shared secret for POST /inbound/email (raw MIME pushed by a mail provider)
    INBOUND_EMAIL_SECRET = os.environ.get("INBOUND_EMAIL_SECRET")
    #: largest raw message accepted, in bytes
    EMAIL_MAX_BYTES = _int("EMAIL_MAX_BYTES", 30 * 1024 * 1024)
    ATTACHMENT_MAX_BYTES = _int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
    ALLOW_REMOTE_IMAGES = _flag("ALLOW_REMOTE_IMAGES")
    #: automatic acknowledgements to one sender in 24 hours, so two auto-responders cannot loop
    ACK_CAP_PER_SENDER = _int("ACK_CAP_PER_SENDER", 3)
    EMAIL_ACKNOWLEDGEMENT = _flag("EMAIL_ACKNOWLEDGEMENT", True)

    # Twilio SMS. Without TWILIO_ACCOUNT_SID texts go to the development outbox only.
    TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN")
    TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER")
    TWILIO_MESSAGING_SERVICE_SID = os.environ.get("TWILIO_MESSAGING_SERVICE_SID")
    #: only for tests and stand-ins; production talks to Twilio's own API
    TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL")
    #: acknowledge a new SMS ticket with its reference (off by default: texts cost money)
    SMS_ACKNOWLEDGEMENT = _flag("SMS_ACKNOWLEDGEMENT")

    # Raw inbound records (exact mail, webhooks, form posts) taken in longer ago than this many
    # days are deleted by the worker each night; 0 keeps them for ever. Quarantined and waiting
    # records are never deleted.
    RAW_RETENTION_DAYS = _int("RAW_RETENTION_DAYS", 0)

    # Repeat contacts
    REPEAT_LOOKBACK_DAYS = _int("REPEAT_LOOKBACK_DAYS", 30)
    REOPEN_WINDOW_DAYS = _int("REOPEN_WINDOW_DAYS", 7)

    # Web form and tracking links
    TRACKING_LINK_DAYS = _int("TRACKING_LINK_DAYS", 180)
    COMPLAINT_RATE_LIMIT = os.environ.get("COMPLAINT_RATE_LIMIT", "5 per minute;30 per hour")
    MAX_CONTENT_LENGTH = _int("MAX_UPLOAD_BYTES", 32 * 1024 * 1024)

    # Files
    #: None means instance/attachments
    ATTACHMENT_STORAGE_PATH = os.environ.get("ATTACHMENT_STORAGE_PATH")

    # Outbox
    OUTBOX_MAX_ATTEMPTS = _int("OUTBOX_MAX_ATTEMPTS", 8)
    OUTBOX_BATCH_SIZE = _int("OUTBOX_BATCH_SIZE", 100)

    # API and webhooks
    API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600 per minute")
    #: events newer than this are held back from the feed, so a slower commit is never skipped
    API_EVENTS_SETTLE_SECONDS = _int("API_EVENTS_SETTLE_SECONDS", 2)
    WEBHOOK_MAX_ATTEMPTS = _int("WEBHOOK_MAX_ATTEMPTS", 12)
    WEBHOOK_TIMEOUT_SECONDS = _int("WEBHOOK_TIMEOUT_SECONDS", 10)
    WEBHOOK_BATCH_SIZE = _int("WEBHOOK_BATCH_SIZE", 100)

    # Login
    LOGIN_MAX_ATTEMPTS = _int("LOGIN_MAX_ATTEMPTS", 5)
    LOGIN_LOCK_MINUTES = _int("LOGIN_LOCK_MINUTES", 15)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # tied to the session, not to a clock: long forms stay valid

    #: where rate limits are counted; None follows REDIS_URL, else memory
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI")


class DevelopmentConfig(Config):
    """The embedded default: SQLite in instance/, a generated secret kept in instance/."""

    ENV_NAME = "development"


class ProductionConfig(Config):
    """Refuses to start without SECRET_KEY and DATABASE_URL (checked by create_app)."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True


class TestConfig(Config):
    """In-memory SQLite, tasks inline, CSRF off unless a test turns it on."""

    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    HUEY_IMMEDIATE = True
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    SMTP_HOST = None
    TWILIO_ACCOUNT_SID = None
    TWILIO_AUTH_TOKEN = "test-twilio-auth-token"
    INBOUND_EMAIL_SECRET = "test-inbound-secret"
    PUBLIC_BASE_URL = "https://tickets.example.org"
    LOGIN_MAX_ATTEMPTS = 5


CONFIGS = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "test": TestConfig,
}
