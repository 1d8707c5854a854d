"""The Dutch catalogue covers every string the code marks for translation, and is compiled."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "ticketing" / "translations"
DUTCH = TRANSLATIONS / "nl" / "LC_MESSAGES"


def _ids(messages) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in messages if m.id}


def _marked_in_code() -> set[str]:
    # The same extraction `pybabel extract -F babel.cfg` does (see babel.cfg).
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found = extract_from_dir(
        ROOT / "ticketing", method_map=method_map,
        options_map={"**.py": {}, "**/templates/**.html": {}},
        keywords={"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None,
                  "_l": None},
    )
    return {message if isinstance(message, str) else message[0]
            for _filename, _line, message, _comments, _context in found}


def test_every_marked_string_has_a_dutch_translation():
    with (DUTCH / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    missing = sorted(_marked_in_code() - _ids(catalog))
    untranslated = sorted(
        _ids([m for m in catalog if m.id and (m.fuzzy or not all(
            [m.string] if isinstance(m.string, str) else m.string))])
    )
    assert missing == [], "run pybabel extract and update (see babel.cfg)"
    assert untranslated == []


def test_the_template_and_the_compiled_catalogue_are_up_to_date():
    with (TRANSLATIONS / "messages.pot").open("rb") as handle:
        template = _ids(read_po(handle))
    with (DUTCH / "messages.po").open("rb") as handle:
        translated = _ids(read_po(handle))
    with (DUTCH / "messages.mo").open("rb") as handle:
        compiled = _ids(read_mo(handle))
    assert _marked_in_code() <= template
    assert translated <= compiled, "run pybabel compile -d ticketing/translations"
