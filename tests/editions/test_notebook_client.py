"""tools/notebook_client: a wait on a kernel channel is cut into short polls, and still times out."""

import asyncio
import time
from queue import Empty

import nbformat
import pytest
from edition_tools import RobustNotebookClient  # noqa: F401  (puts tools/ on the path)
from execute import coalesce_streams
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


@pytest.mark.parametrize("client", ["RobustNotebookClient", "RobustExecutePreprocessor"])
def test_the_kernel_started_by_the_sync_set_up_polls_in_slices(client):
    # nbconvert's ExecutePreprocessor (the HTML edition) starts its kernel through nbclient's sync setup_kernel,
    # whose start_new_kernel_client was bound to nbclient's own coroutine: without the mixin's sync twin the
    # channels kept their blocking wait, and a missed wake-up cost a whole cell timeout (600 s)
    import nbformat
    import notebook_client

    nb = nbformat.v4.new_notebook()
    if client == "RobustNotebookClient":
        runner = notebook_client.RobustNotebookClient(nb, kernel_name="python3")
    else:  # the preprocessor is given its notebook by preprocess(), which then calls setup_kernel
        runner = notebook_client.RobustExecutePreprocessor(kernel_name="python3")
        runner.nb = nb
    with runner.setup_kernel():
        channels = (runner.kc.shell_channel, runner.kc.iopub_channel)
        assert all(channel.get_msg.__name__ == "sliced" for channel in channels)


def test_make_outputs_stores_one_stream_per_print():
    # a print the kernel flushed in two chunks is stored as one output, as nbval compares it
    outputs = [nbformat.v4.new_output("stream", name="stdout", text="Config(steps=500)"),
               nbformat.v4.new_output("stream", name="stdout", text="\n"),
               nbformat.v4.new_output("stream", name="stderr", text="warning\n"),
               nbformat.v4.new_output("stream", name="stdout", text="done\n")]
    merged = coalesce_streams(outputs)
    assert [(o.name, o.text) for o in merged] == [("stdout", "Config(steps=500)\n"), ("stderr", "warning\n"),
                                                 ("stdout", "done\n")]
