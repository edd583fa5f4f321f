"""E-mail polling grows with new mail, not with the mailbox (issue 10): the time of one poll that finds 10 new
messages, in a folder of 100 messages and in one of 10,000, as a ratio (target at most 1.5x).

A real Dovecot (tests/support/dovecot.py: installed from the distribution's packages when missing), a fresh
PostgreSQL database (the trigger index, cursors, poll health, the firing store's claims), the Redis lock, and the
poll service as the function runs it (IMAP over TLS, the filter pushed into SEARCH, headers then bodies, each
match claimed and queued). Each round appends 10 new messages (5 match the trigger's filter) to both folders,
then times one poll of each; the figure is the median of the rounds. The older mail matches the filter too:
only the cursor keeps it out of the search.

Usage: `.venv/bin/python bench/email_poll.py [--rounds 9] [--large 10000] [--admin-url postgresql://...]`
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Read by Powertools when the shared package's logger is created.
os.environ.update(POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")

from bench.support import DEFAULT_ADMIN_URL, fresh_database  # noqa: E402
from tests.support.dovecot import HOST, LOCAL_DESTINATIONS, Dovecot, MailUser, remove, start_dovecot  # noqa: E402
from tests.support.email_triggers import store_trigger  # noqa: E402
from workflow_scheduler.adapters.email_store import PostgresEmailStore  # noqa: E402
from workflow_scheduler.adapters.firing_store import PostgresFiringStore  # noqa: E402
from workflow_scheduler.adapters.imap_connector import MailboxConnector  # noqa: E402
from workflow_scheduler.adapters.locks_redis import RedisLockManager  # noqa: E402
from workflow_scheduler.adapters.postgres import Database  # noqa: E402
from workflow_scheduler.domain.firing import FiringService, TriggerEvent  # noqa: E402
from workflow_scheduler.domain.triggers.email.mailbox import FolderState  # noqa: E402
from workflow_scheduler.domain.triggers.email.poll import EmailPoller, initial_cursor  # noqa: E402
from workflow_scheduler.domain.triggers.email.service import EmailPollService, watch_from_target  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
NEW_PER_ROUND = 10
MATCHING_PER_ROUND = 5
SMALL = 100
FILTER = "from:alerts@example.com subject:build"
APPEND_CHUNK = 500  # messages per MULTIAPPEND while filling a folder
TARGET_RATIO = 1.5


class Queue:
    """The dispatch queue: counts what it is given (SQS's latency is not what is measured here)."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, event: TriggerEvent, delay_seconds: int = 0) -> None:
        self.sent += 1


class Files:
    def put(self, key: str, content: bytes, content_type: str, filename: str) -> str:
        return f"https://files.example/{key}"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def message(n: int, matching: bool) -> bytes:
    msg = EmailMessage()
    msg["From"] = "alerts@example.com" if matching else "people@example.com"
    msg["To"] = "ci@example.com"
    msg["Subject"] = f"build {n} failed" if matching else f"lunch {n}"
    msg["Message-ID"] = f"<{n}.{uuid.uuid4().hex}@example.com>"
    msg.set_content(f"message {n}\n" + "log line\n" * 20)
    return msg.as_bytes()


def fill(dovecot: Dovecot, user: MailUser, count: int, start: int = 0) -> None:
    """``count`` messages, half of them matching the filter, appended over one connection."""
    with dovecot.client(user) as client:
        for first in range(start, start + count, APPEND_CHUNK):
            last = min(first + APPEND_CHUNK, start + count)
            client.multiappend("INBOX", [message(n, n % 2 == 0) for n in range(first, last)])


class Mailbox:
    """One folder with its trigger, polled by its own service (as the function would) in a database of its own: a
    run polls every due trigger of its database, and the two folders' polls are timed apart."""

    def __init__(self, name: str, dovecot: Dovecot, size: int, db: Database, clock: Clock, queue: Queue) -> None:
        self.name, self.dovecot, self.size = name, dovecot, size
        self.user = dovecot.add_user()
        fill(dovecot, self.user, size)
        self.sent = size
        config = {
            "imap_host": HOST,
            "imap_port": dovecot.imaps_port,
            "username": self.user.name,
            "password_ref": "bench/imap",
            "email_filter": FILTER,
        }
        record = store_trigger(db, f"wf-{name}", "mail", config)
        store = PostgresEmailStore(db)
        target = next(t.target for t in store.active_triggers() if t.target.trigger == record)
        watch = watch_from_target(target)
        uidvalidity, uidnext = dovecot.status(self.user)
        store.save(
            record.workflow_id, record.trigger_id, watch.mailbox, initial_cursor(FolderState(uidvalidity, uidnext))
        )
        password = self.user.password

        def read_secret(name: str, *, fresh: bool = False) -> str:
            return password

        locks = RedisLockManager.from_url(REDIS_URL, key_prefix=f"bench-email-{uuid.uuid4().hex}:")
        # Dovecot on loopback: the local setting's destinations (tests/support/dovecot.py).
        connector = MailboxConnector(read_secret, ssl_context=dovecot.ssl_context(), destinations=LOCAL_DESTINATIONS)
        firing = FiringService(PostgresFiringStore(db), queue, clock=clock)
        poller = EmailPoller(store, firing, locks, connector, Files(), clock=clock)
        self.service = EmailPollService(store, poller, clock=clock)

    def new_mail(self) -> None:
        with self.dovecot.client(self.user) as client:
            client.multiappend(
                "INBOX",
                [message(self.sent + n, n < MATCHING_PER_ROUND) for n in range(NEW_PER_ROUND)],
            )
        self.sent += NEW_PER_ROUND

    def poll(self) -> tuple[float, int]:
        """Seconds one poll of this trigger took, and how many firings it made."""
        started = time.perf_counter()
        report = self.service.run()
        elapsed = time.perf_counter() - started
        fired = sum(len(t.poll.fired) for t in report.triggers if t.poll is not None)
        errors = [t.poll.error for t in report.triggers if t.poll is not None and t.poll.error is not None]
        if errors:
            raise RuntimeError(f"{self.name}: the poll failed: {errors[0]}")
        return elapsed, fired


def run(rounds: int, large: int, admin_url: str) -> dict[str, Any]:
    dovecot = start_dovecot("http://127.0.0.1:9/unused")  # no OAuth here
    try:
        with fresh_database(admin_url) as small_url, fresh_database(admin_url) as large_url:
            databases = [Database(small_url), Database(large_url)]
            clock, queue = Clock(), Queue()
            started = time.perf_counter()
            mailboxes = [
                Mailbox("small", dovecot, SMALL, databases[0], clock, queue),
                Mailbox("large", dovecot, large, databases[1], clock, queue),
            ]
            setup_seconds = time.perf_counter() - started
            times: dict[str, list[float]] = {m.name: [] for m in mailboxes}
            for round_ in range(rounds + 1):  # the first round warms up (connections, caches) and is not counted
                clock.now += timedelta(minutes=1)
                for mailbox in mailboxes:
                    mailbox.new_mail()
                # Each goes first every other round: a machine getting busier weighs on both alike.
                for mailbox in mailboxes if round_ % 2 == 0 else mailboxes[::-1]:
                    elapsed, fired = mailbox.poll()
                    if fired != MATCHING_PER_ROUND:
                        raise RuntimeError(f"{mailbox.name}: {fired} firings, expected {MATCHING_PER_ROUND}")
                    times[mailbox.name].append(elapsed)
            for db in databases:
                db.close()
    finally:
        remove(dovecot)
    median = {name: statistics.median(values[1:]) for name, values in times.items()}
    ratio = median["large"] / median["small"]
    return {
        "folders": {"small": SMALL, "large": large},
        "new_per_poll": NEW_PER_ROUND,
        "matching_per_poll": MATCHING_PER_ROUND,
        "rounds": rounds,
        "median_poll_ms": {name: round(value * 1000, 1) for name, value in median.items()},
        "all_poll_ms": {name: [round(v * 1000, 1) for v in values[1:]] for name, values in times.items()},
        "ratio_large_to_small": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "within_target": ratio <= TARGET_RATIO,
        "firings_queued": queue.sent,
        "setup_seconds": round(setup_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    print(json.dumps(run(args.rounds, args.large, args.admin_url), indent=2))


if __name__ == "__main__":
    main()
