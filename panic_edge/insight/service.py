"""The daemon's side of insight: a bounded queue of completed outputs feeding the worker process.

``InsightService.open(...)`` is an async context manager the composition root enters once. On
the loop it only appends to a bounded deque (the engine's invocation listener), hands what the
worker computed to the store's one writer and publishes the worker's message once that is
committed; everything slow happens in the worker process (``insight.worker``), which never
writes the database itself, so a stopped or slow worker holds no lock the loop's writes wait
for. A job's writes come in chunks (``insight.changes.CHUNK`` rows); each is committed before
the next is read, so insight has at most one small write in the writer's queue at a time, and
a background one: it joins the next commit of the loop's own writes rather than costing a
commit (an fsync) of its own, or commits alone after 0.25 s when the loop is not writing.
The queue never grows past ``[insight] queue``: when the worker falls behind, the oldest
waiting output is dropped and counted; the worker's next job for that run fills the gap from
the database, so a drop delays a point, it does not lose it.

When insight cannot run (the extra not installed, no model, turned off), the service says why
in one log line and in the status, and does nothing else: the loop runs exactly as without it.
A worker that dies is started again with a growing pause; one that cannot load its model turns
insight off with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

from panic_edge.config import Config
from panic_edge.core.topics import Topics
from panic_edge.insight import model_dir, why_off
from panic_edge.insight.changes import Changes, apply

log = logging.getLogger("panic_edge.insight")

LOAD_TIMEOUT = 180.0  # seconds a worker may take to import and load its model
JOB_TIMEOUT = 300.0  # seconds one output may take before the worker is restarted
MAX_LINE = 4 * 1024 * 1024
MIN_GAP = 0.1  # seconds from one job to the next, at least: the worker's share of the CPU has a ceiling


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...


class Listens(Protocol):
    def on_invocation(self, listener: Callable[[dict[str, Any]], None]) -> None: ...


class Writes(Protocol):
    def submit(self, fn: Callable[[sqlite3.Connection], None], committing: Callable[[], None] | None = None,
               background: bool = False) -> asyncio.Future[None]: ...


class InsightService:
    def __init__(self, config: Config, store: Writes, publisher: Publisher, topics: Topics,
                 labels: Mapping[str, str], on_insight: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.config = config
        self.store = store
        self.publisher = publisher
        self.topics = topics
        self.labels = dict(labels)
        self.on_insight = on_insight
        self.state = "off"
        self.reason: str | None = None
        self.model: str | None = None
        self.dim: int | None = None
        self.image_model: str | None = None
        self.queue: deque[tuple[str, str]] = deque(maxlen=config.insight.queue)  # (invocation id, run id)
        self.dropped = self.done = self.failed = 0
        self.last_seconds: float | None = None
        self.worker_pid: int | None = None
        self._wake = asyncio.Event()
        self._closing = False

    @classmethod
    @asynccontextmanager
    async def open(cls, config: Config, engine: Listens, store: Writes, publisher: Publisher, topics: Topics,
                   labels: Mapping[str, str], on_insight: Callable[[dict[str, Any]], None] | None = None,
                   ) -> AsyncIterator[InsightService]:
        service = cls(config, store, publisher, topics, labels, on_insight)
        reason = why_off(config)
        if reason is not None:
            service.reason = reason
            log.info("insight is off: %s", reason)
            yield service
            return
        service.state = "starting"
        engine.on_invocation(service.offer)
        task = asyncio.create_task(service._supervise(), name="insight")
        try:
            yield service
        finally:
            service._closing = True
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # --- on the loop: cheap ------------------------------------------------------------------

    @property
    def modalities(self) -> tuple[str, ...]:
        return ("text", "image") if self.image_model else ("text",)

    def offer(self, body: dict[str, Any]) -> None:
        """The engine's invocation listener: queue a completed output for embedding. Never blocks."""
        if self._closing or self.state == "off" or body.get("state") != "completed":
            return
        if body.get("output_type") not in self.modalities or not isinstance(body.get("id"), str):
            return
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1  # the deque drops its oldest
        self.queue.append((body["id"], str(body.get("run_id"))))
        self._wake.set()

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "model": self.model, "dim": self.dim,
                "image_model": self.image_model, "queued": len(self.queue), "dropped": self.dropped,
                "done": self.done, "failed": self.failed, "last_seconds": self.last_seconds}

    @staticmethod
    def _parse(line: bytes) -> dict[str, Any] | None:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict) or "kind" not in message:
            log.warning("insight: ignored a line from the worker that is not its protocol: %r", line[:120])
            return None
        return message

    def _answer(self, message: dict[str, Any] | None) -> dict[str, Any] | None:
        """A worker's answer; the header of a message to publish (whose payload is the next line)."""
        if message is None:
            return None
        kind = message["kind"]
        if kind == "error":
            self.failed += 1
            log.warning("insight: no insight for %s: %s", message.get("invocation_id"), message.get("error"))
            return None
        if kind != "done":
            return None
        self.done += 1
        self.last_seconds = message.get("seconds")
        return message if message.get("payload") and isinstance(message.get("network"), str) else None

    async def _write(self, message: dict[str, Any]) -> None:
        """One chunk of a job's changes, through the store's one writer; returns once committed. A
        chunk that cannot be stored is left out: the run's next job computes it again."""
        try:
            changes = Changes.from_json(message)
        except ValueError as err:
            log.warning("insight: ignored a write from the worker: %s", err)
            return
        try:
            await self.store.submit(lambda conn: apply(conn, changes), background=True)
        except Exception as err:  # noqa: BLE001  a storage fault, a closed store: never the worker's end
            log.warning("insight: could not store a result (%s); the run's next output fills it in", err)

    async def _outcome(self, stdout: asyncio.StreamReader) -> tuple[dict[str, Any] | None, bytes | None] | None:
        """One job's answer: its writes committed as they come, then (header, payload); None when
        the worker ended."""
        while True:
            async with asyncio.timeout(JOB_TIMEOUT):
                line = await stdout.readline()
            if not line:
                return None
            message = self._parse(line)
            if message is not None and message["kind"] == "write":
                await self._write(message)
                continue
            header = self._answer(message)
            payload = None
            if header:
                async with asyncio.timeout(10):
                    payload = await stdout.readline()
            return header, payload

    def _publish(self, header: dict[str, Any], payload: bytes) -> None:
        """The worker's message as it made it: one line of JSON, published without decoding it."""
        self.publisher.publish(self.topics.insight(header["network"]), payload.rstrip(b"\n"), qos=1, retain=False)
        if self.on_insight is not None:
            self.on_insight({k: header.get(k) for k in ("run_id", "network", "sequence", "embedding_model")})

    def _pop(self) -> str:
        """The oldest waiting output, skipping any whose run has a newer one waiting: the worker fills
        a run's gaps when it takes its newest output, so the older ones would only repeat work."""
        while True:
            invocation_id, run_id = self.queue.popleft()
            if not any(other == run_id for _, other in self.queue):
                return invocation_id

    async def _next_job(self) -> str:
        while not self.queue:
            self._wake.clear()
            await self._wake.wait()
        return self._pop()

    async def _job_unless(self, exited: asyncio.Future[int]) -> str | None:
        """The next job, or None as soon as the worker process ends (a job taken meanwhile goes back)."""
        if self.queue:
            return self._pop()
        waiting = asyncio.ensure_future(self._next_job())
        either: set[asyncio.Future[Any]] = {waiting, exited}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not waiting.done():
                waiting.cancel()
        if exited.done():
            if waiting.done() and not waiting.cancelled():
                self.queue.appendleft((waiting.result(), ""))
            return None
        return waiting.result()

    # --- the worker process ------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        insight = self.config.insight
        return {"database": str(self.config.database_path), "archive": str(self.config.archive_dir),
                "model_dir": str(model_dir(self.config)),
                "image_model_dir": str(insight.image_model_dir.expanduser()) if insight.image_model_dir else None,
                "window": insight.window, "stuck_steps": insight.stuck_steps, "stuck_epsilon": insight.stuck_epsilon,
                "loop_epsilon": insight.loop_epsilon, "labels": self.labels, "threads": 2}

    async def _supervise(self) -> None:
        pause = 1.0
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                if await self._run_worker():
                    return  # off for good: the reason is logged and in the status
            except asyncio.CancelledError:
                raise
            except Exception as err:  # never let insight take the daemon down
                log.warning("insight: the worker failed (%s: %s)", type(err).__name__, err, exc_info=True)
            if loop.time() - began > 120:
                pause = 1.0
            self.state = "starting"
            log.warning("insight: the worker stopped; starting it again in %.0f s", pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 60.0)

    async def _run_worker(self) -> bool:
        """Run one worker until it ends; True when insight must stay off (the model cannot load)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "panic_edge.insight.worker", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=worker_env(), limit=MAX_LINE,
            process_group=0)  # its own group: a terminal's Ctrl-C goes to the daemon, which ends the worker
        assert proc.stdin is not None and proc.stdout is not None
        self.worker_pid = proc.pid
        loop = asyncio.get_running_loop()
        try:
            proc.stdin.write(json.dumps(self._settings()).encode() + b"\n")
            await proc.stdin.drain()
            async with asyncio.timeout(LOAD_TIMEOUT):
                first = await proc.stdout.readline()
            try:
                hello = json.loads(first) if first else {}
            except ValueError:
                hello = {}
            if hello.get("kind") == "off":
                self.state, self.reason = "off", str(hello.get("reason"))
                log.warning("insight is off: %s", self.reason)
                return True
            if hello.get("kind") != "ready":
                return False
            self.state, self.reason = "on", None
            self.model, self.dim, self.image_model = hello.get("model"), hello.get("dim"), hello.get("image_model")
            log.info("insight on: %s (%s-d)%s, worker pid %s", self.model, self.dim,
                     f", images with {self.image_model}" if self.image_model else "", proc.pid)
            if hello.get("image_error"):
                log.warning("insight: images are not embedded: %s", hello["image_error"])
            exited = asyncio.ensure_future(proc.wait())
            while True:
                job = await self._job_unless(exited)
                if job is None:
                    return False  # the worker died while idle
                proc.stdin.write(json.dumps({"invocation_id": job}).encode() + b"\n")
                await proc.stdin.drain()
                sent = loop.time()
                try:
                    outcome = await self._outcome(proc.stdout)
                except TimeoutError:
                    log.warning("insight: the worker spent over %.0f s on %s; restarting it", JOB_TIMEOUT, job)
                    return False
                if outcome is None:
                    return False
                header, payload = outcome
                if header and not payload:
                    return False
                if header and payload:
                    self._publish(header, payload)
                # at most one output every MIN_GAP s: a flood of outputs (a replay storm, a benchmark)
                # costs the worker a bounded share of the CPU; the next job catches up on what it skipped
                await asyncio.sleep(max(0.0, MIN_GAP - (loop.time() - sent)))
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            return False
        finally:
            await _end(proc)


def worker_env() -> dict[str, str]:
    """The worker's environment: offline, one thread per numeric library (it shares 2 cores with the
    loop), and glibc's malloc told to hand large blocks back to the system when they are freed (by
    default it raises that threshold after the first large free, and the projection's refits and
    persistence's matrices would then stay in the worker's memory for good: 71 MB against 58 MB
    after 1,000 outputs)."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "131072"}


async def _end(proc: asyncio.subprocess.Process) -> None:
    """Close the worker's stdin (an idle worker exits at the end of its input); one busy with a job
    is ended with SIGTERM after a second (it has nothing to save: a job cut short is done again
    by the run's next), and killed if even that does not end it (a stopped process)."""
    if proc.returncode is None and proc.stdin is not None:
        try:
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):  # pragma: no cover
            pass
    for patience, then in ((1.0, proc.terminate), (5.0, proc.kill)):
        try:
            async with asyncio.timeout(patience):
                await proc.wait()
            return
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                then()
    await proc.wait()
