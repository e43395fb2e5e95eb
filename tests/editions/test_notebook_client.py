"""tools/notebook_client: a wait on a kernel channel is cut into short polls, and still times out."""

import asyncio
import time
from queue import Empty

import pytest
from edition_tools import RobustNotebookClient  # noqa: F401  (puts tools/ on the path)
from notebook_client import poll_in_slices


class LateChannel:
    """A channel whose message is ready after `ready_after` seconds but whose poll never wakes up for it."""

    def __init__(self, ready_after: float):
        self.ready_at = time.monotonic() + ready_after
        self.waits = []

    async def get_msg(self, timeout=None):
        self.waits.append(timeout)
        await asyncio.sleep(timeout)  # the missed wake-up: only the end of the wait finds the message
        if time.monotonic() >= self.ready_at:
            return {"msg_type": "execute_reply"}
        raise Empty


def test_a_missed_wake_up_costs_one_slice_not_the_whole_timeout():
    channel = LateChannel(ready_after=0.25)
    poll_in_slices(channel, slice_s=0.1)
    start = time.monotonic()
    assert asyncio.run(channel.get_msg(timeout=60))["msg_type"] == "execute_reply"
    assert time.monotonic() - start < 1.0
    assert max(channel.waits) <= 0.1


def test_a_message_that_never_comes_still_times_out():
    channel = LateChannel(ready_after=3600)
    poll_in_slices(channel, slice_s=0.1)
    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=0.35))
    assert 0.3 <= time.monotonic() - start < 1.0
