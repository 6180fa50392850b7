"""Every Redis command is issued in `workers/state/`: elsewhere a Redis connection or pipeline is only passed on.

Read with `ast`, as the layers are checked by import-linter: in every module of `bot/` and `workers/` outside
`workers/state/`, no method is called on a name that holds a Redis connection or pipeline (a parameter or
variable annotated `Redis` or `Pipeline`, or one of the names the code gives them).
"""

from __future__ import annotations

import ast

import pytest

from tests.helpers import ROOT

CONVENTIONAL = {"conn", "pipe", "connection", "connection_", "redis_conn"}
TYPES = {"Redis", "Pipeline", "RedisClient"}


def _redis_names(tree: ast.AST) -> set[str]:
    names = set(CONVENTIONAL)
    for node in ast.walk(tree):
        annotation = getattr(node, "annotation", None) if isinstance(node, ast.arg | ast.AnnAssign) else None
        if annotation is not None and any(isinstance(n, ast.Name) and n.id in TYPES for n in ast.walk(annotation)):
            target = node.arg if isinstance(node, ast.arg) else getattr(node.target, "id", None)
            if target:
                names.add(target)
    return names


def commands_in(tree: ast.AST, where: str) -> list[str]:
    """`where:line name.method` for each method called on a Redis connection or pipeline in `tree`."""
    names = _redis_names(tree)
    return [f"{where}:{node.lineno} {node.func.value.id}.{node.func.attr}" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id in names]  # fmt: skip


def commands_outside_state() -> list[str]:
    """Every Redis command issued by a module of `bot/` or `workers/` outside `workers/state/`."""
    found = []
    for path in sorted([*ROOT.glob("bot/**/*.py"), *ROOT.glob("workers/**/*.py")]):
        if path.relative_to(ROOT).parts[:2] != ("workers", "state"):
            found += commands_in(ast.parse(path.read_text()), str(path.relative_to(ROOT)))
    return found


def test_no_redis_command_is_issued_outside_the_state_layer() -> None:
    assert commands_outside_state() == []


@pytest.mark.parametrize("source", ["conn.hset(k, 'f', 'v')", "pipe.zadd(k, {'a': 1})", "r.get(k)"])
def test_the_check_sees_a_redis_command_on_a_connection_or_pipeline(source: str) -> None:
    tree = ast.parse(f"def f(conn, pipe, k, r: Redis, other):\n    other.get(k)\n    {source}\n")
    assert commands_in(tree, "m.py") == [f"m.py:3 {source.split('(')[0]}"]


def test_every_redis_client_is_made_by_the_one_connection_factory() -> None:
    """TLS, the ACL user, Sentinel and the replicas to wait for are set in one place, for every process."""
    made = []
    for path in sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name in ("Redis", "Redis.from_url", "Client.from_url", "Sentinel", "StrictRedis"):
                    made.append(f"{where}:{node.lineno} {name}")
    assert made and all(m.startswith("workers/state/connection.py:") for m in made), made
