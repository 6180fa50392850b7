"""How an audit is split into RQ jobs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workers.audit.jobs import batches


@given(st.lists(st.text(min_size=1), unique=True, max_size=40), st.integers(min_value=-2, max_value=50))
def test_batches_cover_every_region_once_without_empty_parts(regions: list[str], parts: int) -> None:
    dealt = batches(regions, parts)
    assert sorted(r for b in dealt for r in b) == sorted(regions)
    assert all(dealt) and len(dealt) == (max(1, min(parts, len(regions))) if regions else 0)
    assert not dealt or max(map(len, dealt)) - min(map(len, dealt)) <= 1
