"""Rewrite Vigil's single-node DDL for a ClickHouse cluster (``clickhouse_cluster`` setting).

``on_cluster(sql, cluster)`` adds ``ON CLUSTER '<cluster>'`` to ``CREATE TABLE``/``CREATE MATERIALIZED
VIEW``/``ALTER TABLE`` statements and turns ``MergeTree``/``ReplacingMergeTree`` engines into their
``Replicated*`` forms keyed by the ``{shard}``/``{replica}`` macros, so every replica of every shard
holds the tables and writes to any replica are replicated. ``Null`` staging tables and the
materialized views are created on every node too, so any node can take inserts. With an empty
``cluster`` the statement is returned unchanged (single node, chDB).
"""

from __future__ import annotations

import re

_PATH = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
_CREATE = re.compile(r"^(\s*CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS [A-Za-z0-9_.`]+)", re.S)
_ALTER = re.compile(r"^(\s*ALTER TABLE [A-Za-z0-9_.`]+)", re.S)


def quote_cluster(cluster: str) -> str:
    """Quote ``cluster`` as a SQL string literal for ``ON CLUSTER``.

    Raises:
        ValueError: ``cluster`` is empty or holds characters other than letters, digits, ``_``,
            ``.`` and ``-`` (so it can never break out of the literal).
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", cluster):
        raise ValueError(f"invalid cluster name {cluster!r}")
    return f"'{cluster}'"


def on_cluster(sql: str, cluster: str) -> str:
    """Rewrite one DDL statement for ``cluster`` (see the module docstring); pure text rewriting.

    Only the first ``CREATE … IF NOT EXISTS`` or ``ALTER TABLE`` at the start of ``sql`` gets the
    ``ON CLUSTER`` clause; other statements pass through with at most their engines rewritten.

    Args:
        sql: A single ClickHouse DDL statement.
        cluster: The cluster name; '' returns ``sql`` unchanged.

    Returns:
        The rewritten statement.

    Raises:
        ValueError: ``cluster`` is not a valid cluster name (see :func:`quote_cluster`).
    """
    if not cluster:
        return sql
    clause = f" ON CLUSTER {quote_cluster(cluster)}"
    out = _CREATE.sub(lambda m: m.group(1) + clause, sql, count=1)
    out = _ALTER.sub(lambda m: m.group(1) + clause, out, count=1)
    out = re.sub(r"ENGINE = ReplacingMergeTree\(([^)]*)\)", rf"ENGINE = ReplicatedReplacingMergeTree({_PATH}, \1)", out)
    out = re.sub(r"ENGINE = AggregatingMergeTree(\(\))?", f"ENGINE = ReplicatedAggregatingMergeTree({_PATH})", out)
    out = re.sub(r"ENGINE = MergeTree(\(\))?", f"ENGINE = ReplicatedMergeTree({_PATH})", out)
    return out
