"""Reconcile's shards: ranges of schedule names that both sides can read a piece at a time.

``ListSchedules`` filters only by name prefix, and its order is not documented: a shard is therefore a run of
consecutive name prefixes, listed one after another. The trigger index reads the same shard as one key range of
the cron triggers' stem index (``cron_schedule_stem``, migration 0008), because a schedule name is its trigger's
stem plus ``-<index>`` and stems sort the way their names do. Prefixes are split where more than a shard's worth
of triggers share one, so every shard holds at most ``shard_size`` cron triggers.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

# The characters of a schedule name, in byte order (PostgreSQL's "C" collation sorts the same way).
ALPHABET = "".join(sorted("-._" + string.digits + string.ascii_uppercase + string.ascii_lowercase))
PAST_ALPHABET = "{"  # sorts after every character of the alphabet: prefix + "{" bounds the names with that prefix
MAX_SPLIT_LENGTH = 60  # names have at most 64 characters
MAX_PREFIXES_PER_SHARD = 500


def prefix_end(prefix: str) -> str:
    """The first string past every name starting with ``prefix``."""
    return prefix + PAST_ALPHABET


@dataclass(frozen=True)
class Shard:
    """Consecutive name prefixes; the names they list are the names of the stems in ``[lo, hi)``.

    ``probes`` are names equal to a prefix that was split: no prefix below lists them (a name is not its own
    child), so each is read once. No name of ours is that short, so any schedule found there is an orphan.
    """

    prefixes: tuple[str, ...]
    probes: tuple[str, ...] = ()
    triggers: int = 0

    @property
    def lo(self) -> str:
        return self.prefixes[0]

    @property
    def hi(self) -> str:
        return prefix_end(self.prefixes[-1])


class StemCounts(Protocol):
    """The cron triggers' stems, as the trigger index answers about them."""

    def count_by_next_character(self, prefix: str) -> dict[str, int]:
        """How many stems start with ``prefix`` and each next character."""

    def common_prefix(self, prefix: str) -> str:
        """The longest prefix every stem starting with ``prefix`` shares (``prefix`` itself when none does)."""


@dataclass
class _Leaf:
    prefix: str
    triggers: int
    probes: list[str] = field(default_factory=list)


class _Planner:
    def __init__(self, counts: StemCounts, shard_size: int) -> None:
        self._counts = counts
        self._shard_size = shard_size
        self.leaves: list[_Leaf] = []
        self._probes: list[str] = []  # split prefixes waiting for the next leaf (they sort right before it)

    def expand(self, prefix: str, total: int) -> None:
        """Leaves for the names under ``prefix``, which holds ``total`` (more than a shard's worth) stems."""
        common = self._counts.common_prefix(prefix)
        # One child holds them all: no need to count (long shared id prefixes would cost a scan per character).
        counts = (
            {common[len(prefix)]: total} if len(common) > len(prefix) else self._counts.count_by_next_character(prefix)
        )
        for character in ALPHABET:
            child, count = prefix + character, counts.get(character, 0)
            if count > self._shard_size and len(child) < MAX_SPLIT_LENGTH:
                self._probes.append(child)
                self.expand(child, count)
            else:
                self.leaves.append(_Leaf(child, count, self._probes))
                self._probes = []


def plan_shards(counts: StemCounts, shard_size: int) -> list[Shard]:
    """Shards of at most ``shard_size`` cron triggers (a prefix that cannot be split further may hold more)."""
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    total = sum(counts.count_by_next_character("").values())
    if total <= shard_size:
        return [Shard(prefixes=("",), triggers=total)]  # one listing of the whole group
    planner = _Planner(counts, shard_size)
    planner.expand("", total)
    return _grouped(planner.leaves, shard_size)


def _grouped(leaves: Sequence[_Leaf], shard_size: int) -> list[Shard]:
    """Consecutive leaves into shards, each up to ``shard_size`` triggers."""
    shards: list[Shard] = []
    prefixes: list[str] = []
    probes: list[str] = []
    triggers = 0
    for leaf in leaves:
        if prefixes and (triggers + leaf.triggers > shard_size or len(prefixes) >= MAX_PREFIXES_PER_SHARD):
            shards.append(Shard(tuple(prefixes), tuple(probes), triggers))
            prefixes, probes, triggers = [], [], 0
        prefixes.append(leaf.prefix)
        probes.extend(leaf.probes)
        triggers += leaf.triggers
    shards.append(Shard(tuple(prefixes), tuple(probes), triggers))
    return shards
