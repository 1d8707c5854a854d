"""The IMAP poller on a real Dovecot: store, commit, then flag; crashes lose and repeat nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.mail.imap_helpers import append_mail, create_folder, mail_flags, make_mail
from ticketing.mailbox import MailboxSettings, poll_mailbox
from ticketing.models import InboundRecord, Message, Ticket


@pytest.fixture
def settings(imap_server):
    return MailboxSettings(host=imap_server["host"], port=imap_server["port"],
                           username=imap_server["user"], password=imap_server["password"],
                           security="none")


def _counts(db_session):
    return (
        db_session.scalar(sa.select(sa.func.count(Ticket.id))),
        db_session.scalar(sa.select(sa.func.count(Message.id)).where(Message.direction == "in")),
    )


def test_poll_takes_in_new_mail_and_flags_it(app, db_session, imap_server, settings):
    append_mail(imap_server, [make_mail(1), make_mail(2)])
    summary = poll_mailbox(app, settings)
    assert summary["fetched"] == 2
    assert summary["processed"] == 2
    assert _counts(db_session) == (2, 2)
    assert all("\\Seen" in flags for flags in mail_flags(imap_server))
    assert poll_mailbox(app, settings)["fetched"] == 0


def test_reply_in_the_same_batch_joins_its_original(app, db_session, imap_server, settings):
    # The reply is appended first; the poller still processes the original first.
    append_mail(imap_server, [make_mail(4, reply_to="imap-3@example.nl", sender=3), make_mail(3)])
    poll_mailbox(app, settings)
    assert _counts(db_session) == (1, 2)


def test_a_crash_before_flagging_repeats_nothing(app, db_session, imap_server, settings,
                                                 monkeypatch):
    append_mail(imap_server, [make_mail(5), make_mail(6)])
    from imap_tools import BaseMailBox

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt("worker killed after commit, before flagging")

    monkeypatch.setattr(BaseMailBox, "flag", crash)
    with pytest.raises(KeyboardInterrupt):
        poll_mailbox(app, settings)
    monkeypatch.undo()
    assert _counts(db_session) == (2, 2)
    summary = poll_mailbox(app, settings)
    assert summary["fetched"] == 2
    assert summary["already_stored"] == 2
    assert _counts(db_session) == (2, 2)
    assert db_session.scalar(sa.select(sa.func.count(InboundRecord.id))) == 2
    assert all("\\Seen" in flags for flags in mail_flags(imap_server))


def test_a_crash_before_commit_loses_nothing(app, db_session, imap_server, settings,
                                             monkeypatch):
    append_mail(imap_server, [make_mail(7)])
    import ticketing.mailbox as mailbox_module

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt("worker killed between fetch and commit")

    monkeypatch.setattr(mailbox_module, "store_raw", crash)
    with pytest.raises(KeyboardInterrupt):
        poll_mailbox(app, settings)
    monkeypatch.undo()
    db_session.rollback()
    assert _counts(db_session) == (0, 0)
    assert poll_mailbox(app, settings)["processed"] == 1
    assert _counts(db_session) == (1, 1)


def test_processed_mail_can_be_moved_to_a_folder(app, db_session, imap_server, settings):
    create_folder(imap_server, "Processed")
    append_mail(imap_server, [make_mail(8)])
    from dataclasses import replace

    poll_mailbox(app, replace(settings, processed_folder="Processed"))
    assert mail_flags(imap_server) == []
    assert _counts(db_session) == (1, 1)
