"""A real Dovecot IMAP server on loopback, from Debian's dovecot-imapd, with a private config."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.support.servers import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "support@example.org", "imap-test-password"


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen on {port}")


@contextmanager
def running_dovecot() -> Iterator[dict[str, Any]]:
    """Start Dovecot; yields host, port, user, password and the home folder."""
    if not Path(DOVECOT).exists():
        skip_or_fail("Dovecot is not installed (Debian package dovecot-imapd)")
    if os.geteuid() != 0:
        skip_or_fail("Dovecot's private test instance needs root to drop to the mail user")
    # Dovecot's own users must reach the config and users file: pytest's tmp root is 0700.
    root = Path(tempfile.mkdtemp(prefix="dovecot-test-"))
    root.chmod(0o755)
    for name in ("run", "state", "home"):
        (root / name).mkdir()
    mail_user = pwd.getpwnam("mail")
    os.chown(root / "home", mail_user.pw_uid, mail_user.pw_gid)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={root}/home/%u
}}
mail_location = maildir:~/Maildir
first_valid_uid = 1
first_valid_gid = 1
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""")
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port)
    except RuntimeError:
        process.kill()
        output = process.stdout.read().decode(errors="replace") if process.stdout else ""
        log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
        pytest.fail(f"dovecot did not start: {output}\n{log}")
    try:
        yield {"host": "127.0.0.1", "port": port, "user": USER, "password": PASSWORD,
               "home": root / "home" / USER}
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        if process.stdout:
            process.stdout.close()
        if not os.environ.get("KEEP_DOVECOT"):
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def imap_server():
    """Dovecot for one test, with an empty INBOX."""
    with running_dovecot() as server:
        yield server


@pytest.fixture(scope="module")
def module_imap_server():
    """One Dovecot for a whole module, for tests that each keep to folders of their own."""
    with running_dovecot() as server:
        yield server
