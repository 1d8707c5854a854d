"""Each test sees a clean database: the first test writes and commits, the second sees nothing."""

import sqlalchemy as sa

from ticketing.models import Team

MARKER = "isolation-marker-team"


def test_isolation_first_writes_and_commits(db_session):
    db_session.add(Team(name=MARKER))
    db_session.commit()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Team).where(
        Team.name == MARKER)) == 1


def test_isolation_second_sees_nothing(db_session):
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Team).where(
        Team.name == MARKER)) == 0
