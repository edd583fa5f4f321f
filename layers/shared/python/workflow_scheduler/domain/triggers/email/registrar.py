"""The e-mail registrar: a deploy logs in to the trigger's mailbox, selects its folder and starts its cursor there.

The check runs with the deploy's other side effects, once every database check has passed and the deploy's
inline secrets are in Secrets Manager (an inline ``password`` is only readable then): it logs in with the
credential as it is now, selects the folder read-only, and refuses with a 422 that says why (host unreachable,
TLS, login refused, no such folder, no service mailbox). It then starts the trigger's cursor at the folder's
``UIDNEXT`` (mail that arrives after the deploy fires, even before the first poll; older mail only with
``process_existing``) and forgets the trigger's poll health, so a corrected trigger is polled at once. A
redeploy that keeps the account and folder keeps the cursor. A failed deploy puts the cursor back as it was.

Before anything is written, a trigger whose ``imap_port`` or ``oauth_token_url`` the outbound policy refuses
(domain/outbound.py: 993/143, https on 443) is refused naming the parameter; the addresses are checked when the
mailbox is opened, and a refused one answers like any unreachable server.

Resume starts the cursor at the folder's end again: mail that arrived while the workflow was paused does not fire
(as a paused cron trigger's missed runs do not). Undeploy needs nothing here: the cursor and the health row go
with the trigger's index row (migration 0007's database trigger).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

from workflow_scheduler.domain.errors import DomainError, Invalid, Problem
from workflow_scheduler.domain.models import TriggerRecord, TriggerType
from workflow_scheduler.domain.outbound import OutboundPolicy
from workflow_scheduler.domain.ports import UndoLog
from workflow_scheduler.domain.spec import TriggerSpec
from workflow_scheduler.domain.triggers.email.health import check_interval
from workflow_scheduler.domain.triggers.email.mailbox import FolderState
from workflow_scheduler.domain.triggers.email.params import EmailParams
from workflow_scheduler.domain.triggers.email.poll import (
    DEFAULT_INTERVAL,
    Cursor,
    MailboxAddress,
    MailboxOpener,
    initial_cursor,
)
from workflow_scheduler.domain.triggers.email.service import (
    DefaultMailboxSource,
    MailboxConfig,
    MailboxNotConfigured,
    mailbox_config,
    no_default_mailbox,
)
from workflow_scheduler.domain.triggers.registrar import IndexOnlyRegistrar, RegistrarDeps

# The smallest check_interval a deploy accepts in AWS: the poller runs once a minute.
MIN_CHECK_INTERVAL = timedelta(seconds=60)
# Which parameter a refusal of the mailbox points at (the error's code: domain/triggers/email/mailbox.py).
_FIELD_OF = {
    "imap_unreachable": "imap_host",
    "imap_tls_failed": "use_ssl",
    "imap_login_refused": "username",
    "imap_folder_not_found": "folder",
    "oauth_token_refused": "oauth_token_url",
    "email_mailbox_not_configured": "imap_host",
}


class MailboxCheckFailed(Invalid):
    """The trigger's mailbox refused it at deploy; the code is the refusal's (``imap_login_refused``, ...)."""

    def __init__(self, trigger_id: str, refusal: DomainError) -> None:
        super().__init__(f"e-mail trigger {trigger_id!r}: {refusal.message}")
        self.code = refusal.code
        self.problems = [Problem(f"parameters.{_FIELD_OF.get(refusal.code, 'imap_host')}", refusal.message, trigger_id)]


class DeployCursors(Protocol):
    """The cursors and poll health of e-mail triggers (``PostgresEmailStore``)."""

    def load(self, workflow_id: str, trigger_id: str, mailbox: MailboxAddress) -> Cursor | None: ...

    def save(self, workflow_id: str, trigger_id: str, mailbox: MailboxAddress, cursor: Cursor) -> None: ...

    def delete_cursor(self, workflow_id: str, trigger_id: str) -> None: ...

    def clear_state(self, workflow_id: str, trigger_id: str) -> None: ...


@dataclass(frozen=True)
class EmailDeployDeps:
    """What deploying an e-mail trigger needs (``RegistrarDeps.email``)."""

    open_mailbox: MailboxOpener  # logs in with the secrets as they are now
    cursors: DeployCursors
    default_mailbox: DefaultMailboxSource = no_default_mailbox
    default_interval: timedelta = DEFAULT_INTERVAL  # EMAIL_CHECK_INTERVAL
    min_interval: timedelta = MIN_CHECK_INTERVAL  # EMAIL_MIN_CHECK_INTERVAL (lower on the local system)
    # The ports and URLs a trigger may name (the addresses are checked when connecting: open_mailbox).
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)


class EmailRegistrar(IndexOnlyRegistrar):
    def __init__(self, deps: EmailDeployDeps) -> None:
        super().__init__(TriggerType.EMAIL)
        self._deps = deps

    def spec_problems(self, workflow_id: str, spec: TriggerSpec) -> list[Problem]:
        params = spec.params
        if not isinstance(params, EmailParams):
            return []
        problems: dict[str, str | None] = {}
        floor = int(self._deps.min_interval.total_seconds())
        if params.check_interval is not None and params.check_interval < floor:
            problems["check_interval"] = f"must be at least {floor} seconds: mailboxes are not polled more often here"
        if params.imap_host is not None:
            problems["imap_port"] = self._deps.outbound.imap_port_problem(params.imap_port)
        if params.oauth_token_url is not None:
            problems["oauth_token_url"] = self._deps.outbound.token_url_problem(params.oauth_token_url)
        return [
            Problem(f"parameters.{name}", message, spec.trigger_id)
            for name, message in problems.items()
            if message is not None
        ]

    def register(self, record: TriggerRecord, undo: UndoLog) -> None:
        self._start(record, undo, process_existing=_process_existing(record))

    def replace(self, old: TriggerRecord, new: TriggerRecord, undo: UndoLog) -> None:
        self._start(new, undo, before=old, process_existing=_process_existing(new), keep=True)

    def set_active(self, record: TriggerRecord, active: bool, undo: UndoLog) -> None:
        if active:
            self._start(record, undo, before=record, process_existing=False, tolerate=True)

    def _start(
        self,
        record: TriggerRecord,
        undo: UndoLog,
        *,
        before: TriggerRecord | None = None,
        process_existing: bool,
        keep: bool = False,
        tolerate: bool = False,
    ) -> None:
        """Check the mailbox and start the cursor, with the deploy's other side effects (``UndoLog.defer``).

        ``keep``: a cursor already there for this account and folder stays (a redeploy). ``tolerate``: a mailbox
        that cannot be read now does not refuse the change (resume); the cursor is dropped instead, and the first
        poll that reads the folder starts it at the end.
        """
        start = _CursorStart(
            self._deps, record, before=before, process_existing=process_existing, keep=keep, tolerate=tolerate
        )
        undo.defer(start.run, f"restore the cursor of e-mail trigger {record.trigger_id}", start.undo)

    def describe(self, record: TriggerRecord, base_url: str) -> dict[str, Any]:
        config = record.config
        own = isinstance(config.get("imap_host"), str)
        return {
            # "service": the service-wide mailbox (IMAP_SERVER), whose address is the operator's to tell
            "mailbox": f"{config['username']}@{config['imap_host']}:{config['imap_port']}" if own else "service",
            "folder": config.get("folder", "INBOX"),
            "email_filter": config.get("email_filter", ""),
            "auth": config.get("auth", "password") if own else "service",
            "mark_as_read": config.get("mark_as_read") is True,
            "attachment_processing": config.get("attachment_processing", "exclude"),
            "check_interval": int(check_interval(config, self._deps.default_interval).total_seconds()),
        }


class _CursorStart:
    """One deploy-time mailbox check and cursor start, and its compensation (the cursor as it was before)."""

    def __init__(
        self,
        deps: EmailDeployDeps,
        record: TriggerRecord,
        *,
        before: TriggerRecord | None,
        process_existing: bool,
        keep: bool,
        tolerate: bool,
    ) -> None:
        self._deps = deps
        self._record = record
        self._before = before
        self._process_existing = process_existing
        self._keep = keep
        self._tolerate = tolerate
        self._restore: Callable[[], object] | None = None  # set once the cursor was changed

    def run(self) -> None:
        record, cursors = self._record, self._deps.cursors
        try:
            where = mailbox_config(record.config, record.trigger_id, self._deps.default_mailbox)
        except MailboxNotConfigured as exc:
            if self._tolerate:
                return  # it cannot be polled either
            raise MailboxCheckFailed(record.trigger_id, exc) from None
        try:
            state = self._folder_state(where)
        except DomainError as exc:
            if not self._tolerate:
                if isinstance(exc, Invalid):
                    raise MailboxCheckFailed(record.trigger_id, exc) from None
                raise  # an outage (connection lost, a secret that cannot be read): 503, the caller may retry
            self._change(where, None)  # the first poll that reads the folder starts at its end
            return
        if not (self._keep and cursors.load(record.workflow_id, record.trigger_id, where.mailbox) is not None):
            self._change(where, initial_cursor(state, self._process_existing))
        cursors.clear_state(record.workflow_id, record.trigger_id)

    def undo(self) -> None:
        if self._restore is not None:
            self._restore()

    def _folder_state(self, where: MailboxConfig) -> FolderState:
        mailbox = self._deps.open_mailbox(where)
        try:
            return mailbox.select(where.mailbox.folder, readonly=True)
        finally:
            mailbox.close()

    def _change(self, where: MailboxConfig, cursor: Cursor | None) -> None:
        """Start the cursor (None: drop it), remembering the one there was."""
        record, cursors = self._record, self._deps.cursors
        self._restore = self._previous_cursor(where.mailbox)
        if cursor is None:
            cursors.delete_cursor(record.workflow_id, record.trigger_id)
        else:
            cursors.save(record.workflow_id, record.trigger_id, where.mailbox, cursor)

    def _previous_cursor(self, mailbox: MailboxAddress) -> Callable[[], object]:
        """How to put back the trigger's cursor as it is now: of this mailbox, or of the trigger's previous one."""
        record, cursors = self._record, self._deps.cursors
        addresses = [mailbox]
        # A previous configuration naming no usable mailbox had no cursor to keep.
        if self._before is not None:
            with suppress(DomainError):
                before = mailbox_config(self._before.config, record.trigger_id, self._deps.default_mailbox)
                addresses.append(before.mailbox)
        for address in addresses:
            cursor = cursors.load(record.workflow_id, record.trigger_id, address)
            if cursor is not None:
                return partial(cursors.save, record.workflow_id, record.trigger_id, address, cursor)
        return partial(cursors.delete_cursor, record.workflow_id, record.trigger_id)


def _process_existing(record: TriggerRecord) -> bool:
    return record.config.get("process_existing") is True


def build(deps: RegistrarDeps) -> EmailRegistrar | None:
    """Without a way to reach mailboxes and store cursors (``RegistrarDeps.email``), e-mail triggers cannot be
    deployed."""
    return EmailRegistrar(deps.email) if deps.email is not None else None
