"""Reconcile's shards (issue 11): every schedule name falls in exactly one shard, which lists it by a name prefix
and reads its trigger in one key range; no shard holds more than its size; a long shared id prefix costs no scans."""

from __future__ import annotations

import bisect
import random
import string

import pytest

from workflow_scheduler.domain.triggers.cron.schedules import schedule_name, schedule_stem, stem_of
from workflow_scheduler.domain.triggers.cron.shards import ALPHABET, Shard, plan_shards


class Stems:
    """The trigger index's stems, sorted as PostgreSQL's "C" collation sorts them."""

    def __init__(self, stems: list[str]) -> None:
        self.stems = sorted(stems)
        self.counted: list[str] = []

    def _under(self, prefix: str) -> list[str]:
        start = bisect.bisect_left(self.stems, prefix)
        end = bisect.bisect_left(self.stems, prefix + "{")
        return self.stems[start:end]

    def count_by_next_character(self, prefix: str) -> dict[str, int]:
        self.counted.append(prefix)
        counts: dict[str, int] = {}
        for stem in self._under(prefix):
            counts[stem[len(prefix)]] = counts.get(stem[len(prefix)], 0) + 1
        return counts

    def common_prefix(self, prefix: str) -> str:
        under = self._under(prefix)
        if not under:
            return prefix
        first, last = under[0], under[-1]
        shared = 0
        while shared < min(len(first), len(last)) and first[shared] == last[shared]:
            shared += 1
        return first[:shared]


def shards_of(name: str, shards: list[Shard]) -> list[tuple[int, str]]:
    """(shard, how) for each shard that would see ``name``: by one of its prefixes, or as one of its probes."""
    found = [(n, "listed") for n, shard in enumerate(shards) for prefix in shard.prefixes if name.startswith(prefix)]
    return found + [(n, "probed") for n, shard in enumerate(shards) if name in shard.probes]


def ids(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    kinds = [
        lambda n: (f"wf-{n:06d}", "nightly"),  # a long shared prefix
        lambda n: (str(rng.getrandbits(64)), "t"),
        lambda n: ("".join(rng.choices(string.ascii_letters + " /é", k=rng.randint(1, 70))), f"c{n}"),
    ]
    return [kinds[n % 3](n) for n in range(count)]


@pytest.mark.parametrize("shard_size", [50, 300])
def test_every_name_is_in_exactly_one_shard_and_its_trigger_in_that_shards_range(shard_size: int) -> None:
    triggers = ids(3000, seed=shard_size)
    stems = Stems([schedule_stem(w, t) for w, t in triggers])
    shards = plan_shards(stems, shard_size)
    assert all(shard.triggers <= shard_size for shard in shards)
    assert sum(shard.triggers for shard in shards) == len(triggers)
    for workflow_id, trigger_id in triggers:
        stem = schedule_stem(workflow_id, trigger_id)
        for index in (0, 1):
            ((number, how),) = shards_of(schedule_name(workflow_id, trigger_id, index), shards)
            assert how == "listed" and shards[number].lo <= stem < shards[number].hi
    # Names nobody planned for (orphans made by hand) are seen too: any name of the alphabet, short ones included.
    rng = random.Random(7)
    for length in [1, 2, 3, 5, 9, 20, 64] * 50:
        name = "".join(rng.choices(ALPHABET, k=length))
        assert len(shards_of(name, shards)) == 1
    for shard in shards:
        for probe in shard.probes:
            assert shards_of(probe, shards) == [(shards.index(shard), "probed")]


def test_a_small_index_is_one_shard_listing_the_whole_group() -> None:
    shards = plan_shards(Stems([schedule_stem("wf", f"t{n}") for n in range(10)]), 100)
    assert shards == [Shard(prefixes=("",), triggers=10)]
    assert (shards[0].lo, shards[0].hi) == ("", "{")


def test_a_long_shared_prefix_is_followed_without_counting_each_character() -> None:
    stems = Stems([schedule_stem(f"organisation-production-workflow-{n:05d}", "nightly") for n in range(2000)])
    shards = plan_shards(stems, 500)
    assert len(shards) >= 4 and all(shard.triggers <= 500 for shard in shards)
    # Counted at the top and where the ids differ, not at each of the ~35 shared characters.
    assert len(stems.counted) <= 4


def test_schedule_names_keep_their_form_and_their_stem_is_found_again() -> None:
    assert schedule_name("wf-r", "a", 0) == "wf-r.a.731ac5d1fb-0"
    long = schedule_name("w" * 100, "t", 1)
    assert len(long) == 64 and long.endswith("-1") and stem_of(long) == schedule_stem("w" * 100, "t")
    assert stem_of("manual") is None and stem_of("x.y.0000000000-10") is None
    with pytest.raises(ValueError, match="at most 10 schedules"):
        schedule_name("wf", "t", 10)
