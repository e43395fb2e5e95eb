"""Run notebooks with nbclient, robust to a lost wake-up on the kernel's channels.

With ipywidgets, nbclient sometimes waits out its whole cell timeout for an execute reply that already
arrived (jupyter/nbclient#312): the channel's poll misses the socket's event and only finds the message when
the wait times out. Polling in one-second slices bounds that delay to a second; a cell that really runs too
long still times out as before. Used by `make outputs` (tools/execute.py) and tools/editions.py.
"""

import time
from queue import Empty

from nbclient import NotebookClient
from nbclient.util import run_sync
from nbconvert.preprocessors import ExecutePreprocessor

SLICE_S = 1.0


def poll_in_slices(channel, slice_s: float = SLICE_S) -> None:
    """Replace `channel.get_msg(timeout)` by the same wait cut into polls of at most `slice_s` seconds."""
    get_msg = channel.get_msg

    async def sliced(timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_s if deadline is None else max(0.0, min(slice_s, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    channel.get_msg = sliced


class SlicedPolling:
    """Mixin for an nbclient client: its shell and IOPub channels poll in slices."""

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            poll_in_slices(channel)
        return kc

    def start_new_kernel_client(self):
        # nbclient binds its sync twin (used by the sync setup_kernel, and so by nbconvert's ExecutePreprocessor)
        # to its own coroutine, which would skip the override above: route it through the override
        return run_sync(self.async_start_new_kernel_client)()


class RobustNotebookClient(SlicedPolling, NotebookClient):
    """nbclient's NotebookClient with sliced polling."""


class RobustExecutePreprocessor(SlicedPolling, ExecutePreprocessor):
    """nbconvert's ExecutePreprocessor with sliced polling."""
