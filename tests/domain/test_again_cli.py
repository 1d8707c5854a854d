"""`flask again-cues`: JSON lines in, one JSON line out per input, errors reported in line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ticketing.cli.again import again_cues_command


def run(stdin: bytes | str, *args: str):
    result = CliRunner().invoke(again_cues_command, list(args), input=stdin)
    lines = [json.loads(line) for line in result.output.splitlines()]
    return result, lines


def test_each_line_gets_its_cues():
    stdin = "\n".join(
        [
            json.dumps({"text": "Mijn internet werkt alweer niet", "lang": "nl"}),
            json.dumps({"text": "Thanks again!"}),
            json.dumps({"text": "Wéér kapot", "lang": None}),
        ]
    )
    result, lines = run(stdin + "\n")
    assert result.exit_code == 0
    assert lines == [
        {"again": True, "cues": [{"start": 20, "end": 26, "match": "alweer", "kind": "again"}]},
        {"again": False, "cues": []},
        {"again": True, "cues": [{"start": 0, "end": 4, "match": "Wéér", "kind": "again"}]},
    ]


def test_output_keeps_non_ascii_text_readable():
    result, _ = run(json.dumps({"text": "Wéér kapot"}))
    assert '"match": "Wéér"' in result.output


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "line 1: not JSON"),
        (b"[1, 2]", "line 1: expected an object"),
        (b'{"lang": "nl"}', 'line 1: "text" must be a string'),
        (b'{"text": 5}', 'line 1: "text" must be a string'),
        (b'{"text": "hi", "lang": 3}', 'line 1: "lang" must be a string or null'),
        (b'{"text": "\xff\xfe"}', "line 1: not UTF-8"),
    ],
)
def test_bad_line_gives_an_error_line_and_exit_code_one(line, message):
    result, lines = run(line + b"\n" + json.dumps({"text": "still waiting"}).encode() + b"\n")
    assert result.exit_code == 1
    assert lines[0]["error"].startswith(message)
    assert set(lines[0]) == {"error"}
    assert lines[1]["again"] is True  # the command went on after the bad line


def test_blank_lines_are_skipped_and_numbering_follows_the_input():
    result, lines = run(b'{"text": "again??"}\n\n   \nnope\n')
    assert result.exit_code == 1
    assert lines[0]["again"] is True
    assert lines[1] == {"error": "line 4: not JSON (Expecting value at column 1)"}


def test_default_language_applies_to_lines_without_one():
    stdin = json.dumps({"text": "Het werkt alweer niet"}) + "\n"
    _, with_english = run(stdin, "--lang", "en")
    _, with_dutch = run(stdin, "--lang", "nl")
    assert with_english == [{"again": False, "cues": []}]
    assert with_dutch[0]["again"] is True


def test_empty_input_is_fine():
    result, lines = run("")
    assert result.exit_code == 0
    assert lines == []


def test_help_documents_the_contract():
    result = CliRunner().invoke(again_cues_command, ["--help"])
    assert result.exit_code == 0
    assert "exit" in result.output
    assert '"error"' in result.output
