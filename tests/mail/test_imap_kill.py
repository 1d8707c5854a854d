"""A poller process killed (SIGKILL) anywhere in a batch loses and repeats no mail on restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_DATABASE_URL, skip_or_fail
from tests.mail.imap_helpers import append_mail, create_folder, mail_flags, make_mail

REPO = Path(__file__).resolve().parents[2]
MAILS_PER_FOLDER = 3
#: where a poller dies: every poller has a folder and a database of its own, so all run at once
KILL_POINTS = (
    "after_fetch",  # every mail fetched and its raw record added to the session; no commit yet
    "mid_batch",  # raw records and the first mail committed; the second mail's work uncommitted
    "before_flag",  # every mail committed and taken in; none flagged \Seen on the server yet
)
#: (raw records, inbound messages) each killed poller leaves committed behind it
LEFT_BEHIND = {"after_fetch": (0, 0), "mid_batch": (MAILS_PER_FOLDER, 1),
               "before_flag": (MAILS_PER_FOLDER, MAILS_PER_FOLDER)}


# --- In the poller processes ---------------------------------------------------------------------

def _die(reason: str) -> None:
    # SIGKILL, not an exception: no except clause, finally block, context manager exit or atexit
    # hook runs, just as when the OOM killer or a power cut ends the worker.
    sys.stderr.write(f"poller killed: {reason}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(kill_point: str) -> None:
    """Make this process kill itself at the kill point during the next poll."""
    from imap_tools import BaseMailBox
    from sqlalchemy.orm import Session

    import ticketing.mailbox as mailbox

    armed = False

    def die_at_commit(_session: Any) -> None:
        if armed:
            _die(f"{kill_point}: at a commit")

    # Any commit, savepoints included: the poller may commit where it likes, as long as a death
    # before the commit loses and repeats nothing.
    sa.event.listen(Session, "before_commit", die_at_commit)
    if kill_point == "after_fetch":
        store_raw = mailbox.store_raw

        def storing(*args: Any, **kwargs: Any) -> Any:
            nonlocal armed
            armed = True
            return store_raw(*args, **kwargs)

        mailbox.store_raw = storing
    elif kill_point == "mid_batch":
        process_record = mailbox.process_record
        calls = 0

        def processing(*args: Any, **kwargs: Any) -> Any:
            nonlocal armed, calls
            calls += 1
            armed = calls == 2
            return process_record(*args, **kwargs)

        mailbox.process_record = processing
    elif kill_point == "before_flag":
        def flag_or_move(*_args: Any, **_kwargs: Any) -> None:
            _die(f"{kill_point}: flagging or moving on the server")

        BaseMailBox.flag = BaseMailBox.move = flag_or_move  # type: ignore[method-assign]
    else:
        raise ValueError(f"unknown kill point {kill_point!r}")


def _poll_and_die(kill_point: str, settings: dict[str, Any]) -> None:
    from ticketing.app import create_app

    _arm(kill_point)
    app = create_app("development", **settings)
    with app.app_context():
        # The real `flask email poll` command, on the app made for this poller.
        app.cli.main(args=["email", "poll"], prog_name="flask", standalone_mode=False)


def kill_pollers() -> None:
    """Run in a fresh interpreter: fork one poller per kill point and print how each ended.

    Loading the app code takes seconds, so it is done once here; each forked poller only makes
    its app, polls and dies. Reads {kill point: app settings} as JSON from argv[1]; prints
    {kill point: exit code} as JSON, where -9 means killed by SIGKILL.
    """
    import threading
    import traceback

    from ticketing.app import create_app

    jobs = json.loads(sys.argv[1])
    # A first app imports what create_app imports lazily, so the pollers start at once.
    warm_up = next(iter(jobs.values()))
    create_app("development", **{**warm_up, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                                 "INSTANCE_PATH": warm_up["INSTANCE_PATH"] + "-warm-up"})
    assert threading.active_count() == 1, "forking a process with threads can deadlock"
    sys.stdout.flush()
    sys.stderr.flush()
    pollers = {}
    for kill_point, settings in jobs.items():
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _poll_and_die(kill_point, settings)
            except BaseException:  # noqa: BLE001 - printed for the test, which then fails
                traceback.print_exc()
                code = 1
            os._exit(code)  # reached only when the kill point was missed; never loop on here
        pollers[kill_point] = pid
    ended = {point: os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
             for point, pid in pollers.items()}
    print(json.dumps(ended))


# --- In the test ---------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """An empty schema per kill point: SQLite files, or PostgreSQL databases made for the test."""
    import ticketing.models  # noqa: F401 - puts the tables on the metadata
    from ticketing.extensions import db

    admin = None
    if request.param == "sqlite":
        urls = {point: f"sqlite:///{tmp_path / point}.db" for point in KILL_POINTS}
    else:
        if not TEST_DATABASE_URL:
            skip_or_fail("TEST_DATABASE_URL is not set, so the PostgreSQL run is skipped")
        server = sa.make_url(TEST_DATABASE_URL)
        run = uuid.uuid4().hex[:8]
        urls = {point: server.set(database=f"test_imapkill_{run}_{point}")
                .render_as_string(hide_password=False) for point in KILL_POINTS}
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for url in urls.values():
                connection.exec_driver_sql(f'CREATE DATABASE "{sa.make_url(url).database}"')
    try:
        for url in urls.values():
            engine = sa.create_engine(url)
            db.metadata.create_all(engine)
            engine.dispose()
        yield urls
    finally:
        if admin is not None:
            with admin.connect() as connection:
                for url in urls.values():
                    name = sa.make_url(url).database
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def _imap_settings(server: dict[str, Any], folder: str) -> dict[str, Any]:
    return {"IMAP_HOST": server["host"], "IMAP_PORT": server["port"],
            "IMAP_USERNAME": server["user"], "IMAP_PASSWORD": server["password"],
            "IMAP_SECURITY": "none", "IMAP_FOLDER": folder, "IMAP_PROCESSED_FOLDER": ""}


def _kill_pollers(server: dict[str, Any], folders: dict[str, str], urls: dict[str, str],
                  tmp_path: Path) -> None:
    """Run one poller per kill point in a child process, and check that each was killed."""
    jobs = {
        point: {
            **_imap_settings(server, folders[point]),
            "SQLALCHEMY_DATABASE_URI": urls[point],
            "INSTANCE_PATH": str(tmp_path / point),
            "HUEY_IMMEDIATE": True,
            # Nothing of the developer's own set-up may reach the pollers.
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
            "SMTP_HOST": None,
            "TWILIO_ACCOUNT_SID": None,
        }
        for point in KILL_POINTS
    }
    code = "from tests.mail.test_imap_kill import kill_pollers; kill_pollers()"
    result = subprocess.run([sys.executable, "-c", code, json.dumps(jobs)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    output = f"stdout: {result.stdout}\nstderr: {result.stderr[-5000:]}"
    assert result.returncode == 0, output
    ended = json.loads(result.stdout.splitlines()[-1])
    for point in KILL_POINTS:
        assert ended[point] == -signal.SIGKILL, (
            f"{point}: the poller was not killed (exit {ended[point]}); does the kill point "
            f"still match ticketing/mailbox.py?\n{output}")


def _message_ids(numbers: list[int]) -> list[str]:
    return sorted(f"imap-{number}@example.nl" for number in numbers)


def _stored(db: Any) -> dict[str, Any]:
    from ticketing.models import Direction, InboundRecord, InboundStatus, Message, Ticket

    return {
        "records": db.session.scalar(sa.select(sa.func.count(InboundRecord.id))),
        "unprocessed": db.session.scalar(sa.select(sa.func.count(InboundRecord.id)).where(
            InboundRecord.status == InboundStatus.received)),
        "tickets": db.session.scalar(sa.select(sa.func.count(Ticket.id))),
        "message_ids": sorted(db.session.scalars(
            sa.select(Message.external_id).where(Message.direction == Direction.inbound))),
    }


def test_a_killed_poller_loses_and_repeats_nothing(module_imap_server, databases, tmp_path):
    from ticketing.app import create_app
    from ticketing.extensions import db
    from ticketing.mailbox import MailboxSettings, poll_mailbox

    server = module_imap_server
    run = uuid.uuid4().hex[:8]  # the Dovecot is shared with the other database's run
    folders = {point: f"kill-{point}-{run}" for point in KILL_POINTS}
    numbers = {point: [10 * place + n for n in range(1, MAILS_PER_FOLDER + 1)]
               for place, point in enumerate(KILL_POINTS, start=1)}
    for point in KILL_POINTS:
        create_folder(server, folders[point])
        append_mail(server, [make_mail(number) for number in numbers[point]], folders[point])

    _kill_pollers(server, folders, databases, tmp_path)

    for point in KILL_POINTS:
        folder, expected_ids = folders[point], _message_ids(numbers[point])
        assert not any("\\Seen" in flags for flags in mail_flags(server, folder)), point
        app = create_app("test", SQLALCHEMY_DATABASE_URI=databases[point],
                         INSTANCE_PATH=str(tmp_path / f"{point}-restart"),
                         ATTACHMENT_STORAGE_PATH=str(tmp_path / f"{point}-attachments"),
                         **_imap_settings(server, folder))
        with app.app_context():
            try:
                left = _stored(db)
                assert (left["records"], len(left["message_ids"])) == LEFT_BEHIND[point], point
                assert set(left["message_ids"]) <= set(expected_ids), point
                settings = MailboxSettings.from_config(app.config)

                summary = poll_mailbox(app, settings)
                assert summary["fetched"] == MAILS_PER_FOLDER, (point, summary)
                assert summary["processed"] == MAILS_PER_FOLDER - LEFT_BEHIND[point][1], (
                    point, summary)
                assert _stored(db) == {"records": MAILS_PER_FOLDER, "unprocessed": 0,
                                       "tickets": MAILS_PER_FOLDER,
                                       "message_ids": expected_ids}, point
                assert poll_mailbox(app, settings)["fetched"] == 0, point
            finally:
                db.session.remove()
                db.engine.dispose()
        flags = mail_flags(server, folder)
        assert len(flags) == MAILS_PER_FOLDER, point
        assert all("\\Seen" in item for item in flags), (point, flags)
