"""Insight in the real daemon: a worker process, the insight topic, and the appliance without it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panic_edge.core.insight import parse_insight
from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content, MediaType
from panic_edge.store import writes
from tests.conftest import start_daemon
from tests.insight_fixtures import build_model2vec, module_blocker
from tests.mqtt_probe import Probe

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_model2vec(tmp_path_factory.mktemp("models") / "tiny-m2v")


async def wait_status(daemon, state: str, timeout: float = 20.0) -> dict:
    async with asyncio.timeout(timeout):
        while (status := daemon.daemon.status()["insight"])["state"] != state:
            await asyncio.sleep(0.05)
    return status


@pytest.fixture
def insight_config(make_config, model_dir):
    return make_config(PANIC_EDGE_INSIGHT_MODEL_DIR=str(model_dir))


@pytest.fixture
def probe(broker, insight_config):
    p = Probe(broker.url, f"panic/{insight_config.appliance_id}/#")
    yield p
    p.close()


async def test_each_text_output_gets_an_insight_message_qos1_not_retained(insight_config, broker, probe):
    config = insight_config
    daemon = await start_daemon(config)
    try:
        status = await wait_status(daemon, "on")
        assert (status["model"], status["dim"]) == ("tiny-m2v", 16)
        run_id = await daemon.engine.start("demo", "a camel in the desert")
        topic = f"panic/{config.appliance_id}/networks/demo/insight"
        first = await asyncio.to_thread(probe.wait_for, lambda t, b: t == topic, 20)
        later = await asyncio.to_thread(probe.wait_for, lambda t, b: t == topic and b["sequence"] > first["sequence"], 20)
        for body in (first, later):
            assert body["run_id"] == run_id and isinstance(body["invocation_id"], str)
            for field in ("drift", "step", "point", "flags", "loop_period", "persistence", "sequence"):
                assert field in body
        assert len(later["path"]) >= 2 and later["path"][-1]["sequence"] == later["sequence"]
        raw = next(p for t, p, _ in probe.messages if t == topic)
        assert parse_insight(raw).run_id == run_id
        await daemon.engine.stop("demo")
        late = Probe(broker.url, topic)  # a subscriber arriving now gets nothing: not retained
        try:
            await asyncio.sleep(0.5)
            assert late.messages == []
        finally:
            late.close()
        status = daemon.daemon.status()["insight"]
        assert status["done"] >= 2 and status["dropped"] == 0
    finally:
        await daemon.stop()


async def test_without_a_model_insight_is_off_with_one_log_line_and_the_loop_runs(make_config, caplog):
    config = make_config()
    daemon = await start_daemon(config)
    try:
        status = daemon.daemon.status()["insight"]
        assert status["state"] == "off" and "insight fetch" in status["reason"]
        run_id = await daemon.engine.start("demo", "a lighthouse")
        async with asyncio.timeout(10):
            while len(await daemon.engine.store.run_invocations(run_id)) < 3:
                await asyncio.sleep(0.05)
    finally:
        await daemon.stop()
    off = [r.getMessage() for r in caplog.records if "insight is off" in r.getMessage()]
    assert len(off) == 1 and "panic-edge insight fetch" in off[0]


async def test_a_model_that_cannot_load_turns_insight_off_with_the_reason(make_config, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    (broken / "tokenizer.json").write_text("{not json")
    daemon = await start_daemon(make_config(PANIC_EDGE_INSIGHT_MODEL_DIR=str(broken)))
    try:
        async with asyncio.timeout(20):
            while daemon.daemon.status()["insight"]["reason"] is None or \
                    daemon.daemon.status()["insight"]["state"] != "off":
                await asyncio.sleep(0.05)
        assert "cannot load" in daemon.daemon.status()["insight"]["reason"]
    finally:
        await daemon.stop()


async def test_a_killed_worker_is_started_again_and_insight_goes_on(insight_config, probe):
    config = insight_config
    daemon = await start_daemon(config)
    try:
        await wait_status(daemon, "on")
        service = daemon.daemon.insight
        old = service.worker_pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        async with asyncio.timeout(20):
            while service.worker_pid == old or service.state != "on":
                await asyncio.sleep(0.05)
        await daemon.engine.start("demo", "a red bicycle")
        topic = f"panic/{config.appliance_id}/networks/demo/insight"
        await asyncio.to_thread(probe.wait_for, lambda t, b: t == topic, 20)
    finally:
        await daemon.stop()


def run_env(tmp_path: Path, broker_url: str, appliance: str, model_dir: Path, pythonpath: str = str(REPO)) -> dict:
    """The environment of a real `panic-edge run` for a test: its own data, the test broker, fast local models."""
    env = {**os.environ, "PYTHONPATH": pythonpath, "PANIC_EDGE_DATA_DIR": str(tmp_path / "data"),
           "PANIC_EDGE_MQTT_URL": broker_url, "PANIC_EDGE_APPLIANCE_ID": appliance, "PANIC_EDGE_HTTP_PORT": "0",
           "PANIC_EDGE_LOCAL_MODELS_LATENCY": "0.05", "PANIC_EDGE_BUTTON_PIN_FACTORY": "mock",
           "PANIC_EDGE_KEYBOARD_ENABLED": "false", "PANIC_EDGE_INSIGHT_MODEL_DIR": str(model_dir)}
    env.pop("PANIC_EDGE_CONFIG", None)
    return env


def test_the_daemon_runs_and_says_why_without_the_insight_extra(tmp_path, broker):
    """A real `panic-edge run` in a Python where numpy, model2vec and ripser cannot be imported."""
    blocker = module_blocker(tmp_path / "block", "numpy", "model2vec", "pyRipser", "ripser", "onnxruntime")
    appliance = f"test-noextra-{os.getpid()}"
    env = run_env(tmp_path, broker.url, appliance, tmp_path, f"{blocker}{os.pathsep}{REPO}")
    probe = Probe(broker.url, f"panic/{appliance}/#")
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "panic_edge", "run"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        status = probe.wait_for(lambda t, b: t.endswith("/status") and isinstance(b, dict) and b["broker_connected"],
                                20)  # subscribed by then: a start is heard
        assert status["insight"]["state"] == "off" and "pip install 'panic-edge[insight]'" in status["insight"]["reason"]
        probe.publish(f"panic/{appliance}/cmd/start", json.dumps({"network": "demo", "prompt": "a camel"}))
        probe.wait_for(lambda t, b: t.endswith("/invocations") and b.get("state") == "completed", 20)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        probe.close()
    text = log.read_text()
    assert text.count("insight is off: the insight extra is not installed (missing numpy, model2vec, ripser)") == 1
    assert "Traceback" not in text


WORDS = ("camel", "desert", "silver", "neon", "sky", "lighthouse", "storm", "sea", "red", "bicycle", "city", "night",
         "forest", "river", "moon", "star", "fire", "ice", "glass", "bird")


def busy_run(conn: sqlite3.Connection, run_id: str, steps: int) -> None:
    """A run of ``steps`` completed captions no one has embedded: a big job for the worker (a write
    function, through the daemon's own writer)."""
    rng = random.Random(run_id)
    writes.begin_run(conn, Run(run_id, "busy", "a camel", 0.0))
    for seq in range(steps):
        inv = Invocation(f"{run_id}.{seq}", run_id, "busy", seq, "local-poet", InvocationState.INVOKING,
                         Content.of_text("x"), MediaType.TEXT, created_at=float(seq))
        writes.add_invocation(conn, inv)
        writes.complete(conn, inv.id, Content.of_text(" ".join(rng.choices(WORDS, k=12))), float(seq))
    writes.end_run(conn, run_id, "test", float(steps))


async def keep_the_worker_busy(daemon) -> None:
    """Runs of 150 new outputs, one after another, each offered to the worker as soon as it is ready."""
    service = daemon.daemon.insight
    for n in range(10_000):
        await daemon.engine.store.write(lambda conn, n=n: busy_run(conn, f"busy{n}", 150))
        service.offer({"state": "completed", "output_type": "text", "id": f"busy{n}.149", "run_id": f"busy{n}"})
        async with asyncio.timeout(60):
            while service.queue:
                await asyncio.sleep(0.005)


def write_lock_is_free(database: Path) -> bool:
    """Whether this process can take the database's write lock within 0.3 s (the daemon's own writes
    take milliseconds: a lock held longer is held by someone stopped)."""
    conn = sqlite3.connect(database, timeout=0.3, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


async def completed(daemon, run_id: str) -> int:
    return sum(i.state is InvocationState.COMPLETED for i in await daemon.engine.store.run_invocations(run_id))


async def test_a_stopped_worker_never_holds_up_the_loop(insight_config, probe):
    """The worker never writes the database: stopped (SIGSTOP) at any moment of its work, it holds
    no lock, and the loop's invocations go on while it stays stopped; continued, insight goes on."""
    daemon = await start_daemon(insight_config)
    busy = None
    try:
        await wait_status(daemon, "on")
        service = daemon.daemon.insight
        pid = service.worker_pid
        assert pid is not None
        run_id = await daemon.engine.start("demo", "a camel in the desert")
        busy = asyncio.create_task(keep_the_worker_busy(daemon))
        async with asyncio.timeout(60):
            while service.done < 3:
                await asyncio.sleep(0.01)
        for _ in range(150):  # at many moments of its work: embedding, measuring, answering
            os.kill(pid, signal.SIGSTOP)
            try:
                free = await asyncio.to_thread(write_lock_is_free, insight_config.database_path)
            finally:
                os.kill(pid, signal.SIGCONT)
            assert free, "the stopped worker held the database's write lock"
            await asyncio.sleep(random.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGSTOP)
        try:
            before = await completed(daemon, run_id)
            async with asyncio.timeout(30):
                while await completed(daemon, run_id) < before + 8:
                    await asyncio.sleep(0.05)
            assert daemon.daemon.status()["storage_problem"] is None
        finally:
            os.kill(pid, signal.SIGCONT)
        done = service.done
        topic = f"panic/{insight_config.appliance_id}/networks/demo/insight"
        async with asyncio.timeout(30):
            while service.done <= done:
                await asyncio.sleep(0.05)
        await asyncio.to_thread(probe.wait_for, lambda t, b: t == topic, 20)
        assert service.worker_pid == pid, "the same worker went on: it was never restarted"
    finally:
        if busy is not None:
            busy.cancel()
            await asyncio.gather(busy, return_exceptions=True)
        await daemon.stop()


def test_ctrl_c_stops_the_daemon_and_its_worker_without_a_traceback(tmp_path, broker, model_dir):
    """A real `panic-edge run` in a terminal's process group: SIGINT to the group, as Ctrl-C sends it,
    stops the daemon, which ends its worker; neither prints a traceback."""
    appliance = f"test-ctrlc-{os.getpid()}"
    env = run_env(tmp_path, broker.url, appliance, model_dir)
    probe = Probe(broker.url, f"panic/{appliance}/#")
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "panic_edge", "run"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        probe.wait_for(lambda t, b: t.endswith("/status") and isinstance(b, dict) and b["broker_connected"], 30)
        probe.publish(f"panic/{appliance}/cmd/start", json.dumps({"network": "demo", "prompt": "a camel"}))
        probe.wait_for(lambda t, b: t.endswith("/insight"), 30)  # the worker is at work
        worker = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        os.killpg(proc.pid, signal.SIGINT)  # the terminal's foreground group: the daemon's
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        probe.close()
    text = log.read_text()
    assert "stopping" in text and "Traceback" not in text and "KeyboardInterrupt" not in text, text[-2000:]
    assert not Path(f"/proc/{worker}").exists() or "zombie" in Path(f"/proc/{worker}/status").read_text(), \
        "the worker ended with the daemon"


def test_the_worker_ignores_sigint_and_ends_at_the_end_of_its_input(tmp_path, model_dir):
    proc = subprocess.Popen([sys.executable, "-m", "panic_edge.insight.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdin is not None and proc.stdout is not None
    database = tmp_path / "panic-edge.sqlite3"
    sqlite3.connect(database).close()
    settings = {"database": str(database), "archive": None, "model_dir": str(model_dir)}
    proc.stdin.write(json.dumps(settings) + "\n")
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["kind"] == "ready"
    os.kill(proc.pid, signal.SIGINT)
    proc.stdin.write(json.dumps({"invocation_id": 7}) + "\n")  # still serving after the SIGINT
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["kind"] == "error"
    proc.stdin.close()
    assert proc.wait(20) == 0
    stderr = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr


async def test_a_stopping_daemon_calls_no_model_while_its_worker_takes_its_time_to_end(insight_config):
    """The runs end as the daemon begins to stop, before the slow parts of its shutdown: a stopped
    (SIGSTOP) worker takes six seconds to be killed, and the loop went on calling models meanwhile."""
    daemon = await start_daemon(insight_config)
    await wait_status(daemon, "on")
    pid = daemon.daemon.insight.worker_pid
    assert pid is not None
    run_id = await daemon.engine.start("demo", "a camel in the desert")
    async with asyncio.timeout(30):
        while await completed(daemon, run_id) < 3:
            await asyncio.sleep(0.02)
    os.kill(pid, signal.SIGSTOP)
    try:
        asked = time.time()
        daemon.daemon.stop()
        await asyncio.wait_for(daemon.task, 30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    with sqlite3.connect(insight_config.database_path) as conn:
        after = conn.execute("SELECT count(*) FROM invocations WHERE run_id = ? AND created_at > ?",
                             (run_id, asked + 0.5)).fetchone()[0]
        ended = conn.execute("SELECT ended_at FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    assert after == 0, "invocations were made while the daemon was stopping"
    assert ended is not None and ended < asked + 0.5
