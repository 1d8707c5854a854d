"""X-Twilio-Signature checks, and the public URL Twilio signed when we sit behind a proxy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator, get_signature_algorithm

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

#: Form fields in any shape a web framework or a test hands over: a MultiDict (getlist), a
#: mapping of field to value or to list of values, or (key, value) pairs with repeated keys.
SignedParams = Mapping[str, Any] | Iterable[tuple[str, str]] | None


class _ParamLists(dict[str, list[str]]):
    """Field name to every posted value; the SDK reads repeated keys through getlist()."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def _param_lists(params: SignedParams) -> _ParamLists:
    lists = _ParamLists()
    if params is None:
        return lists
    getlist = getattr(params, "getlist", None)
    if callable(getlist):
        for name in params:  # type: ignore[union-attr]
            lists[name] = [str(value) for value in getlist(name)]
        return lists
    pairs: Iterable[tuple[str, Any]] = (
        params.items() if isinstance(params, Mapping) else params  # type: ignore[assignment]
    )
    for name, value in pairs:
        values = value if isinstance(value, list | tuple) else [value]
        lists.setdefault(name, []).extend(str(item) for item in values)
    return lists


def validate_twilio_signature(
    auth_token: str,
    url: str,
    params: SignedParams,
    signature: str | None,
    body: bytes | None = None,
    *,
    signature_settings: str | None = None,
) -> bool:
    """Tell whether `signature` is Twilio's signature of this request, using the SDK's validator.

    Args:
        auth_token: the account Auth Token (or the SharedKey secret, see `signature_settings`).
        url: the full URL Twilio called, as Twilio saw it (see `public_request_url`). The SDK
            accepts it with or without the default port, because Twilio signs either form.
        params: the POSTed form fields; repeated keys are kept (Twilio signs every value).
        signature: the X-Twilio-Signature header value.
        body: the raw request body. Used only when the URL carries `bodySHA256` (JSON
            webhooks): then the body must hash to it and the form fields are not signed.
        signature_settings: the X-Twilio-Webhooks-Signature-Settings header, which names the
            HMAC algorithm for SharedKey-signed webhooks; absent means HMAC-SHA1.

    Raises:
        ValueError: when `auth_token` is empty. An empty key would make every forged
            signature computable, so a missing setting must fail loudly, not open the door.
    """
    if not auth_token:
        raise ValueError("a Twilio auth token is required to validate signatures")
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    algorithm = get_signature_algorithm(signature_settings)
    if "bodySHA256" in parse_qs(urlsplit(url).query):
        # The signature covers only the URL, so without the body anyone who replays a signed
        # URL could attach any payload: no body, no trust.
        if body is None:
            return False
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return validator.validate(url, text, signature, algorithm)
    return validator.validate(url, _param_lists(params), signature, algorithm)


def _last_hop(header_value: str | None) -> str | None:
    # Each proxy appends to these headers, so with one trusted proxy in front of us only the
    # rightmost entry was written by it; anything to its left came from the client (the same
    # rule as werkzeug's ProxyFix with x_proto=1, x_host=1).
    if not header_value:
        return None
    last = header_value.split(",")[-1].strip()
    return last or None


def public_request_url(
    configured_base_url: str | None,
    path_and_query: str,
    *,
    request_scheme: str = "http",
    request_host: str | None = None,
    forwarded_proto: str | None = None,
    forwarded_host: str | None = None,
    trust_proxy: bool = False,
) -> str:
    """Rebuild the URL Twilio requested (and signed) from what our server received.

    The order of trust: a configured public base URL (PUBLIC_BASE_URL) wins, because it is
    what the Twilio console was given; else X-Forwarded-Proto/Host, only when `trust_proxy`
    says a proxy of ours sets them (a client could send them too); else the scheme and Host
    header the server itself saw.

    Args:
        configured_base_url: e.g. "https://tickets.example.com" or, when the proxy mounts the
            app under a prefix it strips, "https://example.com/helpdesk".
        path_and_query: the path (below any such prefix) and raw query string as received,
            e.g. Flask's `request.full_path`; the lone "?" Flask appends is dropped.
        request_scheme: the scheme our server was reached by ("http" behind a TLS proxy).
        request_host: the Host header our server received.
        forwarded_proto: the X-Forwarded-Proto header, if any.
        forwarded_host: the X-Forwarded-Host header, if any.
        trust_proxy: whether a proxy of ours sets the X-Forwarded-* headers.

    Raises:
        ValueError: when the base URL is not an absolute http(s) URL, or no host is known.
    """
    path = path_and_query if path_and_query.startswith("/") else "/" + path_and_query
    if path.endswith("?") and path.count("?") == 1:
        path = path[:-1]
    if configured_base_url:
        base = urlsplit(configured_base_url.strip())
        if base.scheme not in ("http", "https") or not base.netloc or base.query:
            raise ValueError(f"public base URL must be http(s)://host[/prefix]: {base.geturl()!r}")
        return f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}{path}"

    scheme, host = request_scheme, request_host
    if trust_proxy:
        scheme = _last_hop(forwarded_proto) or scheme
        host = _last_hop(forwarded_host) or host
    if not host:
        raise ValueError("cannot rebuild the request URL without a host")
    return f"{scheme.lower()}://{host}{path}"
