"""The GitHub App client against a fake GitHub REST API on loopback (tests/support/fake_github.py)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.support.fake_github import APP_PRIVATE_KEY, FakeGithub, FakePull
from workflow_scheduler.adapters.github_app import GithubAppClient
from workflow_scheduler.domain.triggers.github.api import GithubApiError, GithubDiffTooLarge, GithubRateLimited
from workflow_scheduler.domain.triggers.github.enrichment import EnrichmentLimits, enrich, fetch_changed_files
from workflow_scheduler.domain.triggers.github.filters import GithubFilter, matches

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github"
REPO = "Codertocat/Hello-World"
INSTALLATION = 1


class Clock:
    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def github(clock: Clock) -> Iterator[FakeGithub]:
    fake = FakeGithub(clock=clock, installations={INSTALLATION: {REPO}})
    pr = fixture("pull_request/opened.payload.json")["pull_request"]
    files = [{"filename": f"src/file{i}.py", "status": "modified", "additions": 1, "deletions": 0} for i in range(250)]
    fake.add_pull(REPO, 2, FakePull(pr, files, diff="diff --git a/src/file0.py b/src/file0.py\n+x\n"))
    with fake.serving():
        yield fake


@pytest.fixture
def client(github: FakeGithub, clock: Clock) -> GithubAppClient:
    return client_for(github, clock)


def client_for(github: FakeGithub, clock: Clock, **options: Any) -> GithubAppClient:
    options = {"max_wait_seconds": 30.0, "secondary_backoff_seconds": 2.0, **options}
    return GithubAppClient(
        github.app_id, APP_PRIVATE_KEY, api_url=github.url, clock=clock, sleep=clock.sleep, **options
    )


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def test_one_installation_token_serves_many_calls_until_shortly_before_it_expires(
    github: FakeGithub, client: GithubAppClient, clock: Clock
) -> None:
    for _ in range(5):
        assert client.pull_request(INSTALLATION, REPO, 2)["number"] == 2
    assert github.token_requests == 1
    clock.now += 3600 - 301  # still more than 5 minutes left
    client.pull_request(INSTALLATION, REPO, 2)
    assert github.token_requests == 1
    clock.now += 2  # now less: a new token before the old one expires
    client.pull_request(INSTALLATION, REPO, 2)
    assert github.token_requests == 2
    assert all(method == "GET" or "access_tokens" in path for method, path in github.requests)


def test_a_token_github_refuses_is_replaced_once(github: FakeGithub, client: GithubAppClient) -> None:
    client.pull_request(INSTALLATION, REPO, 2)
    github.fail_next("/pulls/2", 401, message="Bad credentials")
    assert client.pull_request(INSTALLATION, REPO, 2)["number"] == 2
    assert github.token_requests == 2
    github.fail_next("/pulls/2", 401, message="Bad credentials", times=2)
    with pytest.raises(GithubApiError, match="GitHub answered 401 for pull request #2: Bad credentials"):
        client.pull_request(INSTALLATION, REPO, 2)


def test_the_app_jwt_is_rs256_issued_60_seconds_ago_and_valid_under_10_minutes(
    github: FakeGithub, client: GithubAppClient, clock: Clock
) -> None:
    client.pull_request(INSTALLATION, REPO, 2)
    assert github.jwt_headers == [{"alg": "RS256", "typ": "JWT"}]
    claims = github.jwt_claims[0]
    assert claims["iss"] == github.app_id
    assert claims["iat"] == int(clock.now) - 60
    assert 0 < claims["exp"] - clock.now < 600
    # The fake, like GitHub, accepts RS256 only: an HS256 token with any key is refused.
    forged = jwt.encode({"iat": int(clock.now), "exp": int(clock.now) + 60, "iss": github.app_id}, "x" * 32)
    status, _, body = github.handle("POST", "/app/installations/1/access_tokens", {"authorization": f"Bearer {forged}"})
    assert status == 401
    assert b"could not be decoded" in body


def test_a_wrong_app_key_or_unknown_installation_is_a_clear_error(github: FakeGithub, clock: Clock) -> None:
    with pytest.raises(GithubApiError, match="private key cannot sign") as caught:
        GithubAppClient(github.app_id, "not a key", api_url=github.url, clock=clock).pull_request(1, REPO, 2)
    assert "not a key" not in str(caught.value)
    with pytest.raises(GithubApiError, match="GitHub answered 404 for installation 9's token") as missing:
        client_for(github, clock).pull_request(9, REPO, 2)
    assert missing.value.status == 404


def test_pull_request_files_follow_the_link_headers(github: FakeGithub, client: GithubAppClient) -> None:
    files = client.pull_request_files(INSTALLATION, REPO, 2)
    assert files.names == [f"src/file{i}.py" for i in range(250)]
    assert files.complete
    pages = [path for _, path in github.requests if path.startswith(f"/repos/{REPO}/pulls/2/files")]
    assert pages == [
        f"/repos/{REPO}/pulls/2/files?per_page=100",
        f"/repos/{REPO}/pulls/2/files?per_page=100&page=2",
        f"/repos/{REPO}/pulls/2/files?per_page=100&page=3",
    ]


def test_pull_request_files_stop_at_githubs_3000(github: FakeGithub, client: GithubAppClient) -> None:
    many = [{"filename": f"f{i}", "status": "added"} for i in range(3500)]
    github.add_pull(REPO, 7, FakePull({"number": 7}, many))
    files = client.pull_request_files(INSTALLATION, REPO, 7)
    assert len(files.files) == 3000
    assert not files.complete


def test_a_next_link_to_another_host_is_not_followed(github: FakeGithub, client: GithubAppClient) -> None:
    github.link_base = "http://127.0.0.2:9"
    files = client.pull_request_files(INSTALLATION, REPO, 2)
    assert len(files.files) == 100  # the first page only: the token never leaves for another host


def test_diff_is_fetched_cut_and_refused_when_too_large(github: FakeGithub, client: GithubAppClient) -> None:
    diff = client.pull_request_diff(INSTALLATION, REPO, 2, max_bytes=1000)
    assert diff.text.startswith("diff --git a/src/file0.py")
    assert not diff.truncated
    cut = client.pull_request_diff(INSTALLATION, REPO, 2, max_bytes=10)
    assert (cut.text, cut.truncated) == ("diff --git", True)
    github.pulls[(REPO, 2)].diff_too_large = True
    with pytest.raises(GithubDiffTooLarge, match="the diff exceeded the maximum number of files") as caught:
        client.pull_request_diff(INSTALLATION, REPO, 2, max_bytes=1000)
    assert caught.value.status == 406


def test_429_with_retry_after_waits_that_long(github: FakeGithub, client: GithubAppClient, clock: Clock) -> None:
    github.fail_next("/pulls/2", 429, {"Retry-After": "3"}, "slow down")
    assert client.pull_request(INSTALLATION, REPO, 2)["number"] == 2
    assert clock.sleeps == [3.0]


def test_403_with_an_exhausted_quota_waits_for_the_reset(
    github: FakeGithub, client: GithubAppClient, clock: Clock
) -> None:
    reset = int(clock.now) + 5
    limit_headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    github.fail_next("/pulls/2", 403, limit_headers, "API rate limit exceeded for installation ID 1.")
    started = clock.now
    assert client.pull_request(INSTALLATION, REPO, 2)["number"] == 2
    assert clock.sleeps == [pytest.approx(reset + 1 - started)]  # the reset second itself may still be refused


def test_secondary_rate_limits_back_off(github: FakeGithub, client: GithubAppClient, clock: Clock) -> None:
    message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    github.fail_next("/pulls/2", 403, {}, message, times=2)
    assert client.pull_request(INSTALLATION, REPO, 2)["number"] == 2
    assert clock.sleeps == [2.0, 4.0]


def test_a_plain_403_is_not_retried(github: FakeGithub, client: GithubAppClient, clock: Clock) -> None:
    github.fail_next("/pulls/2", 403, {}, "Resource not accessible by integration")
    with pytest.raises(GithubApiError, match="403 for pull request #2: Resource not accessible by integration"):
        client.pull_request(INSTALLATION, REPO, 2)
    assert clock.sleeps == []


def test_waiting_is_bounded(github: FakeGithub, client: GithubAppClient, clock: Clock) -> None:
    github.fail_next("/pulls/2", 429, {"Retry-After": "3600"}, "slow down")
    with pytest.raises(GithubRateLimited, match="rate limit holds for another 3600 s") as caught:
        client.pull_request(INSTALLATION, REPO, 2)
    assert caught.value.retry_after_seconds == 3600
    assert caught.value.headers() == {"Retry-After": "3600"}
    assert clock.sleeps == []


def test_an_exhausted_quota_holds_back_later_calls_without_asking(
    github: FakeGithub, client: GithubAppClient, clock: Clock
) -> None:
    client.pull_request(INSTALLATION, REPO, 2)
    limit_headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(clock.now) + 600)}
    github.fail_next("/pulls/2", 403, limit_headers, "API rate limit exceeded")
    asked = len(github.requests)
    with pytest.raises(GithubRateLimited):
        client.pull_request(INSTALLATION, REPO, 2)
    with pytest.raises(GithubRateLimited):
        client.commit(INSTALLATION, REPO, "abc")
    assert len(github.requests) == asked + 1


def test_push_changed_files_come_from_the_compare_api(github: FakeGithub, client: GithubAppClient) -> None:
    push = fixture("push/with-new-branch.payload.json")
    push.update(before="a" * 40, size=5000)  # more commits than the payload lists
    github.comparisons[(REPO, "a" * 40, push["after"])] = [{"filename": "src/app.py", "status": "modified"}]
    files = fetch_changed_files(client, INSTALLATION, push)
    assert files.names == ["src/app.py"]
    flt = GithubFilter.from_config(
        {"github_app_installation_id": 1, "repository": REPO, "events": ["push"], "paths": ["src/**"]}
    )
    assert matches(flt, "push", push).outcome == "needs_changed_files"
    assert matches(flt, "push", push, files.names).matched
    # a new branch has no commit before it: compared with the default branch
    push.update(before="0" * 40)
    github.comparisons[(REPO, "master", push["after"])] = [{"filename": "docs/a.md", "status": "added"}]
    assert fetch_changed_files(client, INSTALLATION, push).names == ["docs/a.md"]


def test_pull_request_path_filters_decide_on_the_files_from_the_api(client: GithubAppClient) -> None:
    event = fixture("pull_request/opened.payload.json")
    event["pull_request"]["number"] = 2

    def fires(paths: list[str]) -> bool:
        flt = GithubFilter.from_config(
            {"github_app_installation_id": 1, "repository": REPO, "events": ["pull_request"], "paths": paths}
        )
        first = matches(flt, "pull_request", event)
        assert first.outcome == "needs_changed_files"
        return matches(flt, "pull_request", event, fetch_changed_files(client, INSTALLATION, event).names).matched

    assert fires(["src/file249.py"])  # on the third page
    assert not fires(["docs/**"])


def test_enrichment_of_a_pull_request(github: FakeGithub, client: GithubAppClient) -> None:
    event = fixture("pull_request/opened.payload.json")
    event["pull_request"]["number"] = 2
    out = enrich(client, INSTALLATION, event, limits=EnrichmentLimits(max_files=100))
    assert out["pull_request"]["number"] == 2
    assert out["pull_request"]["base"]["ref"] == "master"
    assert out["files"][0] == {"filename": "src/file0.py", "status": "modified", "additions": 1, "deletions": 0}
    assert (len(out["files"]), out["files_total"], out["files_complete"]) == (100, 250, True)
    assert out["diff"].startswith("diff --git")
    assert out["missing"] == []
    assert out["notes"] == ["the first 100 of 250 files are listed"]


def test_a_refused_diff_falls_back_to_the_file_list(github: FakeGithub, client: GithubAppClient) -> None:
    github.pulls[(REPO, 2)].diff_too_large = True
    event = fixture("pull_request/opened.payload.json")
    event["pull_request"]["number"] = 2
    out = enrich(client, INSTALLATION, event)
    assert out["diff"] is None
    assert out["files_total"] == 250
    assert len(out["notes"]) == 1
    assert out["notes"][0].startswith("GitHub does not render this pull request's diff (Sorry, the diff exceeded")
    assert out["notes"][0].endswith("the file list stands in for it")
    assert out["missing"] == []


def test_a_failed_enrichment_says_what_is_missing(github: FakeGithub, client: GithubAppClient) -> None:
    event = fixture("pull_request/opened.payload.json")
    event["pull_request"]["number"] = 2
    github.fail_next("/pulls/2/files", 500, {}, "Server Error")
    out = enrich(client, INSTALLATION, event)
    assert out["missing"] == [
        {"what": "files", "reason": "GitHub answered 500 for pull request #2's files: Server Error"}
    ]
    assert out["pull_request"]["number"] == 2
    assert "files" not in out


def test_push_enrichment_fetches_the_first_commits_and_lists_the_rest(
    github: FakeGithub, client: GithubAppClient
) -> None:
    push = fixture("push/with-new-branch.payload.json")
    template = push["commits"][0]
    push["commits"] = [{**copy.deepcopy(template), "id": f"{i:040x}"} for i in range(4)]
    for i in range(3):
        sha = f"{i:040x}"
        github.commits[(REPO, sha)] = {
            "sha": sha,
            "commit": {"message": f"change {i}", "author": {"name": "Mona"}, "verification": {"verified": True}},
            "parents": [{"sha": "p"}],
            "stats": {"additions": 1, "deletions": 0, "total": 1},
            "files": [{"filename": "README.md"}],
        }
    out = enrich(client, INSTALLATION, push, limits=EnrichmentLimits(max_commits=3))
    assert [c["message"] for c in out["commits"]] == ["change 0", "change 1", "change 2"]
    assert out["commits"][0]["verified"] is True
    assert out["commits"][0]["files_changed"] == 1
    assert out["more_commits"] == [f"{3:040x}"]
    del github.commits[(REPO, f"{1:040x}")]
    partial = enrich(client, INSTALLATION, push, limits=EnrichmentLimits(max_commits=3))
    assert [c["sha"] for c in partial["commits"]] == [f"{0:040x}", f"{2:040x}"]
    assert partial["missing"][0]["what"] == f"commit {1:040x}"


def test_deliveries_are_listed_back_to_a_time_and_redelivered(github: FakeGithub, client: GithubAppClient) -> None:
    github.deliveries = [
        {"id": 300 - i, "guid": f"g{i}", "status_code": 500 if i % 7 == 0 else 202,
         "delivered_at": datetime.fromtimestamp(1_800_000_000 - i * 60, UTC).isoformat().replace("+00:00", "Z")}
        for i in range(250)
    ]  # fmt: skip
    since = datetime.fromtimestamp(1_800_000_000 - 149 * 60, UTC)
    listed = client.list_deliveries(since=since)
    assert [d["guid"] for d in listed] == [f"g{i}" for i in range(150)]
    assert len(client.list_deliveries()) == 250
    client.redeliver(300)
    assert github.redelivered == [300]


def test_a_repository_the_installation_cannot_see_is_404(client: GithubAppClient) -> None:
    with pytest.raises(GithubApiError, match="GitHub answered 404 for commit abc: Not Found") as caught:
        client.commit(INSTALLATION, "Codertocat/Elsewhere", "abc")
    assert caught.value.status == 404
