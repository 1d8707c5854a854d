"""Forms of the public pages: the complaint form and the reply form on the tracking page."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage
from wtforms import HiddenField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from channels.phone import normalise_phone
from channels.webform import MAX_MESSAGE, MAX_NAME

MAX_EMAIL = 254  # RFC 5321 path limit
MAX_PHONE = 40
MAX_ORDER_NUMBER = 64
MAX_ATTACHMENTS = 5

#: The complaint categories, in the order the form offers them.
CATEGORIES: tuple[tuple[str, Any], ...] = (
    ("delivery", _l("Delivery")),
    ("product", _l("Product")),
    ("service", _l("Service")),
    ("billing", _l("Invoice or payment")),
    ("other", _l("Something else")),
)

# A pragmatic address check: one "@", no spaces or control characters, a dotted domain. The
# mail server has the last word; this only catches typing errors and header injection.
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\u00a0-\uffff-]{1,64}"
    r"@(?=.{1,253}$)(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}$"
)
_ORDER_NUMBER_RE = re.compile(r"^[\w\-/.# ]+$")


@dataclass(frozen=True)
class FileKind:
    """An accepted attachment type: its canonical content type and how to recognise it."""

    content_type: str
    family: str  # image, pdf, text, office
    signatures: tuple[tuple[int, bytes], ...] = ()  # (offset, magic bytes); any may match


_OLE = ((0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),)
_ZIP = ((0, b"PK\x03\x04"),)
_HEIF = tuple((8, brand) for brand in (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"))

#: File name extension -> kind. The content type we store comes from here, never from the
#: browser, and the first bytes must agree with the extension, so a renamed program is refused.
ACCEPTED_FILES: dict[str, FileKind] = {
    "jpg": FileKind("image/jpeg", "image", ((0, b"\xff\xd8\xff"),)),
    "jpeg": FileKind("image/jpeg", "image", ((0, b"\xff\xd8\xff"),)),
    "png": FileKind("image/png", "image", ((0, b"\x89PNG\r\n\x1a\n"),)),
    "gif": FileKind("image/gif", "image", ((0, b"GIF87a"), (0, b"GIF89a"))),
    "webp": FileKind("image/webp", "image", ((8, b"WEBP"),)),
    "heic": FileKind("image/heic", "image", _HEIF),
    "heif": FileKind("image/heif", "image", _HEIF),
    "pdf": FileKind("application/pdf", "pdf", ((0, b"%PDF-"),)),
    "txt": FileKind("text/plain", "text"),
    "csv": FileKind("text/csv", "text"),
    "rtf": FileKind("application/rtf", "office", ((0, b"{\\rtf"),)),
    "doc": FileKind("application/msword", "office", _OLE),
    "xls": FileKind("application/vnd.ms-excel", "office", _OLE),
    "ppt": FileKind("application/vnd.ms-powerpoint", "office", _OLE),
    "docx": FileKind(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "office", _ZIP
    ),
    "xlsx": FileKind(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "office", _ZIP
    ),
    "pptx": FileKind(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "office",
        _ZIP,
    ),
    "odt": FileKind("application/vnd.oasis.opendocument.text", "office", _ZIP),
    "ods": FileKind("application/vnd.oasis.opendocument.spreadsheet", "office", _ZIP),
    "odp": FileKind("application/vnd.oasis.opendocument.presentation", "office", _ZIP),
}

#: For the file input's `accept` attribute: a hint to the browser's picker, not a check.
ACCEPT_ATTRIBUTE = ",".join(f".{ext}" for ext in ACCEPTED_FILES)


@dataclass(frozen=True)
class UploadedFile:
    """An attachment that passed every check, read into memory."""

    filename: str
    content_type: str
    data: bytes


def human_size(size: int) -> str:
    """Render a byte count the way people say it: "10 MB", "512 kB"."""
    if size >= 1024 * 1024:
        value = size / (1024 * 1024)
        return f"{value:.0f} MB" if value >= 10 or value.is_integer() else f"{value:.1f} MB"
    if size >= 1024:
        return f"{size // 1024} kB"
    return f"{size} B"


def safe_upload_name(raw: str, extension: str) -> str:
    """Keep the readable part of an uploaded file's name; drop paths and control characters."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = " ".join(name.split()).strip(". ")
    stem = name[: -(len(extension) + 1)] if name.lower().endswith("." + extension) else name
    stem = stem[:120].rstrip(". ") or "attachment"
    return f"{stem}.{extension}"


def _extension(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def _content_matches(kind: FileKind, data: bytes) -> bool:
    if kind.family == "text":
        # Plain text: no NUL bytes in the first part (a binary file renamed to .txt has them).
        return b"\x00" not in data[:8192]
    if kind.content_type == "application/pdf":
        # Some PDF writers put a few bytes before the header; readers accept up to 1 kB.
        return b"%PDF-" in data[:1024]
    return any(data[offset : offset + len(magic)] == magic for offset, magic in kind.signatures)


def _single_line(value: Any) -> Any:
    """Fold every kind of line break and control character into single spaces."""
    if not isinstance(value, str):
        return value
    cleaned = "".join(ch if ch.isprintable() else " " for ch in value)
    return " ".join(cleaned.split())


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _unix_newlines(value: Any) -> Any:
    # Browsers send a textarea's line breaks as CR LF; count and store them as one character.
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


def _new_submission_id() -> str:
    return str(uuid.uuid4())


class _PublicForm(FlaskForm):
    """What both public forms share: the submission id, the honeypot and the attachments."""

    #: generated when the form is shown, so sending the same form twice is one submission
    submission_id = HiddenField()
    #: the honeypot (channels.webform.HONEYPOT_FIELD): hidden from people by CSS, aria-hidden
    #: and tabindex -1; bots fill it in, and the adapter quarantines what they send
    website = StringField(_l("Leave this field empty"))
    attachments = MultipleFileField(_l("Attachments"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accepted_files: list[UploadedFile] = []
        if not self.is_submitted():
            self.submission_id.data = _new_submission_id()

    def validate_submission_id(self, field: HiddenField) -> None:
        # People cannot repair a hidden field: a missing or mangled id silently gets a new one.
        try:
            field.data = str(uuid.UUID(str(field.data or "")))
        except ValueError:
            field.data = _new_submission_id()

    def validate_attachments(self, field: MultipleFileField) -> None:
        files = [
            item for item in field.data or [] if isinstance(item, FileStorage) and item.filename
        ]
        if len(files) > MAX_ATTACHMENTS:
            raise ValidationError(
                _("You can attach at most %(count)d files.", count=MAX_ATTACHMENTS)
            )
        limit = current_app.config["ATTACHMENT_MAX_BYTES"]
        problems: list[str] = []
        accepted: list[UploadedFile] = []
        for item in files:
            shown = _single_line(item.filename.replace("\\", "/").rsplit("/", 1)[-1])[:120]
            kind = ACCEPTED_FILES.get(_extension(item.filename))
            if kind is None:
                problems.append(
                    _(
                        "%(name)s is not a type of file we accept. Please send photos (JPG, PNG, "
                        "GIF, WebP, HEIC), PDF, text files or office documents.",
                        name=shown,
                    )
                )
                continue
            # Read one byte more than allowed: enough to know it is too large, no more.
            data = item.stream.read(limit + 1)
            if len(data) > limit:
                problems.append(
                    _("%(name)s is larger than %(limit)s.", name=shown, limit=human_size(limit))
                )
                continue
            if not data:
                problems.append(_("%(name)s is empty.", name=shown))
                continue
            if not _content_matches(kind, data):
                problems.append(
                    _(
                        "%(name)s does not contain what its name says (.%(extension)s). "
                        "Please check that you chose the right file.",
                        name=shown,
                        extension=_extension(item.filename),
                    )
                )
                continue
            accepted.append(
                UploadedFile(
                    safe_upload_name(item.filename, _extension(item.filename)),
                    kind.content_type,
                    data,
                )
            )
        if problems:
            raise ValidationError(" ".join(problems))
        self.accepted_files = accepted

    def had_files(self) -> bool:
        """Whether the customer chose files (browsers cannot keep them after an error)."""
        return any(
            isinstance(item, FileStorage) and item.filename for item in self.attachments.data or []
        )

    def error_summary(self) -> list[tuple[str, str]]:
        """(field id, message) for every error, in the order the fields appear on the page."""
        summary: list[tuple[str, str]] = []
        for field in self:
            if field.name == "csrf_token":
                continue
            summary.extend((field.id, str(message)) for message in field.errors)
        return summary


class ComplaintForm(_PublicForm):
    """The public complaint form; every message here is shown to the customer."""

    name = StringField(
        _l("Your name"),
        filters=[_single_line],
        validators=[
            DataRequired(_l("Tell us your name, so we know how to address you.")),
            Length(max=MAX_NAME, message=_l("Your name can be at most %(max)d characters.")),
        ],
    )
    email = StringField(
        _l("E-mail address"),
        filters=[_strip],
        validators=[
            Length(
                max=MAX_EMAIL, message=_l("An e-mail address can be at most %(max)d characters.")
            ),
        ],
    )
    phone = StringField(
        _l("Phone number"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=MAX_PHONE, message=_l("A phone number can be at most %(max)d characters.")),
        ],
    )
    category = SelectField(
        _l("What is your complaint about?"),
        choices=[
            SelectChoice("", _l("Choose a subject")),
            *(SelectChoice(value, label) for value, label in CATEGORIES),
        ],
        validate_choice=False,
        validators=[DataRequired(_l("Choose what your complaint is about."))],
    )
    order_number = StringField(
        _l("Order or reference number"),
        filters=[_single_line],
        validators=[
            Optional(),
            Length(
                max=MAX_ORDER_NUMBER,
                message=_l("An order number can be at most %(max)d characters."),
            ),
        ],
    )
    message = TextAreaField(
        _l("Your message"),
        filters=[_unix_newlines],
        validators=[
            DataRequired(_l("Tell us what went wrong.")),
            Length(
                max=MAX_MESSAGE,
                message=_l(
                    "Your message can be at most %(max)d characters. Please shorten it, or "
                    "attach a document."
                ),
            ),
        ],
    )

    def validate_email(self, field: StringField) -> None:
        value = field.data or ""
        if not value:
            if not self.phone.data:
                # The two fields are one question; the answer is asked for once, at the first.
                raise ValidationError(
                    _("Give an e-mail address or a phone number, so we can answer you.")
                )
            return
        if not _EMAIL_RE.match(value):
            raise ValidationError(
                _("Enter an e-mail address like name@example.com, or leave it empty.")
            )

    def validate_phone(self, field: StringField) -> None:
        try:
            normalise_phone(field.data, current_app.config["DEFAULT_PHONE_REGION"])
        except ValueError:
            raise ValidationError(
                _("Enter a phone number like 06 12345678 or +31 6 12345678, or leave it empty.")
            ) from None

    def validate_category(self, field: SelectField) -> None:
        if field.data not in {value for value, _label in CATEGORIES}:
            raise ValidationError(_("Choose what your complaint is about."))

    def validate_order_number(self, field: StringField) -> None:
        if field.data and not _ORDER_NUMBER_RE.match(field.data):
            raise ValidationError(
                _("An order number has only letters, digits, spaces and - / . #")
            )

    def category_options(self) -> list[tuple[str, Any]]:
        """(value, label) for the select, the empty "choose" option first."""
        return [("", _l("Choose a subject")), *CATEGORIES]

    def category_label(self) -> str:
        return str(dict(CATEGORIES).get(self.category.data or "", ""))


class ReplyForm(_PublicForm):
    """A customer's reply on the tracking page: text, files or both."""

    message = TextAreaField(
        _l("Your reply"),
        filters=[_unix_newlines],
        validators=[
            Length(
                max=MAX_MESSAGE,
                message=_l(
                    "Your reply can be at most %(max)d characters. Please shorten it, or "
                    "attach a document."
                ),
            )
        ],
    )

    def validate_message(self, field: TextAreaField) -> None:
        if not (field.data or "").strip() and not self.had_files():
            raise ValidationError(_("Write a reply or attach a file."))
