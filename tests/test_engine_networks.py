"""Adding, replacing and removing networks on a running engine (the admin page's edits)."""

from __future__ import annotations

import asyncio

import pytest

from panic_edge.core.network import Network
from panic_edge.errors import CommandError

NIGHT = Network("night", "Night", ("local-painter", "local-captioner"))


async def wait_for(probe, predicate, timeout=10.0):
    return await asyncio.to_thread(probe.wait_for, predicate, timeout)


async def test_a_new_network_is_added_idle_and_announced(daemon, probe):
    assert await daemon.engine.put_network(NIGHT) is True
    assert daemon.engine.states["night"].phase == "idle"
    await wait_for(probe, lambda t, b: t.endswith("networks/night/state") and b["state"] == "idle")
    run_id = await daemon.engine.start("night", "owls")
    assert daemon.engine.states["night"].run.run_id == run_id


async def test_an_idle_network_is_replaced_keeping_its_place_in_the_prompts(daemon):
    await daemon.engine.put_network(NIGHT)
    await daemon.engine.press("night")
    await daemon.engine.stop("night")
    renamed = Network("night", "Night two", NIGHT.models)
    assert await daemon.engine.put_network(renamed) is False
    assert daemon.engine.networks["night"].name == "Night two"
    assert daemon.engine.states["night"].next_prompt == 0  # one prompt: wrapped back to the first


async def test_a_running_network_is_not_replaced_or_removed(daemon):
    await daemon.engine.start("demo", "busy")
    with pytest.raises(CommandError, match="stop it before changing it"):
        await daemon.engine.put_network(Network("demo", "Other", ("local-poet",)))
    with pytest.raises(CommandError, match="stop it before deleting it"):
        await daemon.engine.remove_network("demo")
    assert daemon.engine.states["demo"].phase == "running"
    assert daemon.engine.networks["demo"].name != "Other"


async def test_a_removed_network_is_gone_and_its_retained_state_cleared(daemon, probe):
    await daemon.engine.put_network(NIGHT)
    await daemon.engine.remove_network("night")
    assert "night" not in daemon.engine.states and "night" not in daemon.daemon.status()["networks"]
    await wait_for(probe, lambda t, b: t.endswith("networks/night/state") and b in (None, "", b""))
    with pytest.raises(CommandError, match="unknown network"):
        await daemon.engine.start("night", "x")
