"""The router: a recorded GitHub delivery fires the GitHub triggers whose filters match it (issue 9).

It runs as the consumer of the github events queue. Candidates come from one indexed query (``ByGithubEvent``:
repository and event); the filters run in process. A pull request's files (or a large push's) are asked of GitHub
at most once per delivery, and only when a candidate's other filters all passed; enrichment is fetched once, after
matching.
Each matching trigger gets one ``TriggerEvent`` whose execution id comes from (delivery id, trigger id): a
redelivery or a queue retry of the same delivery is the same execution. A candidate that does not match is
neither an error nor a firing: the delivery's record says why.

The router is GitHub's firing, but not a ``TriggerFiring``: one delivery fans out to any number of triggers, and
what it answers is the delivery's ``RoutingSummary`` (each candidate's outcome), not one ``FiringOutcome``. It
uses the one lookup contract (``TargetStore.targets``) and the one ``FiringService`` like every type.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from workflow_scheduler.domain.errors import DomainError, SpecInvalid, Unavailable
from workflow_scheduler.domain.firing import ByGithubEvent, FiringService, FiringStatus, FiringTarget, TargetStore
from workflow_scheduler.domain.json_limits import loads_strict
from workflow_scheduler.domain.triggers.github.api import (
    FileList,
    GithubApi,
    GithubApiError,
    GithubRateLimited,
    GithubUnreachable,
)
from workflow_scheduler.domain.triggers.github.deliveries import (
    Delivery,
    DeliveryStatus,
    InstallationState,
    RouterLedger,
    RoutingSummary,
    TriggerOutcome,
)
from workflow_scheduler.domain.triggers.github.enrichment import EnrichmentLimits, enrich, fetch_changed_files
from workflow_scheduler.domain.triggers.github.filters import GithubFilter, Match, Outcome, matches

NOT_MATCHED = "not_matched"
RECORD_WAITS = (0.05, 0.2, 0.5)  # seconds between reads of a delivery's record that is not there yet
NO_CREDENTIALS = (
    "the GitHub App's credentials are not configured (GITHUB_APP_ID and its private key), "
    "and the trigger's path filters need the changed files from GitHub's API"
)


class DeliveryNotRecorded(Unavailable):
    """The message names a delivery whose record is not there: not committed yet, or rolled back."""

    code = "github_delivery_not_recorded"


class RoutingPostponed(Unavailable):
    """GitHub could not answer for now: the delivery is routed again later (the queue retries it)."""

    code = "github_routing_postponed"


@dataclass
class _Judged:
    target: FiringTarget
    filter: GithubFilter | None
    match: Match


class GithubRouter:
    def __init__(
        self,
        ledger: RouterLedger,
        targets: TargetStore,
        firings: FiringService,
        api: GithubApi | None,
        limits: EnrichmentLimits | None = None,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ledger = ledger
        self._targets = targets
        self._firings = firings
        self._api = api  # None: no App credentials
        self._limits = limits or EnrichmentLimits()
        self._pause = pause

    def route(self, delivery_id: str, *, last_attempt: bool = False) -> RoutingSummary | None:
        """Route a recorded delivery; None when there is nothing to do (routed already, or never recorded and this
        is the last attempt).

        ``last_attempt``: the queue will not deliver it again, so what GitHub cannot answer now is recorded as
        refused instead of postponed. Raises ``RoutingPostponed`` (or another ``Unavailable``) when the
        delivery must be tried again; it is recorded as failed with the reason. Raises ``DeliveryNotRecorded``
        while the delivery is not recorded.
        """
        delivery = self._recorded(delivery_id)
        if delivery is None:
            if last_attempt:  # its record was rolled back: GitHub heard 503, and the sweep asks for it again
                return None
            raise DeliveryNotRecorded(f"delivery {delivery_id} is not recorded (yet); it is routed again later")
        if delivery.status is DeliveryStatus.ROUTED or delivery.body is None:
            return None
        try:
            summary = self._route(delivery, loads_strict(delivery.body), last_attempt)
        except DomainError as exc:
            with contextlib.suppress(DomainError):  # the store itself may be what failed
                self._ledger.mark_failed(delivery_id, exc.message)
            raise
        self._ledger.mark_routed(delivery_id, summary)
        return summary

    def _recorded(self, delivery_id: str) -> Delivery | None:
        """The delivery's record. The github function sends the message just before its record commits, so the
        queue can bring the message first: the record is read again a few times before giving up on this attempt."""
        delivery = self._ledger.delivery(delivery_id)
        for seconds in RECORD_WAITS:
            if delivery is not None:
                break
            self._pause(seconds)
            delivery = self._ledger.delivery(delivery_id)
        return delivery

    def _route(self, delivery: Delivery, payload: Mapping[str, Any], last_attempt: bool) -> RoutingSummary:
        installation = delivery.installation_id
        state = self._ledger.installation_state(installation) if installation is not None else None
        if state in (InstallationState.SUSPENDED, InstallationState.REMOVED):
            return RoutingSummary(note=f"installation {installation} is {state}: nothing fires")
        if delivery.repository is None:
            return RoutingSummary(note="the event names no repository")
        found = self._targets.targets(ByGithubEvent(delivery.repository, delivery.event))
        if not found:
            return RoutingSummary(note=f"no GitHub trigger listens to {delivery.event} on {delivery.repository}")
        linked = self._ledger.linked_owners(installation) if installation is not None else frozenset()
        refused = [_not_linked(t, installation) for t in found if t.owner not in linked]
        judged = [self._judge(t, delivery.event, payload) for t in found if t.owner in linked]
        files, files_problem = None, None
        if any(j.match.outcome is Outcome.NEEDS_CHANGED_FILES for j in judged):
            files, files_problem = self._changed_files(delivery, payload, last_attempt)
            for j in judged:
                if j.match.outcome is Outcome.NEEDS_CHANGED_FILES and j.filter is not None and files is not None:
                    j.match = matches(j.filter, delivery.event, payload, files.names)
        data = _trigger_data(delivery, payload)
        if any(j.match.matched for j in judged):
            data["enrichment"] = self._enrichment(delivery, payload, files)
        outcomes = [self._outcome(j, delivery.delivery_id, data, files_problem) for j in judged]
        matched = sum(1 for j in judged if j.match.outcome is not Outcome.NOT_MATCHED)
        return RoutingSummary(candidates=len(found), matched=matched, outcomes=(*refused, *outcomes))

    def _judge(self, target: FiringTarget, event: str, payload: Mapping[str, Any]) -> _Judged:
        try:
            flt = GithubFilter.from_config(target.trigger.config)
        except (KeyError, TypeError, ValueError) as exc:  # a row not written by a deploy
            reason = f"the trigger's parameters cannot be read: {type(exc).__name__}"
            return _Judged(target, None, Match(Outcome.NOT_MATCHED, reason))
        return _Judged(target, flt, matches(flt, event, payload))

    def _changed_files(
        self, delivery: Delivery, payload: Mapping[str, Any], last_attempt: bool
    ) -> tuple[FileList | None, str | None]:
        """The changed files, or why there are none; once per delivery, whatever the number of triggers."""
        if self._api is None:
            return None, NO_CREDENTIALS
        if delivery.installation_id is None:
            return None, "the event carries no App installation to ask GitHub for the changed files with"
        try:
            return fetch_changed_files(self._api, delivery.installation_id, payload), None
        except GithubApiError as exc:
            reason = f"GitHub could not list the changed files: {exc.message}"
            if _transient(exc) and not last_attempt:
                raise RoutingPostponed(f"{reason}; the delivery is routed again later") from exc
            return None, reason

    def _enrichment(self, delivery: Delivery, payload: Mapping[str, Any], files: FileList | None) -> dict[str, Any]:
        """What GitHub's API adds (seed 4.5), fetched once for every matching trigger of the delivery."""
        if self._api is None or delivery.installation_id is None:
            why = "the GitHub App's credentials are not configured" if self._api is None else "no App installation"
            return {"missing": [{"what": "everything", "reason": why}], "notes": []}
        return enrich(self._api, delivery.installation_id, payload, files=files, limits=self._limits)

    def _outcome(
        self, judged: _Judged, delivery_id: str, data: dict[str, Any], files_problem: str | None
    ) -> TriggerOutcome:
        target, trigger = judged.target, judged.target.trigger
        if judged.match.outcome is Outcome.NOT_MATCHED:
            return TriggerOutcome(trigger.workflow_id, trigger.trigger_id, NOT_MATCHED, judged.match.reason)
        if judged.match.outcome is Outcome.NEEDS_CHANGED_FILES:
            outcome = self._firings.refuse(target, delivery_id, data, files_problem or judged.match.reason)
        else:
            try:
                outcome = self._firings.fire(target, delivery_id, data)
            except SpecInvalid as exc:  # the payload holds what JSON cannot carry on (a lone surrogate)
                outcome = self._firings.refuse(target, delivery_id, {}, exc.message)
        return TriggerOutcome(
            trigger.workflow_id, trigger.trigger_id, outcome.status.value, outcome.reason, outcome.execution_id
        )


def _not_linked(target: FiringTarget, installation: int | None) -> TriggerOutcome:
    """A candidate whose owner may not see the delivery's installation: refused before its filters run (they would
    read the payload) and only in the delivery's record, which operators read; the owner's firing history gets no
    row, which would tell them when another tenant's repository changes."""
    trigger = target.trigger
    reason = (
        "the event names no App installation"
        if installation is None
        else f"the App installation {installation} is not linked to the workflow's owner"
    )
    return TriggerOutcome(trigger.workflow_id, trigger.trigger_id, FiringStatus.REFUSED.value, reason)


def _transient(exc: GithubApiError) -> bool:
    """Whether asking again later may succeed: a rate limit, no answer, or GitHub's own failure."""
    return isinstance(exc, GithubRateLimited | GithubUnreachable) or (exc.status is not None and exc.status >= 500)


def _trigger_data(delivery: Delivery, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The trigger data (seed 4.5): the event in short, its payload whole, and (added) the enrichment.

    ``ref`` is the payload's (a push's ``refs/heads/...``); for a pull request, ``refs/pull/<n>/merge`` with
    ``head_ref`` and ``base_ref`` beside it, as GitHub Actions names them.
    """
    data: dict[str, Any] = {
        **delivery.described(),
        "ref": payload.get("ref") if isinstance(payload.get("ref"), str) else None,
    }
    pull_request = payload.get("pull_request")
    if isinstance(pull_request, Mapping):
        data["ref"] = f"refs/pull/{pull_request.get('number')}/merge"
        for key, side in (("head_ref", "head"), ("base_ref", "base")):
            branch = pull_request.get(side)
            data[key] = branch.get("ref") if isinstance(branch, Mapping) else None
    data["payload"] = dict(payload)
    return data
