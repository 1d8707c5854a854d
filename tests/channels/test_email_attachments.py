"""Attachment file names made safe, and content types sniffed from the bytes."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.email.attachments import MAX_FILENAME_CHARS, safe_filename, sniff_content_type


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\jan\\photo.jpg", "photo.jpg"),
        ("/var/www/index.html", "index.html"),
        ("report\x00.pdf", "report.pdf"),
        ("line\r\nbreak.txt", "linebreak.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override removed
        ("what?.txt", "what_.txt"),
        ('a<b>c:"d|e*.txt', "a_b_c__d_e_.txt"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("LPT1.docx", "_LPT1.docx"),
        (" .hidden ", "hidden"),
        ("trailing dots...", "trailing dots"),
        ("Tax Invoice  INX4183.PDF", "Tax Invoice  INX4183.PDF"),
        ("Bestellbestätigung.jpg", "Bestellbestätigung.jpg"),
        ("", "attachment.bin"),
        (None, "attachment.bin"),
        ("..", "attachment.bin"),
    ],
)
def test_safe_filename(name: str | None, safe: str) -> None:
    assert safe_filename(name) == safe


def test_empty_name_takes_its_extension_from_the_type() -> None:
    assert safe_filename("", content_type="application/pdf") == "attachment.pdf"


def test_long_names_are_cut_but_keep_their_extension() -> None:
    name = safe_filename("x" * 500 + ".pdf")
    assert len(name) == MAX_FILENAME_CHARS
    assert name.endswith(".pdf")


@given(st.text(max_size=300))
def test_any_name_is_safe(name: str) -> None:
    safe = safe_filename(name)
    assert safe
    assert len(safe) <= MAX_FILENAME_CHARS
    assert not any(ch in safe for ch in '/\\:*?"<>|\x00\r\n')
    assert not safe.startswith((".", " "))


def office_zip(member: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(member, "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "declared", "sniffed"),
    [
        (b"%PDF-1.7\n...", "application/octet-stream", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "image/jpeg", "image/png"),
        (b"\xff\xd8\xff\xe0....", "application/octet-stream", "image/jpeg"),
        (b"GIF89a....", "image/png", "image/gif"),
        (b"MZ\x90\x00....", "image/png", "application/x-msdownload"),  # an .exe posing as png
        (office_zip("word/document.xml"), "application/zip",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (office_zip("xl/workbook.xml"), "application/octet-stream",
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (office_zip("notes.txt"), "application/octet-stream", "application/zip"),
        (b"PK\x03\x04 broken zip", "application/octet-stream", "application/zip"),
        (b"plain words\n", "application/octet-stream", "text/plain"),
        (b"a,b\n1,2\n", "text/csv", "text/csv"),
        (b"\x00\x01\x02\x03", "application/x-custom", "application/x-custom"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1...", "application/msword", "application/msword"),
        (b"", "application/pdf", "application/pdf"),
    ],
)
def test_sniff_content_type(data: bytes, declared: str, sniffed: str) -> None:
    assert sniff_content_type(data, declared) == sniffed
