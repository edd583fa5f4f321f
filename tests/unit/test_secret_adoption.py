"""Legacy managed secrets (only ``managed-by``) get their trigger owner's tags on upgrade, and nothing else does."""

from __future__ import annotations

import pytest

from tests.support.fakes import MemorySecretStore
from workflow_scheduler.domain.errors import RegistrationFailed
from workflow_scheduler.domain.inline_secrets import (
    LEGACY_PREFIX,
    MANAGED_BY_TAG,
    OWNER_TAG,
    managed_secret_name,
    owner_tags,
    usable_by,
)
from workflow_scheduler.domain.secret_adoption import SecretReference, adopt_legacy_secrets

LEGACY = {MANAGED_BY_TAG[0]: MANAGED_BY_TAG[1]}


def legacy_name(workflow_id: str, trigger_id: str) -> str:
    """The name the releases before owner tags gave a trigger's managed secret."""
    return managed_secret_name(workflow_id, trigger_id, LEGACY_PREFIX)


class TaggingStore(MemorySecretStore):
    def __init__(self, fail_on_tag: int | None = None) -> None:
        super().__init__()
        self.fail_on_tag = fail_on_tag  # the n-th tag call (1-based) fails like Secrets Manager would
        self.tag_calls = 0

    def add(self, name: str, tags: dict[str, str]) -> None:
        self.values[name], self.tags[name] = "s3cret", dict(tags)

    def tag(self, name: str, tags: dict[str, str]) -> None:
        self.tag_calls += 1
        if self.tag_calls == self.fail_on_tag:
            raise RegistrationFailed(f"cannot tag secret {name!r}: ThrottlingException")
        self.calls.append(f"tag {name}")
        self.tags[name] = {**self.tags[name], **tags}


def ref(workflow_id: str, trigger_id: str, owner: str = "alice", name: str | None = None) -> SecretReference:
    return SecretReference(workflow_id, trigger_id, owner, name or legacy_name(workflow_id, trigger_id))


def test_a_legacy_secret_gets_its_trigger_owners_tags_and_becomes_usable() -> None:
    store = TaggingStore()
    name = legacy_name("wf-a", "hook")
    store.add(name, LEGACY)
    assert not usable_by(store.describe(name), "alice", "wf-a", "hook")  # what the webhook function refuses today

    report = adopt_legacy_secrets([ref("wf-a", "hook")], store)

    assert report.as_dict() == {"scanned": 1, "tagged": 1, "skipped": {}, "dry_run": False}
    assert store.tags[name] == owner_tags("alice", "wf-a", "hook")
    assert usable_by(store.describe(name), "alice", "wf-a", "hook")


def test_tag_values_use_the_services_encoding() -> None:
    """An Auth0 subject is not a valid tag value: it is tagged by digest, exactly as at deploy."""
    store = TaggingStore()
    store.add(legacy_name("wf-a", "hook"), LEGACY)
    adopt_legacy_secrets([ref("wf-a", "hook", owner="auth0|5f1c")], store)
    tags = store.tags[legacy_name("wf-a", "hook")]
    assert tags[OWNER_TAG].startswith("sha256:") and tags == owner_tags("auth0|5f1c", "wf-a", "hook")


def test_a_trigger_id_with_unsafe_characters_matches_its_hashed_managed_name() -> None:
    store = TaggingStore()
    name = legacy_name("wf-a", "my hook/1")
    assert name.startswith("workflow-scheduler/webhooks/wf-a/h-")
    store.add(name, LEGACY)
    assert adopt_legacy_secrets([ref("wf-a", "my hook/1")], store).tagged == 1
    assert usable_by(store.describe(name), "alice", "wf-a", "my hook/1")


@pytest.mark.parametrize(
    ("owner_tag_value"),
    ["mallory", "alice", ""],
    ids=["someone_else", "the_same_owner", "empty"],
)
def test_a_secret_with_any_owner_tag_is_never_retagged(owner_tag_value: str) -> None:
    store = TaggingStore()
    name = legacy_name("wf-a", "hook")
    store.add(name, {**LEGACY, OWNER_TAG: owner_tag_value})
    report = adopt_legacy_secrets([ref("wf-a", "hook")], store)
    assert report.tagged == 0 and report.skipped == {"has_owner_tag": 1}
    assert store.tags[name] == {**LEGACY, OWNER_TAG: owner_tag_value}
    assert store.tag_calls == 0


def test_a_secret_named_for_another_trigger_is_never_touched_nor_described() -> None:
    store = TaggingStore()
    alices = legacy_name("wf-alice", "hook")
    store.add(alices, LEGACY)
    rows = [
        ref("wf-bob", "steal", owner="bob", name=alices),  # bob's trigger naming alice's managed secret
        ref("wf-alice", "other", name=alices),  # alice's other trigger: a managed secret serves one trigger only
        ref("wf-a", "hook", name="workflow-scheduler/webhooks/wf-a/hook/extra"),
    ]
    report = adopt_legacy_secrets(rows, store)
    assert report.as_dict() == {
        "scanned": 3,
        "tagged": 0,
        "skipped": {"name_not_for_trigger": 3},
        "dry_run": False,
    }
    assert store.tags[alices] == LEGACY and store.calls == []


def test_missing_deleted_and_unmanaged_secrets_are_skipped_with_their_reason() -> None:
    store = TaggingStore()
    store.add(legacy_name("wf-a", "untagged"), {})
    store.add(legacy_name("wf-a", "foreign"), {"managed-by": "someone_else"})
    store.add(legacy_name("wf-a", "gone"), LEGACY)
    store.deleted.add(legacy_name("wf-a", "gone"))
    rows = [ref("wf-a", t) for t in ("untagged", "foreign", "gone", "missing")]
    report = adopt_legacy_secrets(rows, store)
    assert report.as_dict()["skipped"] == {
        "not_found": 1,
        "not_managed_by_service": 2,
        "scheduled_for_deletion": 1,
    }
    assert report.tagged == 0 and store.tag_calls == 0


def test_a_dry_run_counts_what_it_would_tag_and_tags_nothing() -> None:
    store = TaggingStore()
    store.add(legacy_name("wf-a", "hook"), LEGACY)
    report = adopt_legacy_secrets([ref("wf-a", "hook"), ref("wf-a", "missing")], store, dry_run=True)
    assert report.as_dict() == {"scanned": 2, "tagged": 1, "skipped": {"not_found": 1}, "dry_run": True}
    assert store.tag_calls == 0 and store.tags[legacy_name("wf-a", "hook")] == LEGACY


def test_a_failure_part_way_stops_and_a_second_run_finishes_the_rest() -> None:
    store = TaggingStore(fail_on_tag=2)
    rows = [ref("wf-a", "one"), ref("wf-a", "two"), ref("wf-a", "three")]
    for row in rows:
        store.add(row.secret_ref, LEGACY)
    with pytest.raises(RegistrationFailed):
        adopt_legacy_secrets(rows, store)
    assert OWNER_TAG in store.tags[rows[0].secret_ref] and OWNER_TAG not in store.tags[rows[2].secret_ref]

    again = adopt_legacy_secrets(rows, store)
    assert again.as_dict() == {"scanned": 3, "tagged": 2, "skipped": {"has_owner_tag": 1}, "dry_run": False}
    assert all(usable_by(store.describe(r.secret_ref), "alice", "wf-a", r.trigger_id) for r in rows)
    # Idempotent: a third run changes nothing.
    assert adopt_legacy_secrets(rows, store).as_dict()["skipped"] == {"has_owner_tag": 3}
