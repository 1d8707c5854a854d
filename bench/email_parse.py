"""Time e-mail parsing on the shared corpora and compare quote stripping with mail-parser-reply.

Run from the project root:  .venv/bin/python -m bench.email_parse [--compare-library]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from channels.email import parse_message
from channels.email.quotes import extract_new_text
from ticketing.domain.contact import InvalidInbound

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
RECEIVED_AT = datetime(2026, 11, 23, tzinfo=UTC)
GUARDS = ("pathological.txt", "email_long_quote.txt")  # upstream: each under 1 s
MIME_GLOBS = {
    "zammad": "mail/*.box",
    "cpython-test-email": "data/*",
    "mail-parser-spamscope": "mails/*",
    "django-helpdesk": "emails/*.eml",
    "sisimai-set-of-emails": "*/*.eml",
    "talon": "**/*.eml",
}


def best_of(runs: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def time_guards() -> None:
    print("## Performance guards (best of 5)")
    folder = CORPORA / "email-reply-parser-github" / "emails"
    for name in GUARDS:
        text = (folder / name).read_text(encoding="utf-8")
        raw = b"From: a@example.com\r\nMessage-ID: <g@x>\r\n\r\n" + text.encode()
        as_text = best_of(5, lambda text=text: extract_new_text(text))
        as_mail = best_of(5, lambda raw=raw: parse_message(raw, received_at=RECEIVED_AT))
        verdict = "ok" if max(as_text, as_mail) < 1.0 else "TOO SLOW"
        print(
            f"{name:24s} {len(text):>8,d} chars  new_text {as_text * 1000:7.1f} ms"
            f"  whole mail {as_mail * 1000:7.1f} ms  {verdict}"
        )


def time_corpora() -> None:
    # CPU time as well as wall clock: on a shared 2-core machine the wall clock mostly shows
    # how busy the neighbours are.
    print("\n## Whole-message parsing per corpus (one pass; wall clock, then CPU time)")
    all_wall: list[float] = []
    all_cpu: list[float] = []
    for corpus, pattern in MIME_GLOBS.items():
        files = sorted((CORPORA / corpus).glob(pattern))
        wall, cpu, refused = [], [], 0
        for path in files:
            raw = path.read_bytes()
            started, started_cpu = time.perf_counter(), time.process_time()
            try:
                parse_message(raw, received_at=RECEIVED_AT)
            except InvalidInbound:
                refused += 1
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        all_wall.extend(wall)
        all_cpu.extend(cpu)
        print(
            f"{corpus:24s} {len(files):4d} mails  wall {sum(wall):6.2f} s"
            f"  median {statistics.median(wall) * 1000:6.1f} ms  max {max(wall) * 1000:7.1f} ms"
            f"  | cpu {sum(cpu):6.2f} s  median {statistics.median(cpu) * 1000:5.1f} ms"
            f"  refused {refused}"
        )
    print(
        f"{'all':24s} {len(all_wall):4d} mails  {len(all_wall) / sum(all_wall):.0f}/s wall,"
        f" {len(all_cpu) / sum(all_cpu):.0f}/s per CPU"
    )


def time_large() -> None:
    print("\n## Large synthetic messages (one pass)")
    head = b"From: a@example.com\r\nMessage-ID: <big@x>\r\n"
    attachment = base64.encodebytes(b"%PDF-" + b"x" * 30_000_000)
    cases = {
        "40 MB with a 30 MB PDF": head
        + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nhello\r\n--b\r\n'
        + b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + attachment
        + b"\r\n--b--\r\n",
        "20 MB of plain text": head + b"\r\n" + b"word " * 4_000_000,
        "1 MB HTML, 99-deep blocks": head
        + b"Content-Type: text/html\r\n\r\n"
        + (b"<div>" * 99 + b"x" + b"</div>" * 99) * 900,
    }
    for label, raw in cases.items():
        started = time.perf_counter()
        parse_message(raw, received_at=RECEIVED_AT)
        print(f"{label:28s} {len(raw) / 1e6:6.1f} MB  {time.perf_counter() - started:6.2f} s")


def compare_library() -> None:
    """Score mail-parser-reply alone against our rules with the test suite's corpus checks."""
    from mailparser_reply import EmailReplyParser

    from tests.channels import test_email_quotes as checks

    parser = EmailReplyParser(languages=["en", "nl", "de", "fr", "da", "sv", "pl", "ja"])

    def library_reply(text: str, **_: object) -> str:
        replies = parser.read(text).replies
        return replies[0].body if replies else ""

    def library_quotes(text: str) -> str:
        replies = parser.read(text).replies
        return replies[0].full_body if replies else ""

    ours = (checks.extract_new_text, checks.strip_quotes)
    print("\n## Reply corpora: our rules vs mail-parser-reply alone")
    for label, (new_text, quotes) in {
        "ours": ours,
        "mail-parser-reply": (library_reply, library_quotes),
    }.items():
        checks.extract_new_text, checks.strip_quotes = new_text, quotes
        rates = []
        for corpus, results in checks.CORPUS_RESULTS.items():
            scored = results()
            rates.append(f"{corpus} {checks.pass_rate(scored):.1%} of {len(scored)}")
        print(f"{label:18s} " + "; ".join(rates))
    checks.extract_new_text, checks.strip_quotes = ours


def main(argv: list[str]) -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--compare-library", action="store_true")
    arguments = options.parse_args(argv)
    if not CORPORA.is_dir():
        sys.exit(f"corpora not found at {CORPORA}")
    time_guards()
    time_corpora()
    time_large()
    if arguments.compare_library:
        compare_library()


if __name__ == "__main__":
    main(sys.argv[1:])
