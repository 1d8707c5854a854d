"""Make attachment file names safe to store and show, and sniff their real content type."""

from __future__ import annotations

import io
import mimetypes
import re
import unicodedata
import zipfile

MAX_FILENAME_CHARS = 180
# Names Windows refuses whatever the extension; an agent may download to Windows.
_WINDOWS_RESERVED = re.compile(r"^(?:con|prn|aux|nul|com[0-9]|lpt[0-9]|conin\$|conout\$)$", re.I)
_UNSAFE_CHARACTERS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')

# (magic prefix, offset, content type); checked in order, first match wins.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF-", 0, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"PK\x05\x06", 0, "application/zip"),
    (b"\x1f\x8b", 0, "application/gzip"),
    (b"Rar!\x1a\x07", 0, "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", 0, "application/x-7z-compressed"),
    (b"MZ", 0, "application/x-msdownload"),
    (b"\x7fELF", 0, "application/x-executable"),
    (b"ftypqt", 4, "video/quicktime"),
    (b"ftyp", 4, "video/mp4"),
    (b"ID3", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
)
# Office Open XML and OpenDocument files are zip archives; the member names tell them apart.
_OOXML = "application/vnd.openxmlformats-officedocument"
_ZIP_MEMBERS = (
    ("word/document.xml", f"{_OOXML}.wordprocessingml.document"),
    ("xl/workbook.xml", f"{_OOXML}.spreadsheetml.sheet"),
    ("ppt/presentation.xml", f"{_OOXML}.presentationml.presentation"),
)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_TYPES = frozenset(
    {
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.ms-outlook",
        "application/x-msi",
    }
)


def safe_filename(name: str | None, *, content_type: str = "application/octet-stream") -> str:
    """Return a file name with no path, control or reserved characters, and a sane length."""
    text = unicodedata.normalize("NFC", name or "")
    # Keep only the last path component, whichever separator the sender's system used.
    text = re.split(r"[/\\]", text)[-1]
    # Format characters include right-to-left overrides ("gpj.exe" shown as "exe.jpg").
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    text = _UNSAFE_CHARACTERS.sub("_", text)
    text = re.sub(r"[\t\n\r\f\v]", " ", text).strip(" .")
    stem, dot, extension = text.rpartition(".")
    if not dot:
        stem, extension = text, ""
    if _WINDOWS_RESERVED.match(stem.strip()) or _WINDOWS_RESERVED.match(text):
        text = f"_{text}"
    if not text:
        guessed = mimetypes.guess_extension(content_type) or ""
        text = f"attachment{guessed}"
    if len(text) > MAX_FILENAME_CHARS:
        suffix = f".{extension[:16]}" if dot and extension else ""
        text = text[: MAX_FILENAME_CHARS - len(suffix)].rstrip(" .") + suffix
    return text


def sniff_content_type(data: bytes, declared: str) -> str:
    """Return the content type the bytes show, falling back to the declared one."""
    head = data[:64]
    for magic, offset, content_type in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if content_type == "application/zip":
                return _zip_flavour(data)
            return content_type
    if head.startswith(_OLE_MAGIC):
        # Old Office files and Outlook .msg share one container; trust the declared flavour.
        return declared if declared in _OLE_TYPES else "application/x-ole-storage"
    if declared.startswith("text/"):
        return declared
    if _looks_like_text(data) and declared in ("application/octet-stream", ""):
        return "text/plain"
    return declared or "application/octet-stream"


def _zip_flavour(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist()[:2000])
            if "mimetype" in names:
                # OpenDocument stores its type uncompressed as the first member.
                kind = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
                if kind.startswith("application/vnd.oasis.opendocument"):
                    return kind
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, RuntimeError, EOFError):
        return "application/zip"
    for member, content_type in _ZIP_MEMBERS:
        if member in names:
            return content_type
    return "application/zip"


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    if not sample or b"\x00" in sample:
        return False
    try:
        decoded = sample.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the sample's end is still text.
        if error.start < len(sample) - 4:
            return False
        decoded = sample[: error.start].decode("utf-8")
    controls = sum(1 for ch in decoded if ord(ch) < 32 and ch not in "\t\n\r\f")
    return controls <= len(decoded) // 100
