"""`flask again-cues`: run the again-cue detector over JSON lines from stdin."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ticketing.domain.again import find_again_cues


def _cues_for_line(raw: bytes, number: int, default_lang: str | None) -> dict[str, Any]:
    """Return the answer for one input line: the cues, or {"error": ...}."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {"error": f"line {number}: not UTF-8 ({exc.reason} at byte {exc.start})"}
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"error": f"line {number}: not JSON ({exc.msg} at column {exc.colno})"}
    if not isinstance(item, dict):
        return {"error": f"line {number}: expected an object with a \"text\" field"}
    text = item.get("text")
    if not isinstance(text, str):
        return {"error": f"line {number}: \"text\" must be a string"}
    lang = item.get("lang", default_lang)
    if lang is not None and not isinstance(lang, str):
        return {"error": f"line {number}: \"lang\" must be a string or null"}
    cues = find_again_cues(text, lang)
    return {
        "again": bool(cues),
        "cues": [
            {"start": cue.start, "end": cue.end, "match": cue.match, "kind": cue.kind}
            for cue in cues
        ],
    }


@click.option(
    "--lang",
    "default_lang",
    default=None,
    metavar="CODE",
    help="Language for lines without a \"lang\" (nl, en, de, fr); default: try all four.",
)
def _again_cues(default_lang: str | None) -> None:
    """Find again-cues in JSON lines read from stdin.

    Each input line is {"text": "...", "lang": "nl"} ("lang" optional). Each output line is
    {"again": true|false, "cues": [{"start", "end", "match", "kind"}]}, with start and end as
    character offsets into text. Blank lines are skipped. A line that is not valid (not
    UTF-8, not JSON, no string "text") gives {"error": "line N: ..."} and the command goes
    on; the exit code is then 1 once all input is read, otherwise 0.
    """
    failed = False
    # Bytes, not text: a line that is not UTF-8 must become an error line, not end the run.
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        if not raw.strip():
            continue
        answer = _cues_for_line(raw.rstrip(b"\r\n"), number, default_lang)
        failed = failed or "error" in answer
        # click.echo flushes each line, so the command answers line by line in a pipe
        click.echo(json.dumps(answer, ensure_ascii=False))
    if failed:
        raise click.exceptions.Exit(1)


again_cues_command = click.command("again-cues")(_again_cues)
