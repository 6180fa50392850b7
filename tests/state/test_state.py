"""The state machine on a real redis-server: only the table's moves happen, atomically, with what they cause."""

from __future__ import annotations

import logging

import pytest
from redis import Redis as RedisClient

from workers.state import keys, machine
from workers.state.machine import ALERT_MOVES, REQUEST_MOVES, AlertStatus, RequestStatus

S = RequestStatus


@pytest.fixture
def conn(redis_url: str) -> RedisClient:
    c = RedisClient.from_url(redis_url)
    c.flushall()
    return c


def test_every_move_the_table_refuses_is_refused_logged_and_not_written(
    conn: RedisClient, caplog: pytest.LogCaptureFixture
) -> None:
    for frm in RequestStatus:
        for to in RequestStatus:
            conn.hset(keys.request("r1"), mapping={"doc": "{}", "status": frm.value})
            with caplog.at_level(logging.INFO, logger="trail_audit.state"):
                left = machine.move_request(conn, "r1", to, then=lambda pipe: pipe.set("ta:caused", "1"))
            written = conn.hget(keys.request("r1"), "status")
            if to in REQUEST_MOVES.get(frm, frozenset()):
                assert left is frm and written == to.value.encode() and conn.get("ta:caused") == b"1"
            else:
                assert left is None and written == frm.value.encode() and conn.get("ta:caused") is None
                assert caplog.records[-1].getMessage() == "transition refused"
            conn.delete("ta:caused")


def test_a_request_is_indexed_by_its_status(conn: RedisClient) -> None:
    machine.create_request(conn, "r2", "{}")
    assert conn.smembers(keys.REQUESTS_PENDING) == {b"r2"}
    for to, index in ((S.PENDING, keys.REQUESTS_PENDING), (S.APPROVED, keys.REQUESTS_APPROVED),
                      (S.EXECUTING, keys.REQUESTS_EXECUTING), (S.ACTIVE, keys.REQUESTS_ACTIVE)):  # fmt: skip
        assert machine.move_request(conn, "r2", to) is not None
        others = {keys.REQUESTS_PENDING, keys.REQUESTS_APPROVED, keys.REQUESTS_EXECUTING, keys.REQUESTS_ACTIVE}
        assert conn.smembers(index) == {b"r2"} and all(not conn.smembers(o) for o in others - {index})
    assert machine.move_request(conn, "r2", S.RESTORED) is S.ACTIVE
    assert not conn.smembers(keys.REQUESTS_ACTIVE)


def test_an_expected_status_narrows_the_table(conn: RedisClient) -> None:
    conn.hset(keys.request("r3"), mapping={"doc": "{}", "status": S.EXECUTING.value})
    assert machine.move_request(conn, "r3", S.RESTORED, expect={S.ACTIVE, S.UNKNOWN}) is None
    assert machine.move_request(conn, "r3", S.RESTORED, expect={S.EXECUTING}) is S.EXECUTING


def test_alerts_follow_their_table_and_leave_the_open_index_when_recovered(conn: RedisClient) -> None:
    pipe = conn.pipeline(transaction=True)
    machine.create_alert(pipe, "a1", "k1", '{"key": "k1"}')
    pipe.execute()
    assert conn.hget(keys.ALERTS_OPEN, "k1") == b"a1"
    assert machine.move_alert(conn, "a1", AlertStatus.ACKNOWLEDGED) is AlertStatus.OPEN
    assert conn.hget(keys.ALERTS_OPEN, "k1") == b"a1"  # acknowledged is still unresolved
    assert machine.move_alert(conn, "a1", AlertStatus.RECOVERED) is AlertStatus.ACKNOWLEDGED
    assert conn.hget(keys.ALERTS_OPEN, "k1") is None
    for to in AlertStatus:
        assert machine.move_alert(conn, "a1", to) is None  # nothing leaves recovered
    assert AlertStatus.RECOVERED not in ALERT_MOVES
