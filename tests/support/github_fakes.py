"""In-memory fakes for the GitHub trigger's ports: the delivery and installation store, the events queue, the App's
API and its deliveries (the candidates are ``MemoryFiringStore``'s targets)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workflow_scheduler.domain.errors import Unavailable
from workflow_scheduler.domain.models import TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.triggers.github.api import Diff, FileList, GithubApiError
from workflow_scheduler.domain.triggers.github.deliveries import (
    Delivery,
    DeliveryStatus,
    InstallationChange,
    InstallationState,
    RoutingSummary,
)
from workflow_scheduler.domain.triggers.github.ingress import GithubRequest
from workflow_scheduler.domain.triggers.github.registrar import lookup_columns

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github"
SECRET = "It's a Secret to Everybody"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def signed(event: str, payload: dict[str, Any] | bytes, delivery_id: str, secret: str = SECRET) -> GithubRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"x-github-event": event, "x-github-delivery": delivery_id, "x-hub-signature-256": signature}
    return GithubRequest(headers, body)


def github_trigger(workflow_id: str, trigger_id: str = "gh", version: int = 1, **parameters: Any) -> TriggerRecord:
    """A deployed GitHub trigger's index row (installation 1, Codertocat/Hello-World, push unless told)."""
    config = {
        "github_app_installation_id": 1,
        "repository": "Codertocat/Hello-World",
        "events": ["push"],
        **parameters,
    }
    return TriggerRecord(
        workflow_id=workflow_id,
        trigger_id=trigger_id,
        type=TriggerType.GITHUB,
        config=config,
        config_hash=hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest(),
        version=version,
        status=TriggerStatus.ACTIVE,
        lookup=lookup_columns(config),
    )


@dataclass
class _Row:
    delivery: Delivery
    received_at: datetime
    summary: RoutingSummary | None = None
    error: str | None = None
    attempts: int = 0


class MemoryGithubStore:
    """Deliveries and installations; a record made inside a block that raises is undone."""

    def __init__(self, clock: Any = lambda: datetime.now(UTC)) -> None:
        self.rows: dict[str, _Row] = {}
        self.installations: dict[int, dict[str, Any]] = {}
        self.links: set[tuple[int, str]] = set()  # (installation id, owner)
        self.clock = clock

    # -- IngressLedger --

    @contextmanager
    def record(
        self, delivery: Delivery, *, note: str | None, installation: InstallationChange | None
    ) -> Iterator[bool]:
        if delivery.delivery_id in self.rows:
            yield False
            return
        installations = copy.deepcopy(self.installations)
        if installation is not None:
            self._apply(installation)
        try:
            yield True
        except BaseException:
            self.installations = installations
            raise
        stored = delivery if note is None else replace(delivery, body=None, status=DeliveryStatus.ROUTED)
        self.rows[delivery.delivery_id] = _Row(stored, self.clock(), RoutingSummary(note=note) if note else None)

    def _apply(self, change: InstallationChange) -> None:
        current = self.installations.setdefault(change.installation_id, {"state": "active", "repositories": set()})
        if change.state is not None:
            current["state"] = change.state.value
        if change.repositories is not None:
            current["repositories"] = set(change.repositories)
        current["repositories"] = (current["repositories"] | set(change.added)) - set(change.removed)

    # -- RouterLedger --

    def delivery(self, delivery_id: str) -> Delivery | None:
        row = self.rows.get(delivery_id)
        return row.delivery if row else None

    def installation_state(self, installation_id: int) -> InstallationState | None:
        found = self.installations.get(installation_id)
        return InstallationState(found["state"]) if found else None

    def linked_owners(self, installation_id: int) -> frozenset[str]:
        return frozenset(owner for linked, owner in self.links if linked == installation_id)

    def mark_routed(self, delivery_id: str, summary: RoutingSummary) -> None:
        row = self.rows[delivery_id]
        row.delivery = replace(row.delivery, body=None, status=DeliveryStatus.ROUTED)
        row.summary, row.error, row.attempts = summary, None, row.attempts + 1

    def mark_failed(self, delivery_id: str, error: str) -> None:
        row = self.rows[delivery_id]
        row.delivery = replace(row.delivery, status=DeliveryStatus.FAILED)
        row.error, row.attempts = error, row.attempts + 1

    # -- SweepLedger --

    def recorded(self, delivery_ids: Collection[str]) -> set[str]:
        return {d for d in delivery_ids if d in self.rows}

    def prune(self, received_before: datetime) -> int:
        old = [d for d, row in self.rows.items() if row.received_at < received_before]
        for delivery_id in old:
            del self.rows[delivery_id]
        return len(old)


class MemoryDeliveryQueue:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fail = False

    def send(self, delivery_id: str) -> None:
        if self.fail:
            raise Unavailable("the queue is down")
        self.sent.append(delivery_id)


@dataclass
class FakeGithubApi:
    """The App's REST API in memory: pull requests' files, comparisons; ``fail_with`` makes every call raise."""

    pull_files: dict[int, list[str]] = field(default_factory=dict)
    compare_files: list[str] = field(default_factory=list)
    fail_with: GithubApiError | None = None
    calls: list[str] = field(default_factory=list)

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.fail_with is not None:
            raise self.fail_with

    def pull_request(self, installation_id: int, repository: str, number: int) -> dict[str, Any]:
        self._call(f"pull_request {number}")
        return {"number": number, "title": "a pull request", "state": "open"}

    def pull_request_files(self, installation_id: int, repository: str, number: int) -> FileList:
        self._call(f"files {number}")
        names = self.pull_files.get(number, [])
        return FileList(tuple({"filename": n, "status": "modified"} for n in names), complete=True)

    def pull_request_diff(self, installation_id: int, repository: str, number: int, max_bytes: int) -> Diff:
        self._call(f"diff {number}")
        return Diff("diff --git a/x b/x\n", truncated=False)

    def commit(self, installation_id: int, repository: str, sha: str) -> dict[str, Any]:
        self._call(f"commit {sha}")
        return {"sha": sha, "commit": {"message": "a commit"}, "parents": []}

    def compare(self, installation_id: int, repository: str, base: str, head: str) -> FileList:
        self._call(f"compare {base}...{head}")
        return FileList(tuple({"filename": n, "status": "modified"} for n in self.compare_files), complete=True)


@dataclass
class FakeAppDeliveries:
    """The App's webhook deliveries as GitHub lists them (every attempt, newest first)."""

    listed: list[dict[str, Any]] = field(default_factory=list)
    redelivered: list[int] = field(default_factory=list)
    fail_redeliver: dict[int, GithubApiError] = field(default_factory=dict)
    fail_list: GithubApiError | None = None
    since: list[datetime | None] = field(default_factory=list)

    def list_deliveries(self, since: datetime | None = None) -> list[dict[str, Any]]:
        self.since.append(since)
        if self.fail_list is not None:
            raise self.fail_list
        return list(self.listed)

    def redeliver(self, delivery_id: int) -> None:
        if delivery_id in self.fail_redeliver:
            raise self.fail_redeliver[delivery_id]
        self.redelivered.append(delivery_id)
