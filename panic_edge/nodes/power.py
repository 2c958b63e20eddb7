"""A screen's power at opening and closing time: the configured shell commands
(``[schedule] screen_off_command`` / ``screen_on_command``, e.g. ``vcgencmd display_power 0``,
``cec-client``, ``xset dpms force off``), run when the appliance's status says it closed or opened.

A command that fails or hangs is logged and given up on (10 s): the screen then shows the closed
view instead, which is always drawn underneath.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

log = logging.getLogger("panic_edge.nodes")

TIMEOUT = 10.0


class ScreenPower:
    def __init__(self, off_command: str, on_command: str) -> None:
        self.off_command = off_command
        self.on_command = on_command
        self.closed: bool | None = None  # as last seen; None before the first status
        self._task: asyncio.Task[bool] | None = None

    def seen(self, closed: bool) -> None:
        """The appliance is closed (or open): switch the screen once per change."""
        if closed == self.closed:
            return
        first, self.closed = self.closed is None, closed
        command = self.off_command if closed else self.on_command
        if command and not (first and not closed):  # at start while open: leave the screen as it is
            self._task = asyncio.get_running_loop().create_task(run(command), name="screen power")


async def run(command: str, timeout: float = TIMEOUT) -> bool:
    """Run ``command`` in a shell; True if it succeeded."""
    try:
        process = await asyncio.create_subprocess_shell(command, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as err:
        log.warning("screen power: cannot run %r: %s", command, err)
        return False
    try:
        async with asyncio.timeout(timeout):
            _, stderr = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the shell and whatever it started
        await process.wait()
        log.warning("screen power: %r did not finish within %g s; gave up", command, timeout)
        return False
    if process.returncode != 0:
        log.warning("screen power: %r failed (%s): %s", command, process.returncode,
                    stderr.decode("utf-8", "replace").strip()[:200])
        return False
    log.info("screen power: ran %r", command)
    return True
