"""The scheduled e-mail poll on the real things: Dovecot over IMAP, the Redis lock, PostgreSQL for the trigger
index, cursors, poll health and the firing store's claims. Two pollers at once fire each message once; a poller
that dies between the queue and the cursor fires nothing twice; the cursor outlives the poller; a password changed
later degrades the trigger and is backed off; no successful poll for 3 intervals is stale; the service mailbox
serves triggers that name none."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.dovecot import HOST, LOCAL_DESTINATIONS, Dovecot, MailUser
from tests.support.email_triggers import empty_email_tables, store_trigger
from tests.support.fake_mailbox import FakeAttachmentStore, ManualClock, alert_mail
from tests.support.fakes import MemoryQueue
from tests.support.oauth_server import OAuthServer
from workflow_scheduler.adapters.email_store import PostgresEmailStore
from workflow_scheduler.adapters.firing_store import PostgresFiringStore
from workflow_scheduler.adapters.imap_connector import MailboxConnector, ServiceMailbox
from workflow_scheduler.adapters.imap_mailbox import ImapMailbox
from workflow_scheduler.adapters.locks_redis import RedisLockManager
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.errors import StoreUnavailable
from workflow_scheduler.domain.firing import FiringService, FiringStatus
from workflow_scheduler.domain.history import Health
from workflow_scheduler.domain.triggers.email.health import email_health
from workflow_scheduler.domain.triggers.email.mailbox import FolderState
from workflow_scheduler.domain.triggers.email.poll import (
    Cursor,
    EmailPoller,
    EmailWatch,
    MailboxAddress,
    initial_cursor,
)
from workflow_scheduler.domain.triggers.email.service import (
    EmailPollService,
    PollReport,
    Skip,
    watch_from_target,
)

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
MINUTE = timedelta(minutes=1)


class Secrets:
    """Secrets Manager as the connector reads it: by name, ``fresh`` noted."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.fresh_reads: list[str] = []

    def __call__(self, name: str, *, fresh: bool = False) -> str:
        if fresh:
            self.fresh_reads.append(name)
        return self.values[name]


class CursorCommitFails(PostgresEmailStore):
    """The poller dies after the firing was queued, before the cursor moved past it."""

    def save(self, workflow_id: str, trigger_id: str, mailbox: MailboxAddress, cursor: Cursor) -> None:
        raise StoreUnavailable("the database connection failed; try again")


class Env:
    """What one test shares: Dovecot, the database, the queue, the lock namespace, the clock and the secrets."""

    def __init__(self, dovecot: Dovecot, user: MailUser, database_url: str) -> None:
        self.dovecot, self.user, self.database_url = dovecot, user, database_url
        self.clock = ManualClock(datetime.now(UTC))
        self.queue = MemoryQueue()
        self.lock_prefix = f"test-email-poll-{uuid.uuid4().hex}:"
        self.secrets = Secrets()
        self.secrets.values["team/imap"] = user.password
        self.service_mailbox = ServiceMailbox(
            server=f"{HOST}:{dovecot.imaps_port}", username=user.name, password=user.password
        )
        self.databases: list[Database] = []
        self.opened: list[EmailWatch] = []

    def db(self) -> Database:
        database = Database(self.database_url)
        self.databases.append(database)
        return database

    def config(self, **changes: Any) -> dict[str, Any]:
        return {
            "imap_host": HOST,
            "imap_port": self.dovecot.imaps_port,
            "username": self.user.name,
            "password_ref": "team/imap",
            **changes,
        }

    def deploy(self, trigger_id: str, workflow_id: str = "wf", **config: Any) -> EmailWatch:
        """The trigger row and its cursor at the folder's UIDNEXT, as a deploy leaves them."""
        db = self.db()
        store_trigger(db, workflow_id, trigger_id, config)
        store = PostgresEmailStore(db)
        listed = next(t for t in store.active_triggers() if t.target.trigger.trigger_id == trigger_id)
        watch = watch_from_target(listed.target, self.service_mailbox)
        uidvalidity, uidnext = self.dovecot.status(self.user, watch.mailbox.folder)
        store.save(workflow_id, trigger_id, watch.mailbox, initial_cursor(FolderState(uidvalidity, uidnext)))
        return watch

    def poller(self, store: PostgresEmailStore | None = None, hold_open: threading.Event | None = None) -> Poller:
        return Poller(self, store, hold_open)

    def subjects(self) -> list[str]:
        return sorted(event.data["subject"] for event, _ in self.queue.sent)

    def close(self) -> None:
        for database in self.databases:
            database.close()


class Poller:
    """One poller instance (one Lambda's), with its own database connection."""

    def __init__(self, env: Env, store: PostgresEmailStore | None, hold_open: threading.Event | None) -> None:
        self.env = env
        db = env.db()
        self.store = store or PostgresEmailStore(db)
        self.opened = threading.Event()
        self.hold_open = hold_open
        firing = FiringService(PostgresFiringStore(db), env.queue, clock=env.clock)
        locks = RedisLockManager.from_url(REDIS_URL, key_prefix=env.lock_prefix)
        self.connector = MailboxConnector(
            env.secrets, env.service_mailbox, ssl_context=env.dovecot.ssl_context(), destinations=LOCAL_DESTINATIONS
        )
        poller = EmailPoller(self.store, firing, locks, self.open, FakeAttachmentStore(), clock=env.clock)
        self.service = EmailPollService(self.store, poller, default_mailbox=env.service_mailbox, clock=env.clock)

    def open(self, watch: EmailWatch) -> ImapMailbox:
        mailbox = self.connector(watch)
        self.env.opened.append(watch)
        self.opened.set()
        if self.hold_open is not None:  # keeps the session (and the lock) until the test lets go
            self.hold_open.wait(timeout=30)
        return mailbox

    def run(self) -> PollReport:
        return self.service.run()


@pytest.fixture
def env(dovecot: Dovecot, mail_user: MailUser, clean_database: str) -> Iterator[Env]:
    empty_email_tables(clean_database)
    built = Env(dovecot, mail_user, clean_database)
    yield built
    built.close()


def test_two_pollers_at_once_one_reads_the_mailbox_and_each_message_fires_once(env: Env) -> None:
    env.deploy("mail", **env.config())
    for subject in ("one", "two"):
        env.dovecot.append(env.user, alert_mail(subject))
    release = threading.Event()
    first, second = env.poller(hold_open=release), env.poller()
    reports: dict[str, PollReport] = {}
    worker = threading.Thread(target=lambda: reports.setdefault("first", first.run()))
    worker.start()
    try:
        assert first.opened.wait(timeout=10)  # the first poller holds the mailbox's lock
        [locked_out] = second.run().triggers
        assert locked_out.skipped == Skip.LOCKED_OUT and locked_out.poll is not None and locked_out.poll.fired == []
    finally:
        release.set()
        worker.join(timeout=30)
    [polled] = reports["first"].triggers
    assert [o.status for o in polled.poll.fired] == [FiringStatus.QUEUED] * 2  # type: ignore[union-attr]
    assert env.subjects() == ["one", "two"]
    assert len(env.opened) == 1  # the second poller never logged in


def test_without_the_lock_the_firing_store_still_fires_each_message_once(env: Env) -> None:
    """Two pollers whose lock did not keep them apart (an expired lease): the execution id's claim does."""
    env.deploy("mail", **env.config())
    for subject in ("one", "two", "three"):
        env.dovecot.append(env.user, alert_mail(subject))
    first = env.poller()
    env.lock_prefix += "other:"  # the second poller takes another lock
    second = env.poller()
    start = threading.Barrier(2)
    reports: list[PollReport] = []

    def run(poller: Poller) -> None:
        start.wait(timeout=10)
        reports.append(poller.run())

    threads = [threading.Thread(target=run, args=(p,)) for p in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(o.status for r in reports for t in r.triggers for o in (t.poll.fired if t.poll else []))
    assert env.subjects() == ["one", "three", "two"]  # each once on the queue
    assert statuses.count(FiringStatus.QUEUED) == 3 and set(statuses) <= {FiringStatus.QUEUED, FiringStatus.DUPLICATE}


def test_a_poller_that_dies_between_the_queue_and_the_cursor_fires_nothing_twice(env: Env) -> None:
    env.deploy("mail", **env.config())
    env.dovecot.append(env.user, alert_mail("deploy failed"))
    crashing = env.poller(store=CursorCommitFails(env.db()))
    [failed] = crashing.run().triggers
    assert failed.poll is not None and isinstance(failed.poll.error, StoreUnavailable)
    assert env.subjects() == ["deploy failed"]  # queued before the cursor commit failed

    env.clock.advance(MINUTE)
    [again] = env.poller().run().triggers  # the next invocation, a new instance
    assert again.poll is not None and [o.status for o in again.poll.fired] == [FiringStatus.DUPLICATE]
    assert again.poll.fired[0].execution_id == failed.poll.fired[0].execution_id
    assert env.subjects() == ["deploy failed"]
    assert again.health.status == Health.HEALTHY and again.recovered


def test_the_cursor_outlives_the_poller_instance(env: Env) -> None:
    watch = env.deploy("mail", **env.config())
    env.dovecot.append(env.user, alert_mail("first"))
    env.poller().run()
    env.clock.advance(MINUTE)
    [nothing_new] = env.poller().run().triggers
    assert nothing_new.poll is not None and nothing_new.poll.fired == []
    second = env.dovecot.append(env.user, alert_mail("second"))
    env.clock.advance(MINUTE)
    env.poller().run()
    assert env.subjects() == ["first", "second"]
    uidvalidity, _ = env.dovecot.status(env.user)
    assert PostgresEmailStore(env.db()).load("wf", "mail", watch.mailbox) == Cursor(uidvalidity, second)


def test_a_password_changed_later_degrades_the_trigger_and_is_backed_off(env: Env) -> None:
    env.deploy("mail", **env.config())
    poller = env.poller()
    assert poller.run().triggers[0].health.status == Health.HEALTHY

    env.dovecot.add_user(env.user.name, "changed-at-the-provider")
    time.sleep(1.1)  # Dovecot rereads a changed passwd-file at most once a second
    env.clock.advance(MINUTE)
    [refused] = poller.run().triggers
    assert refused.newly_failing and refused.health.status == Health.DEGRADED
    assert "imap_login_refused" in refused.health.reason and "changed-at-the-provider" not in refused.health.reason
    assert refused.state.backoff_until == env.clock.now + 2 * MINUTE
    store = PostgresEmailStore(env.db())
    states = store.poll_states("wf")
    assert email_health(states["mail"], MINUTE, env.clock.now, env.clock.now).status == Health.DEGRADED

    env.clock.advance(MINUTE)
    logins = len(env.opened)
    [waiting] = poller.run().triggers
    assert waiting.skipped == Skip.BACKED_OFF and len(env.opened) == logins  # no login tried

    env.clock.advance(MINUTE)
    [again] = poller.run().triggers
    assert again.poll is not None and not again.newly_failing  # reported once
    assert again.state.consecutive_failures == 2 and again.state.backoff_until == env.clock.now + 4 * MINUTE

    env.secrets.values["team/imap"] = "changed-at-the-provider"  # the owner updates the secret
    env.clock.now = again.state.backoff_until
    [fixed] = poller.run().triggers
    assert fixed.recovered and fixed.health.status == Health.HEALTHY
    assert "team/imap" in env.secrets.fresh_reads  # read afresh after the refusal, not from the cache


def test_no_successful_poll_for_three_intervals_is_stale(env: Env) -> None:
    watch = env.deploy("mail", **env.config())
    locks = RedisLockManager.from_url(REDIS_URL, key_prefix=env.lock_prefix)
    held = locks.acquire(watch.mailbox.lock_name, 600)
    assert held is not None  # another poller that hangs with the mailbox's lock
    try:
        poller = env.poller()
        for _ in range(3):
            env.clock.advance(MINUTE)
            [report] = poller.run().triggers
            assert report.skipped == Skip.LOCKED_OUT and report.health.status == Health.HEALTHY
        env.clock.advance(timedelta(seconds=30))
        report = poller.run()
    finally:
        locks.release(held)
    assert report.count(Health.STALE) == 1
    assert "no successful poll since the deploy" in report.triggers[0].health.reason


def test_the_service_mailbox_serves_a_trigger_that_names_none(env: Env) -> None:
    watch = env.deploy("service", email_filter="subject:deploy")
    assert watch.mailbox.host == HOST and watch.mailbox.port == env.dovecot.imaps_port
    env.dovecot.append(env.user, alert_mail("deploy finished"))
    env.dovecot.append(env.user, alert_mail("lunch"))
    [report] = env.poller().run().triggers
    assert report.health.status == Health.HEALTHY and env.subjects() == ["deploy finished"]
    assert env.secrets.fresh_reads == []  # the service mailbox's password, not a trigger's secret


def test_the_service_mailbox_is_a_mailbox_of_its_own_kind(env: Env) -> None:
    """A trigger naming the same account with its own secret does not share the service mailbox's session."""
    own = env.deploy("own", **env.config(imap_port=env.dovecot.imaps_port))
    service = env.deploy("service")
    assert own.mailbox.identity == service.mailbox.identity and own.mailbox != service.mailbox
    assert own.mailbox == MailboxAddress(HOST, env.user.name, "INBOX", env.dovecot.imaps_port, own.mailbox.credential)
    env.dovecot.append(env.user, alert_mail("both"))
    reports = env.poller().run().triggers
    assert {r.health.status for r in reports} == {Health.HEALTHY}
    assert sorted(event.trigger_id for event, _ in env.queue.sent) == ["own", "service"]


def test_an_xoauth2_trigger_logs_in_with_a_token_from_its_oauth_client(env: Env, oauth_server: OAuthServer) -> None:
    client = oauth_server.provider.add_client(env.user.name)
    env.secrets.values.update({"ops/client-secret": client.client_secret, "ops/refresh": client.refresh_token})
    config = env.config(
        auth="xoauth2",
        oauth_token_url=oauth_server.token_url,
        oauth_client_id=client.client_id,
        oauth_client_secret_ref="ops/client-secret",
        oauth_refresh_token_ref="ops/refresh",
    )
    del config["password_ref"]
    env.deploy("oauth", **config)
    env.dovecot.append(env.user, alert_mail("via a token"))
    [report] = env.poller().run().triggers
    assert report.health.status == Health.HEALTHY and env.subjects() == ["via a token"]
    assert oauth_server.provider.token_requests[-1]["refresh_token"] == client.refresh_token
