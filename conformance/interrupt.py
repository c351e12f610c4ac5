"""Run the harness's event loop so that a signal ends it cleanly.

SIGINT, SIGTERM and SIGHUP cancel the run; every ``finally`` on the way (QEMU's
``terminate()``, temporary folders) runs inside the loop; then
:class:`~conformance.errors.Interrupted` tells the CLI to exit ``128 + signum`` without
reporting a partial run as a result.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

from conformance.errors import Interrupted

T = TypeVar("T")


def run_interruptible(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, turning SIGINT/SIGTERM/SIGHUP into a clean cancellation.

    The signal cancels ``main``; every ``finally`` on the way (QEMU's ``terminate()``,
    the temporary folder) runs inside the loop, then :class:`Interrupted` is raised so
    the CLI can exit ``128 + signum`` without reporting a partial run as a result.
    """
    got: list[int] = []

    async def wrapper() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(signum: int) -> None:
            got.append(signum)
            # The process is on its way out with no result: asyncio's child watcher may
            # still warn about the QEMUs our clean-up reaped itself ("Unknown child
            # process", "Loop ... is closed").  The one line the CLI prints is the message.
            logging.getLogger("asyncio").setLevel(logging.ERROR)
            task.cancel()  # and every task under it, so no inner task can run on
            for t in asyncio.all_tasks():
                if t is not task:
                    t.cancel()

        def on_loop_exception(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            # Cancelling every task also cancels qemu.qmp's internal gather of its
            # reader/writer; nobody retrieves what it ended with (CancelledError, or
            # EOFError once the QEMU we terminated closed its socket), and asyncio would
            # log "exception was never retrieved" when the future is collected.  After a
            # signal these are our own teardown, and no result is reported anyway.
            if got and (isinstance(context.get("exception"), asyncio.CancelledError)
                        or "never retrieved" in str(context.get("message", ""))):
                return
            lp.default_exception_handler(context)

        loop.set_exception_handler(on_loop_exception)
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
            except (ValueError, RuntimeError, NotImplementedError):  # not main thread
                pass
        try:
            try:
                result = await main
            except asyncio.CancelledError:
                if got:
                    raise Interrupted(got[0]) from None
                raise
            if got:  # a cancellation was absorbed somewhere: still not a result
                raise Interrupted(got[0])
            return result
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    return asyncio.run(wrapper())
