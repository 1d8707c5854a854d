"""Render mail HTML as plain text, keeping blockquotes as "> " lines so quotes can be found."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "center", "dd", "div", "dl", "dt", "fieldset", "figure",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "li", "main", "nav",
        "ol", "p", "pre", "section", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)
# Content of these never reaches a reader: code, styling, metadata.
_HIDDEN_TAGS = frozenset(
    {"head", "script", "style", "template", "title", "noscript", "svg", "object", "iframe"}
)
_VOID_TAGS = frozenset({"br", "hr", "img", "meta", "link", "input", "base", "col", "wbr"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
# What an <hr> becomes: a ruler the quote finder treats like Outlook's "_____" line.
HR_LINE = "-" * 10


class _TextRenderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        # The line being built, in pieces; two flags spare re-joining it on every event
        # (joining made a long run of inline elements quadratic).
        self._current: list[str] = []
        self._current_has_text = False
        self._current_ends_with_space = True
        self._quote_depth = 0
        self._hidden_depth = 0
        self._pre_depth = 0

    def _break_line(self) -> None:
        """End the current line; block boundaries never add blank lines of their own."""
        text = "".join(self._current).strip()
        self._current = []
        self._current_has_text = False
        self._current_ends_with_space = True
        if text:
            self.lines.append("> " * self._quote_depth + text)

    def _blank_line(self) -> None:
        """Add one empty line (a paragraph gap or a <br> on an empty line), never two."""
        if self.lines and self.lines[-1].strip("> "):
            self.lines.append((">" * self._quote_depth).strip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            if tag not in _VOID_TAGS:
                self._hidden_depth += 1
            return
        if self._hidden_depth:
            return
        if tag == "br":
            if self._current_has_text:
                self._break_line()
            else:
                self._blank_line()
        elif tag == "hr":
            self._break_line()
            self.lines.append("> " * self._quote_depth + HR_LINE)
        elif tag == "blockquote":
            self._break_line()
            self._quote_depth += 1
        elif tag in _BLOCK_TAGS:
            self._break_line()
            if tag == "li":
                self._append("- ")
            elif tag == "pre":
                self._pre_depth += 1
        elif tag in ("td", "th"):
            self._append(" ")

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        # The stdlib asserts on unknown "<![keyword[" sections; mail is full of them (Outlook's
        # "<![if !mso]>"), so skip any such section instead of failing the whole body.
        end = self.rawdata.find("]>", i)
        return -1 if end < 0 else end + 2

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            if self._hidden_depth:
                self._hidden_depth -= 1
            return
        if self._hidden_depth:
            return
        if tag == "blockquote":
            self._break_line()
            self._quote_depth = max(0, self._quote_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._break_line()
            if tag == "p":
                self._blank_line()
            elif tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._hidden_depth:
            return
        if self._pre_depth:
            pieces = data.replace("\r\n", "\n").split("\n")
            for number, piece in enumerate(pieces):
                if number:
                    self._break_line()
                self._append(piece)
            return
        text = _SPACES.sub(" ", data)
        if self._current_ends_with_space:
            text = text.lstrip(" ")
        self._append(text)

    def _append(self, text: str) -> None:
        if not text:
            return
        self._current.append(text)
        self._current_has_text = self._current_has_text or bool(text.strip())
        self._current_ends_with_space = text.endswith(" ")

    def finish(self) -> str:
        self.close()
        self._break_line()
        text = "\n".join(line.rstrip() for line in self.lines)
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_text(html: str) -> str:
    """Return the readable text of an HTML body; blockquoted parts become "> " lines."""
    renderer = _TextRenderer()
    try:
        renderer.feed(html)
        return renderer.finish()
    except (AssertionError, ValueError):
        # Last resort for markup the stdlib parser rejects: drop the tags, keep the words.
        return _SPACES.sub(" ", re.sub(r"<[^>]*>", " ", html)).strip()
