"""An HTTP client for the Twilio SDK that can send its calls to another base URL (a stand-in)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response


class RedirectingTwilioHttpClient(TwilioHttpClient):
    """Twilio's own requests-based client, with *.twilio.com swapped for `api_base_url`.

    The SDK builds absolute URLs from hard-coded domains (https://api.twilio.com, plus region
    and edge variants), and `Client` takes any `HttpClient`. Rewriting at this last step keeps
    every other part of the SDK (auth, form encoding, error parsing) exactly as in production.
    """

    def __init__(self, api_base_url: str, *, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        base = urlsplit(api_base_url)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError(f"API base URL must be http(s)://host[:port]: {api_base_url!r}")
        self.api_base_url = api_base_url
        self._base = base

    def rewrite(self, url: str) -> str:
        """Return `url` aimed at the configured base when it is a Twilio API URL."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        path = self._base.path.rstrip("/") + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return super().request(
            method,
            self.rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
