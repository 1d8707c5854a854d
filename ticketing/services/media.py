"""MMS media: fetch remote media from Twilio (and from nowhere else) into attachment storage."""

from __future__ import annotations

import base64
import http.client
import ipaddress
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import sqlalchemy as sa

from ticketing.domain.contact import Channel
from ticketing.extensions import db
from ticketing.models import Attachment, Message
from ticketing.services.attachments import AttachmentStore

#: A temporary failure (timeout, 5xx, 429) is tried again this many times in all; a permanent
#: one (404, a refused host, too large) is recorded at once and never retried.
MAX_FETCH_ATTEMPTS = 3
#: Twilio answers a media URL with one redirect to a short-lived CDN URL; allow a little slack.
MAX_REDIRECTS = 3

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})


class MediaFetchError(Exception):
    """A media file that could not be fetched; `permanent` says whether trying again can help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class FetchedMedia:
    data: bytes
    content_type: str | None


@dataclass(frozen=True)
class PendingMedia:
    """An attachment known only by its remote URL."""

    attachment_id: int
    message_id: int
    url: str


# --- where we may fetch from (the SSRF guard) ---------------------------------------------------


def _host_of(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme != "https":
        return host, "only https URLs are fetched"
    if not host:
        return host, "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return host, "the URL carries credentials"
    try:
        port = parts.port
    except ValueError:
        return host, "the URL has an invalid port"
    if port not in (None, 443):
        return host, f"port {port} is not fetched"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host, None
    return host, "an IP address is not a Twilio host"


def _is_twilio_api_host(host: str) -> bool:
    # api.twilio.com, and the regional/edge form api.<edge>.<region>.twilio.com
    return host == "api.twilio.com" or (host.startswith("api.") and host.endswith(".twilio.com"))


def media_url_problem(url: str, account_sid: str) -> str | None:
    """Say why a media URL must not be fetched, or None for media of our own Twilio account.

    Twilio gives MMS media as https://api.twilio.com/2010-04-01/Accounts/<our SID>/Messages/
    <MM…>/Media/<ME…>. Anything else (another host, another account, an internal address)
    could turn the fetch job into a proxy into our own network, so it is never requested.
    """
    host, problem = _host_of(url)
    if problem:
        return problem
    if not _is_twilio_api_host(host):
        return f"{host} is not Twilio's API host"
    path = urlsplit(url).path
    if not path.startswith(f"/2010-04-01/Accounts/{account_sid}/Messages/"):
        return "the URL is not a message of our Twilio account"
    if "/Media/" not in path:
        return "the URL is not a media resource"
    return None


def redirect_problem(url: str) -> str | None:
    """Say why a redirect target must not be followed, or None for Twilio's media storage.

    Twilio redirects a media URL to a short-lived URL on mms.twiliocdn.com (media protected by
    HTTP Basic auth) or s3-external-1.amazonaws.com/media.twiliocdn.com/... (older media).
    """
    host, problem = _host_of(url)
    if problem:
        return problem
    if host == "twilio.com" or host.endswith((".twilio.com", ".twiliocdn.com")):
        return None
    if host in ("s3-external-1.amazonaws.com", "s3.amazonaws.com") and urlsplit(
        url
    ).path.startswith("/media.twiliocdn.com/"):
        return None
    return f"a redirect to {host} is not followed"


# --- fetching -----------------------------------------------------------------------------------


class TwilioMediaFetcher:
    """Download Twilio media with HTTP Basic auth, following redirects only to Twilio storage.

    The account credentials go to Twilio's API host only; CDN URLs are pre-signed and get no
    credentials. `api_base_url` (tests) sends every allowed request to a local stand-in after
    the checks, as the outbound client does.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        max_bytes: int,
        timeout: float = 15.0,
        api_base_url: str | None = None,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("fetching Twilio media needs the account SID and auth token")
        self.account_sid = account_sid
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.api_base_url = api_base_url
        credentials = f"{account_sid}:{auth_token}".encode()
        self._authorization = "Basic " + base64.b64encode(credentials).decode("ascii")

    def fetch(self, url: str) -> FetchedMedia:
        """Return the media behind a Twilio media URL.

        Raises:
            MediaFetchError: when the URL or a redirect is refused, or the download fails.
        """
        problem = media_url_problem(url, self.account_sid)
        if problem:
            raise MediaFetchError(f"not fetched: {problem}", permanent=True)
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            send_auth = _is_twilio_api_host(urlsplit(current).hostname or "")
            location = self._get(current, send_auth=send_auth)
            if isinstance(location, FetchedMedia):
                return location
            current = urljoin(current, location)
            problem = redirect_problem(current)
            if problem:
                raise MediaFetchError(f"not fetched: {problem}", permanent=True)
        raise MediaFetchError(f"more than {MAX_REDIRECTS} redirects", permanent=True)

    def _target(self, url: str) -> tuple[str, str, int | None, str]:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme, parts.hostname or "", parts.port
        if self.api_base_url:
            base = urlsplit(self.api_base_url)
            scheme, host, port = base.scheme, base.hostname or "", base.port
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        return scheme, host, port, path

    def _get(self, url: str, *, send_auth: bool) -> FetchedMedia | str:
        """GET one URL: the media, or the Location of a redirect."""
        scheme, host, port, path = self._target(url)
        connection_class = (
            http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(host, port, timeout=self.timeout)
        headers = {"Accept": "*/*", "User-Agent": "complaint-tracker media fetch"}
        if send_auth:
            headers["Authorization"] = self._authorization
        response: http.client.HTTPResponse | None = None
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return self._read(response)
        except (OSError, http.client.HTTPException) as error:
            raise MediaFetchError(
                f"could not download: {error.__class__.__name__}: {error}", permanent=False
            ) from None
        finally:
            if response is not None:
                response.close()
            connection.close()

    def _read(self, response: http.client.HTTPResponse) -> FetchedMedia | str:
        if response.status in _REDIRECT_STATUSES:
            location = response.getheader("Location")
            if not location:
                raise MediaFetchError("redirect without a Location", permanent=True)
            return location
        if response.status != 200:
            temporary = response.status in (408, 429) or response.status >= 500
            raise MediaFetchError(
                f"Twilio answered HTTP {response.status} {response.reason}".strip(),
                permanent=not temporary,
            )
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise MediaFetchError(self._too_large(int(declared)), permanent=True)
        data = response.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise MediaFetchError(self._too_large(None), permanent=True)
        content_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        return FetchedMedia(data, content_type.lower() or None)

    def _too_large(self, size: int | None) -> str:
        what = f"{size:,} bytes" if size is not None else "larger"
        return f"media is {what}; the limit is {self.max_bytes:,} bytes"


# --- recording ----------------------------------------------------------------------------------


def pending_media(*, limit: int = 50, message_id: int | None = None) -> list[PendingMedia]:
    """Return SMS attachments still to fetch (not stored, not given up on), oldest first."""
    query = (
        sa.select(Attachment.id, Attachment.message_id, Attachment.url)
        .join(Message, Message.id == Attachment.message_id)
        .where(
            Message.channel == Channel.sms.value,
            Attachment.url.is_not(None),
            Attachment.sha256.is_(None),
            Attachment.fetch_attempts < MAX_FETCH_ATTEMPTS,
        )
        .order_by(Attachment.id)
        .limit(limit)
    )
    if message_id is not None:
        query = query.where(Attachment.message_id == message_id)
    return [PendingMedia(row.id, row.message_id, row.url) for row in db.session.execute(query)]


def record_fetched_media(
    attachment: Attachment, media: FetchedMedia, *, store: AttachmentStore
) -> None:
    """Store fetched bytes and point the attachment at them (flushes, never commits)."""
    attachment.sha256 = store.put(media.data)
    attachment.size = len(media.data)
    attachment.error = None
    attachment.fetch_attempts += 1
    if media.content_type and attachment.content_type.lower() in _GENERIC_TYPES:
        attachment.content_type = media.content_type[:255]
    db.session.flush()


def record_media_failure(attachment: Attachment, failure: MediaFetchError) -> None:
    """Keep the reason on the attachment; a permanent failure is never tried again."""
    attachment.fetch_attempts = (
        MAX_FETCH_ATTEMPTS if failure.permanent else attachment.fetch_attempts + 1
    )
    final = attachment.fetch_attempts >= MAX_FETCH_ATTEMPTS
    suffix = "" if final else f" (attempt {attachment.fetch_attempts}, will retry)"
    attachment.error = f"media fetch failed: {failure.reason}{suffix}"[:500]
    db.session.flush()


def fetch_one(item: PendingMedia, fetcher: TwilioMediaFetcher, *, store: AttachmentStore) -> str:
    """Download one pending media file and record the result: "stored", "failed" or "gone".

    Call it with no transaction open: the download happens before the first query, so no
    database transaction waits on a slow network.
    """
    try:
        media: FetchedMedia | MediaFetchError = fetcher.fetch(item.url)
    except MediaFetchError as failure:
        media = failure
    attachment = db.session.get(Attachment, item.attachment_id)
    if attachment is None:
        return "gone"
    if attachment.sha256 is not None:
        return "stored"  # another worker was quicker; the content is the same
    if isinstance(media, MediaFetchError):
        record_media_failure(attachment, media)
        return "failed"
    record_fetched_media(attachment, media, store=store)
    return "stored"
