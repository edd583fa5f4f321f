"""E-mail triggers on the local system: ``workflow-scheduler dev`` with a real Dovecot as the service mailbox
(``IMAP_SERVER``, ``EMAIL_USER``, ``EMAIL_PASSWORD``) polls every ``EMAIL_CHECK_INTERVAL`` seconds; a message
appended to the watched folder reaches the engine stub once per trigger, and one the filter refuses never does.

Two triggers watch the same folder: one through the service mailbox, one naming the mailbox itself with an inline
password (moved into moto's Secrets Manager at deploy). About 20 seconds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.local_system import LocalSystem, start_system
from tests.support.dovecot import HOST, Dovecot, DovecotUnavailable, MailUser, remove, start_dovecot
from tests.support.fake_mailbox import alert_mail

pytestmark = pytest.mark.e2e

CHECK_INTERVAL = 1  # seconds between the local poller's runs
WAIT = 20.0


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    try:
        server = start_dovecot("http://127.0.0.1:9/introspect")  # no XOAUTH2 logins here
    except DovecotUnavailable as exc:
        pytest.skip(str(exc))
    yield server
    remove(server)


@pytest.fixture(scope="module")
def user(dovecot: Dovecot) -> MailUser:
    return dovecot.add_user()


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory, fresh_database: str, dovecot: Dovecot, user: MailUser
) -> Iterator[LocalSystem]:
    local = start_system(
        tmp_path_factory.mktemp("email") / "state",
        DATABASE_URL=fresh_database,
        EMAIL_CHECK_INTERVAL=str(CHECK_INTERVAL),
        IMAP_SERVER=f"{HOST}:{dovecot.imaps_port}",
        EMAIL_USER=user.name,
        EMAIL_PASSWORD=user.password,
        SSL_CERT_FILE=str(Path(dovecot.root) / "cert.pem"),  # the machine's trust store: Dovecot's certificate
    )
    yield local
    assert local.stop() == 0, local.output()


def email_node(node_id: str, **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_EMAIL", "parameters": parameters}


def executions(system: LocalSystem, workflow_id: str) -> list[dict[str, Any]]:
    found = requests.get(f"{system.base_url}/_local/executions", timeout=10).json()["executions"]
    return [body for body in found if body["workflow_id"] == workflow_id]


def test_a_message_appended_to_the_watched_folder_reaches_the_engine_once(
    system: LocalSystem, dovecot: Dovecot, user: MailUser
) -> None:
    assert f"email_poller every {CHECK_INTERVAL} s" in system.output()
    dovecot.append(user, alert_mail("deploy from before the trigger"))
    workflow_id = f"wf-mail-{uuid.uuid4().hex[:8]}"
    own = {"imap_host": HOST, "imap_port": dovecot.imaps_port, "username": user.name, "password": user.password}
    nodes = [
        email_node("service", email_filter="subject:deploy"),
        email_node("own", email_filter="subject:deploy", **own),
    ]
    headers = {"Authorization": f"Bearer {system.token('alice')}"}
    url = f"{system.base_url}/v1/workflows/{workflow_id}/deploy"
    response = requests.post(url, json={"workflow_spec": {"nodes": nodes}}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    mailboxes = {t["mailbox"] for t in response.json()["triggers"]}
    assert mailboxes == {"service", f"{user.name}@{HOST}:{dovecot.imaps_port}"}
    assert user.password not in response.text

    dovecot.append(user, alert_mail("lunch on friday"))
    dovecot.append(user, alert_mail("deploy finished"))
    deadline = time.monotonic() + WAIT
    while len(found := executions(system, workflow_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3 * CHECK_INTERVAL)  # more polls: nothing fires twice, and the other message never
    found = executions(system, workflow_id)
    fired = sorted((e["trigger"]["trigger_id"], e["trigger"]["data"]["subject"]) for e in found)
    assert fired == [("own", "deploy finished"), ("service", "deploy finished")], system.output()
    assert all(e["trigger"]["type"] == "email" for e in found)

    response = requests.get(f"{system.base_url}/v1/workflows/{workflow_id}/triggers", headers=headers, timeout=10)
    health = {t["trigger_id"]: t["health"] for t in response.json()["triggers"]}
    assert health == {"service": "healthy", "own": "healthy"}, response.text
