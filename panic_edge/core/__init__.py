"""The pure core: domain records, catalogue, validation, runner transitions, MQTT schema.

Nothing in this package performs I/O or imports asyncio, sqlite, paho, httpx or pygame;
the shells in :mod:`panic_edge.daemon` drive it.
"""
