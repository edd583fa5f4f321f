"""A real Dovecot IMAP server for the e-mail tests, on loopback with its own config, port and folders.

``start_dovecot`` installs ``dovecot-imapd`` from the distribution's packages when it is missing (apt-get, as
root), writes a config into a temporary folder and starts the server on spare loopback ports:

- plaintext IMAP offering STARTTLS, and IMAPS, both with a self-signed certificate made at setup
  (``Dovecot.ssl_context()`` trusts it);
- users and passwords in passwd-files (``add_user`` makes a fresh one, with its own empty mailbox);
- XOAUTH2/OAUTHBEARER checked by Dovecot's ``oauth2`` passdb against a token-introspection URL the test
  serves on loopback (``tests/support/oauth_server.py``).

It also appends messages, changes a folder's UIDVALIDITY (``doveadm``), reads flags, and stops cleanly.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from imapclient import IMAPClient

from tests.support.tls import self_signed_certificate
from workflow_scheduler.adapters.outbound import Destinations
from workflow_scheduler.domain.outbound import OutboundPolicy

HOST = "127.0.0.1"
# Dovecot and the OAuth provider listen on loopback, on spare ports: only EMAIL_ALLOW_PRIVATE_DESTINATIONS's policy
# (make dev, the tests) lets a trigger reach them.
LOCAL_DESTINATIONS = Destinations(OutboundPolicy(allow_private_destinations=True))
DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
PACKAGE = "dovecot-imapd"
# The mail files belong to nobody: Dovecot refuses to give mail processes uid 0.
MAIL_UID = 65534
DEBIAN_DH_PARAMS = Path("/usr/share/dovecot/dh.pem")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


class DovecotUnavailable(RuntimeError):
    """Dovecot is not installed and cannot be installed here; the message says what to do."""


@dataclass(frozen=True)
class MailUser:
    name: str
    password: str


def _run(command: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> None:
    # Output goes to a file, not a pipe: the daemon Dovecot would keep a pipe open and the wait would never end.
    with tempfile.TemporaryFile() as output:
        result = subprocess.run(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            output.seek(0)
            text = output.read().decode(errors="replace")[-2000:]
            raise DovecotUnavailable(f"`{' '.join(command)}` failed (exit {result.returncode}):\n{text}")


def ensure_installed() -> None:
    """Install ``dovecot-imapd`` with apt-get when it is missing; refuse clearly when that cannot work."""
    if Path(DOVECOT).exists() and Path(DOVEADM).exists():
        return
    apt = shutil.which("apt-get")
    if apt is None:
        raise DovecotUnavailable(f"Dovecot is not installed and there is no apt-get: install {PACKAGE} by hand")
    if os.geteuid() != 0:
        raise DovecotUnavailable(f"Dovecot is not installed: run `sudo apt-get install -y {PACKAGE}` (needs root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Waits for another apt run (a parallel test session) instead of failing on its lock.
    install = [apt, "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", PACKAGE]
    try:
        _run(install, env)
    except DovecotUnavailable:
        # A fresh machine may have no package lists yet.
        _run([apt, "-o", "DPkg::Lock::Timeout=300", "update"], env)
        _run(install, env)


def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = {host}
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
{dh}
disable_plaintext_auth = no
# Refusals answer at once: the tests try wrong passwords and tokens on purpose.
auth_failure_delay = 0
auth_mechanisms = plain login xoauth2 oauthbearer
mail_location = maildir:{root}/mail/%n
mail_uid = {uid}
mail_gid = {uid}
first_valid_uid = 1
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN {root}/users/%n
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={root}/mail/%n allow_all_users=yes
}}
service anvil {{
  # No growing delay for an address after failed logins (Dovecot's "auth penalty"): the socket is unusable.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps_port}
    ssl = yes
  }}
}}
"""

_OAUTH2 = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
"""


class Dovecot:
    """A running Dovecot. Test code talks to it with ``client``/``append``; the code under test connects to
    ``HOST`` on ``imap_port`` (STARTTLS offered) or ``imaps_port`` (TLS), trusting ``ssl_context()``."""

    def __init__(self, root: Path, introspection_url: str) -> None:
        self.root = root
        self.imap_port = spare_port()
        self.imaps_port = spare_port()
        self.cert_pem, key_pem = self_signed_certificate()
        (root / "cert.pem").write_bytes(self.cert_pem)
        key_file = root / "key.pem"
        key_file.write_bytes(key_pem)
        key_file.chmod(0o600)
        for sub in ("run", "state"):
            (root / sub).mkdir()
        mail = root / "mail"
        mail.mkdir()
        os.chown(mail, MAIL_UID, MAIL_UID)
        (root / "users").mkdir()
        (root / "oauth2.conf.ext").write_text(_OAUTH2.format(url=introspection_url))
        (root / "oauth2.conf.ext").chmod(0o644)
        dh = f"ssl_dh = <{DEBIAN_DH_PARAMS}" if DEBIAN_DH_PARAMS.exists() else ""
        config = _CONFIG.format(
            root=root,
            host=HOST,
            dh=dh,
            uid=MAIL_UID,
            imap_port=self.imap_port,
            imaps_port=self.imaps_port,
        )
        self.config = root / "dovecot.conf"
        self.config.write_text(config)

    # -- lifecycle

    def start(self) -> None:
        _run([DOVECOT, "-c", str(self.config)], timeout=60)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if all(self._accepts(port) for port in (self.imap_port, self.imaps_port)):
                return
            time.sleep(0.05)
        raise DovecotUnavailable(f"Dovecot did not start listening in {START_TIMEOUT:.0f} s:\n{self.log()[-3000:]}")

    def _accepts(self, port: int) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            return False

    def master_pid(self) -> int | None:
        try:
            return int((self.root / "run" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Stop the master (it ends its children) and wait until it has gone."""
        pid = self.master_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and _running(pid):
            time.sleep(0.05)
        if _running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def log(self) -> str:
        try:
            return (self.root / "dovecot.log").read_text(errors="replace")
        except OSError:
            return ""

    # -- users and TLS

    def add_user(self, name: str | None = None, password: str | None = None) -> MailUser:
        """A new user with an empty INBOX. Each user has a passwd-file of their own: Dovecot checks a changed
        file at most once a second, a new one it reads at once."""
        user = MailUser(name or f"user{secrets.token_hex(4)}", password or secrets.token_urlsafe(12))
        if not re.fullmatch(r"[A-Za-z0-9._-]+", user.name) or ":" in user.password:
            raise ValueError("user names are letters, digits, '.', '_' and '-'; passwords hold no ':'")
        passwd = self.root / "users" / user.name
        passwd.write_text(f"{user.name}:{{PLAIN}}{user.password}::::::\n")
        passwd.chmod(0o644)
        return user

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's self-signed certificate (and checks the host name)."""
        return ssl.create_default_context(cadata=self.cert_pem.decode())

    # -- mail

    def client(self, user: MailUser) -> IMAPClient:
        """A logged-in client over the plaintext port (test setup only: the code under test connects itself)."""
        client = IMAPClient(HOST, port=self.imap_port, ssl=False, timeout=10)
        client.login(user.name, user.password)
        return client

    def create_folder(self, user: MailUser, folder: str) -> None:
        with self.client(user) as client:
            client.create_folder(folder)

    def append(
        self,
        user: MailUser,
        message: EmailMessage | bytes,
        folder: str = "INBOX",
        flags: Iterable[str] = (),
    ) -> int:
        """Append a message; its UID (from Dovecot's APPENDUID)."""
        raw = message if isinstance(message, bytes) else message.as_bytes()
        with self.client(user) as client:
            response = client.append(folder, raw, flags=tuple(flags))
        found = re.search(rb"APPENDUID \d+ (\d+)", response)
        if found is None:
            raise RuntimeError(f"no APPENDUID in {response!r}")
        return int(found.group(1))

    def flags(self, user: MailUser, folder: str = "INBOX") -> dict[int, set[str]]:
        """Each message's flags by UID, read without changing anything."""
        with self.client(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["FLAGS"]) if uids else {}
        return {uid: {f.decode() for f in data[b"FLAGS"]} for uid, data in fetched.items()}

    def status(self, user: MailUser, folder: str = "INBOX") -> tuple[int, int]:
        """(UIDVALIDITY, UIDNEXT) of a folder."""
        with self.client(user) as client:
            status = client.folder_status(folder, [b"UIDVALIDITY", b"UIDNEXT"])
        return int(status[b"UIDVALIDITY"]), int(status[b"UIDNEXT"])

    def change_uidvalidity(self, user: MailUser, folder: str = "INBOX") -> int:
        """Give the folder a new UIDVALIDITY, as a server does after rebuilding it; the new value."""
        old, _ = self.status(user, folder)
        new = old + 1
        _run(
            [DOVEADM, "-c", str(self.config), "mailbox", "update", "-u", user.name, "--uid-validity", str(new), folder]
        )
        return new


def start_dovecot(introspection_url: str) -> Dovecot:
    """Install if needed, then start a Dovecot in a new temporary folder; the caller stops it."""
    ensure_installed()
    root = Path(tempfile.mkdtemp(prefix="dovecot-"))
    root.chmod(0o755)  # Dovecot's own users read the passwd-file and enter the mail folder
    server = Dovecot(root, introspection_url)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def _running(pid: int) -> bool:
    """Whether the process runs. The daemon's parent is init, which may take seconds to reap it: a zombie has ended."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def remove(server: Dovecot) -> None:
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)
