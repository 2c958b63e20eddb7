"""Commands from MQTT (and the keyboard) turned into engine calls, and answers for them.

This is the one place where errors become replies: whatever a command does, the caller gets
``ok`` and a message, and the daemon keeps running.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from panic_edge.core import payloads
from panic_edge.core.payloads import Command, parse_command
from panic_edge.daemon.button_network import ButtonNetwork
from panic_edge.daemon.engine import Engine
from panic_edge.errors import CommandError, LockoutError, PayloadError, StartBudgetError, StoreError

log = logging.getLogger("panic_edge.commands")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    extra: dict[str, Any]


class CommandHandler:
    def __init__(self, engine: Engine, button: ButtonNetwork) -> None:
        self.engine = engine
        self.button = button

    async def answer(self, name: str, payload: bytes) -> bytes:
        """The ``cmd/reply`` payload for one ``cmd/<name>`` message. Never raises (but for cancellation):
        a bug in handling a command is logged with its traceback and answered, and the daemon goes on."""
        request_id = None
        try:
            command, request_id, outcome = self._parse(name, payload)
            if command is not None:
                outcome = await self.handle(command)
        except Exception:
            log.exception("bug: cmd/%s raised; answered with an error and carried on", name[:40])
            outcome = Outcome(False, "the appliance hit an internal error handling this command (logged); "
                              "try again", {})
        return payloads.reply(name[:64], request_id, outcome.ok, outcome.message, **outcome.extra)

    async def handle_raw(self, name: str, payload: bytes) -> tuple[Command | None, Outcome]:
        """Parse and run a command from its MQTT topic name and payload."""
        command, _, outcome = self._parse(name, payload)
        return (command, await self.handle(command)) if command is not None else (None, outcome)

    @staticmethod
    def _parse(name: str, payload: bytes) -> tuple[Command | None, str | None, Outcome]:
        """(command, its request_id, a refusal for a malformed one)."""
        try:
            command = parse_command(name, payload)
        except PayloadError as err:
            log.warning("malformed cmd/%s: %s", name[:40], err)
            return None, err.request_id, Outcome(False, str(err), {})
        return command, command.request_id, Outcome(True, "", {})

    async def handle(self, command: Command) -> Outcome:
        try:
            match command.name:
                case "start":
                    assert command.prompt
                    network = command.network or self.button.current
                    run_id = await self.engine.start(network, command.prompt)
                    return self._started(network, run_id)
                case "press":
                    network = command.network or self.button.current
                    run_id = await self.engine.press(network)
                    return self._started(network, run_id)
                case "stop":
                    assert command.network
                    was = await self.engine.stop(command.network)
                    return Outcome(True, f"stopped {command.network}" if was
                                   else f"{command.network} was idle", {})
                case "button-network":
                    assert command.network
                    self.button.choose(command.network)
                    return Outcome(True, f"the panic button now drives {command.network}",
                                   {"network": command.network})
                case "stop-all":
                    stopped = await self.engine.stop_all()
                    return Outcome(True, f"stopped {', '.join(stopped)}" if stopped else "all idle",
                                   {"stopped": stopped})
        except (LockoutError, StartBudgetError) as err:
            log.info("refused %s: %s", command.name, err)
            return Outcome(False, str(err), {"retry_after": round(err.remaining, 1)})
        except CommandError as err:
            log.info("refused %s: %s", command.name, err)
            return Outcome(False, str(err), {})
        except StoreError as err:
            log.error("could not carry out %s: %s", command.name, err)
            return Outcome(False, str(err), {})
        return Outcome(False, f"unknown command {command.name!r}", {})

    def _started(self, network: str, run_id: str) -> Outcome:
        run = self.engine.states[network].run
        if run is not None and run.held:
            return Outcome(True, f"started {network}; the appliance is offline, so it waits for the "
                           f"internet and goes on by itself", {"run_id": run_id, "held": True})
        return Outcome(True, f"started {network}", {"run_id": run_id})
