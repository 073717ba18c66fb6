"""queue.receive_count: the attempt number both queue consumers read from a Lambda SQS record."""

from __future__ import annotations

import pytest

from chalicelib.queue import receive_count


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [({"ApproximateReceiveCount": "3"}, 3), ({}, 1), ({"ApproximateReceiveCount": "0"}, 1),
     ({"ApproximateReceiveCount": "x"}, 1)],
)
def test_receive_count(attributes: dict[str, str], expected: int) -> None:
    assert receive_count({"attributes": attributes}) == expected
    assert receive_count({}) == 1
