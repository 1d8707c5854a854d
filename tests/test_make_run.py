"""What `make run` does after installing: migrate, seed the demo once, print the logins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ticketing.demo import DEMO_PASSWORD, STAFF

REPOSITORY = Path(__file__).resolve().parents[1]
FLASK = str(Path(sys.executable).with_name("flask"))


def run_flask(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([FLASK, "--app", "wsgi", *args], cwd=REPOSITORY, env=env, text=True,
                            capture_output=True, timeout=600, check=False)
    assert result.returncode == 0, f"flask {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result


def counts(engine: sa.Engine) -> dict[str, Any]:
    queries = {
        "tickets": "SELECT count(*) FROM tickets",
        "users": "SELECT count(*) FROM users",
        "messages": "SELECT count(*) FROM messages",
        "channels": "SELECT DISTINCT channel FROM tickets",
        # Replies written by an agent, not the automatic acknowledgements.
        "replied": "SELECT count(DISTINCT ticket_id) FROM messages "
                   "WHERE direction = 'out' AND author_id IS NOT NULL AND NOT is_automatic",
        "breached": "SELECT count(*) FROM tickets WHERE has_breached",
        "repeats": "SELECT count(*) FROM tickets WHERE repeat_contacts > 0",
    }
    with engine.connect() as connection:
        found: dict[str, Any] = {
            name: connection.scalar(sa.text(sql)) for name, sql in queries.items()
            if name != "channels"
        }
        found["channels"] = set(connection.scalars(sa.text(queries["channels"])))
    return found


@pytest.mark.slow
def test_the_demo_seed_is_realistic_and_safe_to_run_twice(tmp_path):
    database = tmp_path / "demo.db"
    env = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("SMTP_", "TWILIO_", "IMAP_", "REDIS_", "FLASK_", "HUEY_"))
    }
    env.update(
        TICKETING_ENV="development",
        DATABASE_URL=f"sqlite:///{database}",
        SECRET_KEY="make-run-test-secret",
        TICKETING_INSTANCE_PATH=str(tmp_path / "instance"),
    )
    run_flask("db", "upgrade", env=env)

    first = run_flask("seed-demo", "--tickets", "40", env=env)
    engine = sa.create_engine(f"sqlite:///{database}")
    after_first = counts(engine)
    second = run_flask("seed-demo", "--tickets", "40", env=env)
    after_second = counts(engine)
    engine.dispose()

    assert f"seeded {after_first['tickets']} tickets" in first.stdout
    assert "nothing seeded" in second.stdout
    assert "seeded " not in second.stdout.replace("nothing seeded", "")
    assert after_second == after_first
    # Both runs end with the logins, so `make run` always shows how to get in.
    for output in (first.stdout, second.stdout):
        assert f"password: {DEMO_PASSWORD}" in output
        for email, _name, role, _team, _language in STAFF:
            assert email in output
            assert role.value in output

    # Some complaints are merged into earlier tickets as repeats, so a few less than 40.
    assert 25 <= after_first["tickets"] <= 40
    assert after_first["users"] == len(STAFF)
    assert after_first["channels"] == {"email", "sms", "web"}
    assert after_first["replied"] > 0
    assert after_first["breached"] > 0
    assert after_first["repeats"] > 0
