"""Sanitise mail HTML for display in the back office with nh3, blocking remote images."""

from __future__ import annotations

import re
from collections.abc import Collection
from html import escape

import nh3

from channels.email.headers import storable_text
from channels.email.html_text import html_to_text

_TAGS = frozenset(
    {
        "a", "abbr", "address", "article", "b", "big", "blockquote", "br", "caption", "center",
        "cite", "code", "col", "colgroup", "dd", "del", "div", "dl", "dt", "em", "figcaption",
        "figure", "font", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i",
        "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "section", "small",
        "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "tt", "u", "ul", "wbr",
    }
)
# Removed together with their content: code, styling, embedded documents, form controls.
_DROP_WITH_CONTENT = frozenset(
    {
        "script", "style", "head", "title", "template", "noscript", "iframe", "frame",
        "frameset", "object", "embed", "applet", "svg", "math", "select", "audio", "video",
        "canvas", "xml",
    }
)
_LAYOUT = {"style", "title", "lang", "dir", "align", "valign", "width", "height", "bgcolor"}
_ATTRIBUTES: dict[str, set[str]] = {
    "*": _LAYOUT,
    "a": {"href"},
    "img": {"src", "alt", "border"},
    "font": {"color", "face", "size"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap", "scope"},
    "table": {"border", "cellpadding", "cellspacing", "summary"},
    "ol": {"start", "type", "reversed"},
    "ul": {"type"},
    "li": {"value"},
    "col": {"span"},
    "colgroup": {"span"},
}
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
# CSS properties that only style text and boxes: nothing that positions, hides or loads.
_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font", "font-family", "font-size", "font-style",
        "font-weight", "font-variant", "text-align", "text-decoration", "text-indent",
        "text-transform", "line-height", "letter-spacing", "word-spacing", "white-space",
        "vertical-align", "direction", "list-style-type", "margin", "margin-top",
        "margin-right", "margin-bottom", "margin-left", "padding", "padding-top",
        "padding-right", "padding-bottom", "padding-left", "border", "border-top",
        "border-right", "border-bottom", "border-left", "border-color", "border-style",
        "border-width", "border-collapse", "border-spacing", "border-radius", "width",
        "max-width", "min-width", "height", "min-height", "table-layout", "caption-side",
    }
)
# Values that load, run or escape something; a declaration carrying one is dropped.
_UNSAFE_STYLE_VALUE = re.compile(
    r"url\s*\(|expression|javascript|vbscript|\\|@import|behavior|binding|[<>]|/\*|var\s*\("
    r"|attr\s*\(|image-set|element\s*\(|transparent",
    re.IGNORECASE,
)
_NEGATIVE_LENGTH = re.compile(r"(?<![\w.])-\s*\.?\d")
_FONT_SIZE = re.compile(r"^\s*(\d*\.?\d+)\s*(px|pt|em|rem|%)?\s*$", re.IGNORECASE)
# Below these sizes text cannot be read: a way to hide words from the agent.
_SMALLEST_READABLE = {"px": 6.0, "pt": 5.0, "": 6.0, "em": 0.4, "rem": 0.4, "%": 40.0}
_IMG_TAG = re.compile(r"<img\b[^>]*>")
# html5ever's cost grows with the square of element nesting (40,000 nested <div>s, 440 KB,
# take 13 s), so deeper markup is shown as plain text instead. Real mail nests < 60 deep.
MAX_HTML_NESTING = 100
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)(?:[^>]*?(/?)>)?")
_NOT_NESTING = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "o:p",
    }
)
_SRC_ATTRIBUTE = re.compile(r'\ssrc="([^"]*)"')
REMOTE_IMAGE_PREFIXES = ("http://", "https://", "//")


def _clean_style(value: str) -> str | None:
    kept = []
    for declaration in value.split(";"):
        name, colon, raw_value = declaration.partition(":")
        name = name.strip().lower()
        css_value = raw_value.strip()
        if not colon or name not in _STYLE_PROPERTIES or not css_value:
            continue
        if _UNSAFE_STYLE_VALUE.search(css_value):
            continue
        if name.startswith("margin") and _NEGATIVE_LENGTH.search(css_value):
            continue  # negative margins pull mail content over the surrounding page
        if name == "font-size" and _is_unreadably_small(css_value):
            continue
        kept.append(f"{name}: {css_value}")
    return "; ".join(kept) or None


def _is_unreadably_small(css_value: str) -> bool:
    match = _FONT_SIZE.match(css_value)
    if match is None:
        return False
    return float(match.group(1)) < _SMALLEST_READABLE[(match.group(2) or "").lower()]


def html_nesting_depth(html: str, stop_at: int = MAX_HTML_NESTING) -> int:
    """Estimate how deeply elements nest (linear scan; stops counting past stop_at)."""
    depth = deepest = 0
    for closing, name, self_closing in _TAG.findall(html):
        if self_closing or name.lower() in _NOT_NESTING:
            continue
        if closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop_at:
                break
    return deepest


def sanitize_html(
    html: str,
    *,
    allow_remote_images: bool = False,
    content_ids: Collection[str] = (),
    nesting_checked: bool = False,
) -> str:
    """Return HTML safe to show to an agent.

    Scripts, event handlers, forms, frames, ``base``/``meta`` tags, javascript: and data:
    URLs and positioning or hiding styles are removed. Remote images keep their address in
    ``data-blocked-src`` (no ``src``) unless allowed; ``cid:`` images are kept only when an
    attachment with that Content-ID exists, so the display layer can map them. Markup nested
    deeper than MAX_HTML_NESTING comes back as its text in a <pre>; nesting_checked says the
    caller has already measured it with html_nesting_depth and found it shallow enough.
    """
    html = storable_text(html)
    if not nesting_checked and html_nesting_depth(html) > MAX_HTML_NESTING:
        return f"<pre>{escape(html_to_text(html))}</pre>"
    known_ids = {content_id.strip("<>").lower() for content_id in content_ids}

    def filter_attribute(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            return _clean_style(value)
        if tag == "img" and attribute == "src" and value.lower().startswith("cid:"):
            return value if value[4:].strip("<>").lower() in known_ids else None
        return value

    cleaned = nh3.clean(
        html,
        tags=set(_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes=_ATTRIBUTES,
        attribute_filter=filter_attribute,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        url_schemes=_URL_SCHEMES,
        url_relative="deny",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
    if allow_remote_images:
        return cleaned
    return _IMG_TAG.sub(_block_remote_source, cleaned)


def _block_remote_source(match: re.Match[str]) -> str:
    tag = match.group(0)
    source = _SRC_ATTRIBUTE.search(tag)
    if source is None or not source.group(1).lower().startswith(REMOTE_IMAGE_PREFIXES):
        return tag
    # nh3 escapes quotes and '>' inside attribute values, so the value can be moved verbatim.
    return tag.replace(source.group(0), f' data-blocked-src="{source.group(1)}"', 1)
