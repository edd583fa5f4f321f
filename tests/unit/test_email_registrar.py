"""Deploying e-mail triggers (unit, on fakes): the deploy logs in with the credential as stored (an inline password
after it moved into Secrets Manager), refuses a mailbox that cannot be used with a 422 that says why and never
quotes the password, starts the cursor at the folder's end, keeps it across a redeploy of the same folder, puts it
back when a deploy fails, and restarts it on resume (mail that arrived during a pause does not fire)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support.fake_mailbox import FakeAccount, FakeFolder, alert_mail
from tests.support.fakes import MemorySecretStore, MemoryStore
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import DomainError, Invalid, SecretRefused, SpecInvalid, TriggerTypeUnavailable
from workflow_scheduler.domain.inline_secrets import OWNER_TAG, managed_secret_name
from workflow_scheduler.domain.models import TriggerStatus, TriggerType
from workflow_scheduler.domain.triggers import registrars
from workflow_scheduler.domain.triggers.email.mailbox import (
    SERVICE_PASSWORD,
    MailboxFailed,
    MailboxLoginRefused,
    MailboxUnreachable,
    PasswordSecret,
)
from workflow_scheduler.domain.triggers.email.poll import Cursor, MailboxAccess, MailboxAddress
from workflow_scheduler.domain.triggers.email.registrar import EmailDeployDeps, EmailRegistrar
from workflow_scheduler.domain.triggers.email.service import DefaultMailbox
from workflow_scheduler.domain.triggers.manager import TriggerManager
from workflow_scheduler.domain.triggers.registrar import RegistrarDeps

PASSWORD = "s3cret-Pa55word"
HOST = "imap.example.com"
SERVICE = DefaultMailbox("imap.service.example", "workflows@service.example")


class Cursors:
    """``DeployCursors``: one cursor per trigger, naming its mailbox as PostgresEmailStore's do."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], tuple[str, Cursor]] = {}
        self.cleared: list[str] = []

    def load(self, workflow_id: str, trigger_id: str, mailbox: MailboxAddress) -> Cursor | None:
        found = self.values.get((workflow_id, trigger_id))
        return found[1] if found is not None and found[0] == mailbox.identity else None

    def save(self, workflow_id: str, trigger_id: str, mailbox: MailboxAddress, cursor: Cursor) -> None:
        self.values[(workflow_id, trigger_id)] = (mailbox.identity, cursor)

    def delete_cursor(self, workflow_id: str, trigger_id: str) -> None:
        self.values.pop((workflow_id, trigger_id), None)

    def clear_state(self, workflow_id: str, trigger_id: str) -> None:
        self.cleared.append(trigger_id)

    def of(self, trigger_id: str) -> tuple[str, Cursor] | None:
        return self.values.get(("wf", trigger_id))


class Server:
    """Mail accounts by user name; logins check the password the credential names as it is now."""

    def __init__(self, secrets: MemorySecretStore) -> None:
        self.secrets = secrets
        self.accounts = {"ci": FakeAccount(), SERVICE.username: FakeAccount()}
        self.passwords = {"ci": PASSWORD}
        self.unreachable = False

    def open(self, access: MailboxAccess) -> Any:
        if self.unreachable:
            raise MailboxUnreachable(f"IMAP server {access.mailbox.host}:993 cannot be reached: refused")
        user = access.mailbox.username
        if access.credential != SERVICE_PASSWORD:
            if not isinstance(access.credential, PasswordSecret):
                raise AssertionError("password logins only here")
            given = self.secrets.read(access.credential.secret_ref)
            if given != self.passwords.get(user):
                raise MailboxLoginRefused(f"IMAP server {HOST}:993 refused the login of {user!r}: [AUTH]")
        return self.accounts[user].open()

    def inbox(self, user: str = "ci") -> FakeFolder:
        return self.accounts[user].inbox


class World:
    def __init__(self, *, min_interval: int = 60, default: DefaultMailbox | None = SERVICE) -> None:
        self.store = MemoryStore()
        self.secrets = MemorySecretStore()
        self.server = Server(self.secrets)
        self.cursors = Cursors()
        deps = EmailDeployDeps(
            self.server.open,
            self.cursors,
            default_mailbox=lambda: default,
            min_interval=timedelta(seconds=min_interval),
        )
        self.registrar = EmailRegistrar(deps)
        self.service = DeploymentService(self.store, TriggerManager([self.registrar]), secrets=self.secrets)

    def deploy(self, *nodes: dict[str, Any]) -> Any:
        return self.service.deploy("wf", "alice", {"name": "wf", "nodes": list(nodes)})


def email(node_id: str = "mail", **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_EMAIL", "parameters": parameters}


def own(node_id: str = "mail", **parameters: Any) -> dict[str, Any]:
    return email(node_id, imap_host=HOST, username="ci", password=PASSWORD, **parameters)


@pytest.fixture
def world() -> World:
    return World()


def test_a_deploy_logs_in_with_the_inline_password_and_starts_the_cursor_at_the_folders_end(world: World) -> None:
    for n in range(3):
        world.server.inbox().append(alert_mail(f"old {n}"))
    result = world.deploy(own(), own("existing", process_existing=True))
    assert [r.trigger_id for r in result.triggers] == ["mail", "existing"]
    config = result.triggers[0].config
    assert config["password"] is None and PASSWORD not in str(config)
    assert config["password_ref"] == managed_secret_name("wf", "mail")
    assert world.secrets.values[managed_secret_name("wf", "mail")] == PASSWORD
    assert world.cursors.of("mail") == (f"ci@{HOST}/INBOX", Cursor(1000, 3))  # mail after the deploy fires
    assert world.cursors.of("existing") == (f"ci@{HOST}/INBOX", Cursor(1000, 0))  # process_existing: all of it
    assert world.cursors.cleared == ["mail", "existing"]


def test_a_wrong_password_is_refused_with_why_and_leaves_nothing_behind(world: World) -> None:
    wrong = "not-the-Pa55word"
    with pytest.raises(Invalid) as refused:
        world.deploy(email(imap_host=HOST, username="ci", password=wrong))
    error = refused.value
    assert error.code == "imap_login_refused"
    assert "refused the login of 'ci'" in error.message and wrong not in str(error.extra_body())
    assert error.extra_body()["problems"][0]["node_id"] == "mail"
    assert world.store.deployments == {} and world.cursors.values == {}
    assert managed_secret_name("wf", "mail") in world.secrets.deleted  # the secret written for the check, undone


@pytest.mark.parametrize(
    ("parameters", "code", "field"),
    [
        ({"folder": "Missing"}, "imap_folder_not_found", "parameters.folder"),
        ({"imap_host": "down.example.com"}, "imap_unreachable", "parameters.imap_host"),
    ],
)
def test_a_mailbox_that_cannot_be_used_is_refused_naming_the_parameter(
    world: World, parameters: dict[str, Any], code: str, field: str
) -> None:
    world.server.unreachable = "imap_host" in parameters
    with pytest.raises(Invalid) as refused:
        world.deploy(own(**{k: v for k, v in parameters.items() if k != "imap_host"}))
    assert refused.value.code == code
    assert refused.value.extra_body()["problems"][0]["field"] == field


def test_a_trigger_without_imap_host_watches_the_service_mailbox_or_is_refused_without_one() -> None:
    world = World()
    world.server.inbox(SERVICE.username).append(alert_mail("old"))
    result = world.deploy(email(email_filter="subject:deploy"))
    assert world.cursors.of("mail") == (f"{SERVICE.username}@{SERVICE.host}/INBOX", Cursor(1000, 1))
    view = world.service.triggers.describe(result.triggers[0], "https://api.example.com")
    assert view["mailbox"] == "service" and view["auth"] == "service" and view["email_filter"] == "subject:deploy"

    with pytest.raises(Invalid) as refused:
        World(default=None).deploy(email())
    assert refused.value.code == "email_mailbox_not_configured"


def test_a_redeploy_of_the_same_folder_keeps_the_cursor_and_another_folder_starts_afresh(world: World) -> None:
    world.server.accounts["ci"].folders["Alerts"] = FakeFolder(uidvalidity=7)
    world.deploy(own())
    for n in range(2):
        world.server.inbox().append(alert_mail(f"new {n}"))  # not polled yet: they must still fire
    world.deploy(own(email_filter="subject:new"))
    assert world.cursors.of("mail") == (f"ci@{HOST}/INBOX", Cursor(1000, 0))
    world.deploy(own(folder="Alerts"))
    assert world.cursors.of("mail") == (f"ci@{HOST}/Alerts", Cursor(7, 0))


def test_a_failed_redeploy_puts_the_cursor_back(world: World) -> None:
    world.deploy(own())
    world.server.accounts["ci"].folders["Alerts"] = FakeFolder(uidvalidity=7, uidnext=5)
    with pytest.raises(Invalid):
        world.deploy(own(folder="Alerts"), own("second", folder="Missing"))
    assert world.cursors.of("mail") == (f"ci@{HOST}/INBOX", Cursor(1000, 0))
    assert world.cursors.of("second") is None
    assert world.store.triggers[("wf", "mail")].config["folder"] == "INBOX"


def test_a_new_password_value_is_checked_at_the_redeploy_even_when_nothing_else_changed(world: World) -> None:
    world.deploy(own())
    world.server.passwords["ci"] = "rotated-Pa55word"
    world.cursors.cleared.clear()
    with pytest.raises(Invalid) as refused:
        world.deploy(email(imap_host=HOST, username="ci", password="mistyped-Pa55word"))
    assert refused.value.code == "imap_login_refused"
    assert world.secrets.values[managed_secret_name("wf", "mail")] == PASSWORD  # put back
    result = world.deploy(email(imap_host=HOST, username="ci", password="rotated-Pa55word"))
    assert result.changed and result.triggers[0].version == 2
    assert world.cursors.cleared == ["mail"]  # its poll health starts afresh: polled at once


def test_mail_that_arrives_during_a_pause_does_not_fire_after_resume(world: World) -> None:
    world.deploy(own())
    world.service.pause("wf", "alice")
    for n in range(2):
        world.server.inbox().append(alert_mail(f"while paused {n}"))
    _, records = world.service.resume("wf", "alice")
    assert records[0].status is TriggerStatus.ACTIVE
    assert world.cursors.of("mail") == (f"ci@{HOST}/INBOX", Cursor(1000, 2))


def test_resume_does_not_fail_on_a_mailbox_that_cannot_be_read_now(world: World) -> None:
    world.deploy(own())
    world.service.pause("wf", "alice")
    world.server.unreachable = True
    _, records = world.service.resume("wf", "alice")
    assert records[0].status is TriggerStatus.ACTIVE
    assert world.cursors.of("mail") is None  # the first poll that reads the folder starts at its end


def test_an_outage_at_deploy_is_an_outage_not_a_refusal(world: World) -> None:
    world.server.accounts["ci"].fail["open"] = MailboxFailed("connection reset during the login")
    with pytest.raises(DomainError) as failed:
        world.deploy(own())
    assert not isinstance(failed.value, Invalid) and failed.value.code == "imap_failed"


def test_check_interval_has_the_services_floor() -> None:
    with pytest.raises(SpecInvalid) as refused:
        World().deploy(own(check_interval=30))
    assert refused.value.extra_body()["problems"] == [
        {
            "field": "parameters.check_interval",
            "message": "must be at least 60 seconds: mailboxes are not polled more often here",
            "node_id": "mail",
        }
    ]
    local = World(min_interval=1)
    view = local.service.triggers.describe(local.deploy(own(check_interval=5)).triggers[0], "https://x")
    assert view["check_interval"] == 5


def test_oauth_secret_refs_must_be_the_deploying_users(world: World) -> None:
    world.secrets.write("bob/refresh", "token", {OWNER_TAG: "bob"})
    node = email(
        imap_host=HOST,
        username="ci",
        auth="xoauth2",
        oauth_token_url="https://login.example.com/token",
        oauth_client_id="client",
        oauth_refresh_token_ref="bob/refresh",
    )
    with pytest.raises(SecretRefused) as refused:
        world.deploy(node)
    assert [p["field"] for p in refused.value.extra_body()["problems"]] == ["parameters.oauth_refresh_token_ref"]


def test_the_view_names_the_mailbox_and_never_the_password(world: World) -> None:
    result = world.deploy(own(email_filter='from:ci subject:"build failed"', mark_as_read=True))
    view = world.service.triggers.describe(result.triggers[0], "https://api.example.com")
    assert view == {
        "trigger_id": "mail",
        "type": "email",
        "status": "active",
        "version": 1,
        "mailbox": f"ci@{HOST}:993",
        "folder": "INBOX",
        "email_filter": 'from:ci subject:"build failed"',
        "auth": "password",
        "mark_as_read": True,
        "attachment_processing": "exclude",
        "check_interval": 60,
    }
    assert PASSWORD not in str(view)


def test_e_mail_triggers_are_deployable_only_with_what_they_need() -> None:
    assert TriggerType.EMAIL not in {r.trigger_type for r in registrars(RegistrarDeps())}
    deps = EmailDeployDeps(FakeAccount().open, Cursors())
    assert TriggerType.EMAIL in {r.trigger_type for r in registrars(RegistrarDeps(email=deps))}
    with pytest.raises(TriggerTypeUnavailable):
        DeploymentService(MemoryStore(), TriggerManager([])).deploy("wf", "alice", {"nodes": [email()]})
