"""What the admin page may do to the running daemon, callable from any thread.

The page runs on waitress threads; the engine lives on the asyncio loop. Every engine call here
crosses over in one line, ``asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)``, and
errors come back as the engine raised them (CommandError and its kind), for the page to show.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from panic_edge import backup
from panic_edge.core.installation import Installation
from panic_edge.core.model import Model
from panic_edge.core.network import SLUG, Network, chain_errors
from panic_edge.core.restart import restart_prompt
from panic_edge.daemon.engine import Engine
from panic_edge.daemon.installations import Installations
from panic_edge.daemon.screens import Screens
from panic_edge.errors import CommandError
from panic_edge.network_files import DEMO, write_network
from panic_edge.store import queries
from panic_edge.store.reader import Reader

T = TypeVar("T")
TIMEOUT = 15.0


class Control:
    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop, catalogue: Mapping[str, Model],
                 networks_dir: Path | None, database: Path, backups_dir: Path,
                 screens: Screens | None = None) -> None:
        self.engine = engine
        self.loop = loop
        self.catalogue = catalogue
        self.networks_dir = networks_dir
        self.database = database
        self.backups_dir = backups_dir
        self.reader = Reader(database)
        self.installations: Installations | None = None  # set by the daemon once the bus is up
        self.screens = screens

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    # --- runs -------------------------------------------------------------------------------

    def start(self, network: str, prompt: str) -> str:
        """Start a run from the admin page. The admin's word is final: a run in progress is
        replaced at once, whatever its lockout (the lockout keeps visitors from interrupting
        each other, not the people running the installation)."""
        async def go() -> str:
            self.engine.check_start_budget()  # refused before stopping the current run, not after
            if network in self.engine.states and self.engine.states[network].run is not None:
                await self.engine.stop(network, "replaced from the admin page")
            return await self.engine.start(network, prompt)
        return self._run(go())

    def start_as_visitor(self, network: str, prompt: str) -> str:
        """Start a run from a visitor's phone: the engine's own start, so the lockout (and every other
        rule of a start) applies. Raises LockoutError while another visitor's run is young."""
        return self._run(self.engine.start(network, prompt))

    def stop(self, network: str) -> bool:
        return self._run(self.engine.stop(network))

    def stop_all(self) -> list[str]:
        return self._run(self.engine.stop_all())

    def restart_from(self, invocation_id: str, network: str | None = None) -> tuple[str, str, str]:
        """Start a new run whose prompt is the chosen invocation's output (see core.restart).
        Returns (network, run id, prompt)."""
        inv = self.reader.invocation(invocation_id)
        if inv is None:
            raise CommandError(f"there is no invocation {invocation_id!r}")
        run = self.reader.run(inv.run_id)
        assert run is not None
        # the chosen step and the nearest text before it: all restart_prompt reads, however long the run
        source = self.reader.read(queries.nearest_text_input, run.id, inv.sequence)
        prompt = restart_prompt(run, [inv] if source is None or source.id == inv.id else [source, inv],
                                invocation_id)
        target = network or inv.network
        return target, self.start(target, prompt), prompt

    def running(self, network: str) -> bool:
        state = self.engine.states.get(network)
        return state is not None and state.run is not None

    def loaded(self, network: str) -> Network | None:
        return self.engine.networks.get(network)

    # --- networks ---------------------------------------------------------------------------

    def _folder(self) -> Path:
        if self.networks_dir is None:
            raise CommandError("no networks_dir is configured, so networks cannot be saved; set "
                               "networks_dir in the config file and restart")
        return self.networks_dir

    def save_network(self, network: Network) -> list[str]:
        """Write the network's file, then load it if it can run (or unload it if it cannot).
        Returns the reasons it cannot run (empty if it can). A running network is refused."""
        folder = self._folder()
        if self.running(network.slug):
            raise CommandError(f"network {network.slug!r} is running; stop it before changing it")
        problems = chain_errors(network, self.catalogue)
        write_network(folder, network)
        if not problems:
            self._run(self.engine.put_network(network))
        else:
            self._unload(network.slug)
        return problems

    def delete_network(self, slug: str) -> None:
        """Delete the network's file and unload it. A running network is refused."""
        if not SLUG.match(slug):  # never a path: no file was ever saved under such a name
            raise CommandError(f"there is no network file {slug[:80]!r}.toml to delete")
        path = self._folder() / f"{slug}.toml"
        if self.running(slug):
            raise CommandError(f"network {slug!r} is running; stop it before deleting it")
        if not path.is_file():
            raise CommandError(f"there is no network file {path.name} to delete")
        path.unlink()
        self._unload(slug)

    def _unload(self, slug: str) -> None:
        if slug == DEMO.slug:  # the built-in demo shows through again, as it does at start
            self._run(self.engine.put_network(DEMO))
        elif slug in self.engine.networks:
            self._run(self.engine.remove_network(slug))

    # --- installations (daemon/installations.py, on the loop) ------------------------------------

    def _installations(self) -> Installations:
        if self.installations is None:
            raise CommandError("installations are not available: the daemon is still starting")
        return self.installations

    def save_installation(self, installation: Installation, previous_name: str | None = None) -> None:
        async def go() -> None:
            self._installations().save(installation, previous_name)
        self._run(go())

    def switch_installation(self, name: str, network: str) -> Installation:
        async def go() -> Installation:
            return self._installations().switch(name, network)
        return self._run(go())

    def delete_installation(self, name: str) -> None:
        async def go() -> None:
            self._installations().delete(name)
        self._run(go())

    def installations_from_config(self) -> None:
        async def go() -> None:
            self._installations().use_config()
        self._run(go())

    # --- backups ----------------------------------------------------------------------------

    def restore(self, uploaded: Path) -> tuple[backup.BackupInfo, Path | None]:
        """Restore the database from ``uploaded`` (validated first). Refused while anything runs:
        the runs in progress would vanish from under the engine."""
        running = [slug for slug in self.engine.states if self.running(slug)]
        if running:
            raise CommandError(f"{', '.join(running)} running; stop all before restoring a backup")
        return backup.restore(uploaded, self.database, self.backups_dir)

    # --- remote screens -----------------------------------------------------------------------

    def node_command(self, node_id: str, verb: str) -> None:
        """``blank``, ``wake``, ``reload`` or ``screenshot`` to one node, sent from the loop."""
        if self.screens is None:
            raise CommandError("remote screens are not available here")
        screens = self.screens

        async def go() -> None:
            screens.command(node_id, verb)
        self._run(go())
