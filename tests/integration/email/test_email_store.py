"""The e-mail poller's PostgreSQL store (migration 0007): the listing of active e-mail triggers on its partial
index, poll health per trigger and configuration, cursors per mailbox, and both gone with their trigger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.support.email_triggers import change_config, empty_email_tables, store_trigger
from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
from workflow_scheduler.adapters.email_store import ACTIVE_TRIGGERS_SQL, PostgresEmailStore
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.models import DeploymentStatus, TriggerStatus, TriggerType
from workflow_scheduler.domain.triggers.email.health import PollState
from workflow_scheduler.domain.triggers.email.poll import Cursor, MailboxAddress

pytestmark = pytest.mark.integration

MAILBOX = {"imap_host": "imap.example.com", "username": "ci@example.com", "password_ref": "team/imap"}
INBOX = MailboxAddress("imap.example.com", "ci@example.com")
NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(clean_database: str) -> Iterator[Database]:
    empty_email_tables(clean_database)
    database = Database(clean_database)
    yield database
    database.close()


def test_the_listing_holds_only_active_email_triggers_of_deployed_workflows(db: Database) -> None:
    store_trigger(db, "wf-1", "mail", MAILBOX, owner="alice")
    store_trigger(db, "wf-1", "hook", {"webhook_path": "/webhook/x"}, trigger_type=TriggerType.WEBHOOK)
    store_trigger(db, "wf-1", "off", MAILBOX, status=TriggerStatus.DISABLED)
    store_trigger(db, "wf-2", "paused", MAILBOX, status=TriggerStatus.PAUSED, deployment_status=DeploymentStatus.PAUSED)
    [listed] = PostgresEmailStore(db).active_triggers()
    assert listed.target.owner == "alice" and listed.target.deployment_status == DeploymentStatus.DEPLOYED
    assert (listed.target.trigger.trigger_id, listed.target.trigger.config) == ("mail", MAILBOX)
    assert listed.state == PollState()


def test_the_listing_reads_the_partial_index_not_the_whole_trigger_index(db: Database, clean_database: str) -> None:
    store_trigger(db, "wf-1", "mail", MAILBOX)
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO trigger_index (workflow_id, trigger_id, trigger_type, trigger_config, config_hash, version,"
            " webhook_path) SELECT 'wf-1', 'hook-' || n, 'webhook', '{}', 'h', 1, '/webhook/h' || n"
            " FROM generate_series(1, 5000) AS n"
        )
        conn.execute("ANALYZE trigger_index")
    store = PostgresEmailStore(db)
    assert [t.target.trigger.trigger_id for t in store.active_triggers()] == ["mail"]
    with db.session(transaction=False) as s:
        plan = "\n".join(row["QUERY PLAN"] for row in s.all("EXPLAIN " + ACTIVE_TRIGGERS_SQL))
    assert "idx_email_triggers_active" in plan and "Seq Scan on trigger_index" not in plan


def test_poll_health_is_kept_per_trigger_and_forgotten_when_its_configuration_changes(db: Database) -> None:
    record = store_trigger(db, "wf-1", "mail", MAILBOX)
    store = PostgresEmailStore(db)
    refused = PollState(
        last_attempt_at=NOW,
        last_success_at=NOW - timedelta(minutes=5),
        last_error_code="imap_login_refused",
        last_error="refused",
        consecutive_failures=3,
        failing_since=NOW - timedelta(minutes=4),
        backoff_until=NOW + timedelta(minutes=8),
    )
    store.save_states([(record, refused)])
    assert [t.state for t in store.active_triggers()] == [refused]
    assert store.poll_states("wf-1") == {"mail": refused}

    change_config(db, record, password_ref="team/imap-new")  # a redeploy with the corrected password
    assert [t.state for t in store.active_triggers()] == [PollState()]
    assert store.poll_states("wf-1") == {}


def test_a_cursor_belongs_to_its_mailbox(db: Database) -> None:
    store_trigger(db, "wf-1", "mail", MAILBOX)
    store = PostgresEmailStore(db)
    assert store.load("wf-1", "mail", INBOX) is None
    store.save("wf-1", "mail", INBOX, Cursor(7, 41))
    store.save("wf-1", "mail", INBOX, Cursor(7, 42))
    assert store.load("wf-1", "mail", INBOX) == Cursor(7, 42)
    assert store.load("wf-1", "mail", MailboxAddress("imap.example.com", "ci@example.com", "Archive")) is None
    assert store.load("wf-1", "mail", MailboxAddress("imap.other.example", "ci@example.com")) is None


def test_cursor_and_health_go_with_their_trigger(db: Database) -> None:
    kept = store_trigger(db, "wf-1", "kept", MAILBOX)
    retyped = store_trigger(db, "wf-1", "retyped", MAILBOX)
    store_trigger(db, "wf-2", "gone", MAILBOX)
    store = PostgresEmailStore(db)
    for workflow_id, trigger_id in (("wf-1", "kept"), ("wf-1", "retyped"), ("wf-2", "gone")):
        store.save(workflow_id, trigger_id, INBOX, Cursor(7, 1))
    store.save_states([(t.target.trigger, PollState(last_attempt_at=NOW)) for t in store.active_triggers()])

    deployments = PostgresDeploymentStore(db)
    with deployments.transaction() as tx:
        tx.delete_trigger("wf-2", "gone")  # undeployed
        tx.replace_trigger(
            type(retyped)(
                "wf-1", "retyped", TriggerType.WEBHOOK, {}, "other", 2, TriggerStatus.ACTIVE,
                lookup={"webhook_path": "/webhook/r"},
            )
        )  # fmt: skip
    with db.session(transaction=False) as s:
        cursors = {r["trigger_id"] for r in s.all("SELECT trigger_id FROM email_cursors")}
        health = {r["trigger_id"] for r in s.all("SELECT trigger_id FROM email_poll_health")}
    assert cursors == health == {kept.trigger_id}
