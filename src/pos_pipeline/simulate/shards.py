"""Splitting the chain's stores into parts of about equal traffic: shards, and workers' shares.

A store's traffic is proportional to its floor area, so parts are balanced by floor area. The
split depends only on the reference data: every process and machine computes the same parts.
"""

from __future__ import annotations

from collections.abc import Sequence

from pos_pipeline.errors import ConfigError


def balanced_parts(weights: Sequence[int], count: int) -> list[list[int]]:
    """Positions of ``weights`` in ``count`` parts of about equal total, none empty, each ascending.

    Largest first, each to the lightest part so far (ties to the first part): deterministic.
    """
    if not 1 <= count <= len(weights):
        raise ValueError(f"cannot split {len(weights)} stores into {count} parts")
    parts: list[list[int]] = [[] for _ in range(count)]
    totals = [0] * count
    for position in sorted(range(len(weights)), key=lambda p: (-weights[p], p)):
        lightest = min(range(count), key=lambda k: (totals[k], k))
        parts[lightest].append(position)
        totals[lightest] += weights[position]
    return [sorted(part) for part in parts]


def parse_shard(text: str, stores: int) -> tuple[int, int]:
    """``K/N`` (1-based K) as (K, N); ConfigError (one line) for anything else."""
    shape = f"--shard must be K/N with 1 <= K <= N <= {stores} (the chain has {stores} stores), got {text!r}"
    kept, _, of = text.partition("/")
    try:
        shard = int(kept), int(of)
    except ValueError:
        raise ConfigError(shape) from None
    if not 1 <= shard[0] <= shard[1] <= stores:
        raise ConfigError(shape)
    return shard


def shard_stores(shard: tuple[int, int], floor_areas: Sequence[int]) -> list[int]:
    """The indices of the stores in shard ``K`` of ``N``."""
    kept, of = shard
    return balanced_parts(floor_areas, of)[kept - 1]
