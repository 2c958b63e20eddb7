"""Fakes of the four cloud APIs, speaking their real wire formats (as documented by each
platform: Replicate's predictions API and RFC 7807 errors, OpenAI chat completions, Anthropic
messages, Gemini generateContent), with a fixed key each and a few files to download."""

from __future__ import annotations

import io
import itertools
import re
import threading
from collections.abc import Callable
from typing import Any

from PIL import Image

from tests.fakes.server import FakeServer, Reply, Seen

KEYS = {"replicate": "r8_test_token", "openai": "sk-test", "anthropic": "sk-ant-test", "gemini": "AIza-test"}


def picture(fmt: str = "WEBP", colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, format=fmt)
    return out.getvalue()


def wav() -> bytes:
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 800)
    return out.getvalue()


def problem(status: int, title: str, detail: str) -> Reply:
    """Replicate's error body: RFC 7807 problem details."""
    return Reply(status, {"type": "about:blank", "title": title, "detail": detail, "status": status},
                 content_type="application/problem+json")


class FakeReplicate(FakeServer):
    """Predictions that succeed at once (Prefer: wait) or after ``polls`` GETs otherwise."""

    def __init__(self) -> None:
        super().__init__(self._answer)
        # a path -> (content type, bytes), or a reply made afresh each time (a stream, a redirect)
        self.files: dict[str, tuple[str, bytes] | Callable[[], Reply]] = {"/files/out.webp": ("image/webp", picture("WEBP")),
                      "/files/out.png": ("image/png", picture("PNG")),
                      "/files/out.wav": ("audio/wav", wav())}
        self.outputs: dict[str, Any] = {}   # owner/name -> output; default by input
        self.by_prompt: dict[str, Any] = {}  # a word in the input -> output (before outputs)
        self.polls = 0                      # GETs a prediction stays "processing" after a wait
        self.finish = True                  # False: predictions never finish by themselves
        self.hold_creates: threading.Event | None = None  # hold create answers until set
        self.predictions: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _answer(self, seen: Seen) -> Reply:
        if seen.path.startswith("/files/"):
            entry = self.files.get(seen.path)
            if entry is None:
                return Reply(404, body=b"no such file", content_type="text/plain")
            if callable(entry):
                return entry()
            mime, data = entry
            return Reply(200, body=data, content_type=mime)
        if seen.headers.get("authorization") != f"Bearer {KEYS['replicate']}":
            return problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        if m := re.fullmatch(r"/v1/models/([^/]+/[^/]+)", seen.path):
            return Reply(200, self._model(m.group(1)))
        if m := re.fullmatch(r"/v1/models/([^/]+/[^/]+)/predictions", seen.path):
            return self._create(seen, m.group(1), None)
        if seen.path == "/v1/predictions" and seen.method == "POST":
            version = seen.json["version"]
            return self._create(seen, version.rsplit("-", 1)[0].replace("__", "/"), version)
        if m := re.fullmatch(r"/v1/predictions/([^/]+)/cancel", seen.path):
            with self._lock:
                self.predictions[m.group(1)]["status"] = "canceled"
                return Reply(200, dict(self.predictions[m.group(1)]))
        if m := re.fullmatch(r"/v1/predictions/([^/]+)", seen.path):
            with self._lock:
                p = self.predictions[m.group(1)]
                p["_polls"] += 1
                if p["status"] == "processing" and self.finish and p["_polls"] > self.polls:
                    self._succeed(p)
                return Reply(200, {k: v for k, v in p.items() if not k.startswith("_")})
        return problem(404, "Not found", f"no route {seen.path}")

    def _model(self, owner_name: str) -> dict[str, Any]:
        owner, name = owner_name.split("/")
        return {"url": f"https://replicate.com/{owner_name}", "owner": owner, "name": name,
                "description": "a fake", "visibility": "public", "github_url": None, "paper_url": None,
                "license_url": None, "run_count": 1, "cover_image_url": None, "default_example": None,
                "latest_version": {"id": f"{owner}__{name}-v1", "created_at": "2024-01-01T00:00:00Z",
                                   "cog_version": "0.9", "openapi_schema": {}}}

    def _create(self, seen: Seen, model: str, version: str | None) -> Reply:
        if not isinstance((seen.json or {}).get("input"), dict):
            return problem(422, "Input validation failed", "input is required")
        pid = f"p{next(self._ids)}"
        base = self.url
        p = {"id": pid, "model": model, "version": version or "hidden", "status": "processing",
             "input": seen.json["input"], "output": None, "logs": "", "error": None, "metrics": {},
             "created_at": "2025-01-01T00:00:00Z", "started_at": None, "completed_at": None,
             "urls": {"get": f"{base}/v1/predictions/{pid}", "cancel": f"{base}/v1/predictions/{pid}/cancel"},
             "_polls": 0, "_model": model}
        with self._lock:
            self.predictions[pid] = p
            if "wait" in seen.headers.get("prefer", "") and self.finish and self.polls == 0:
                self._succeed(p)
            return Reply(201, {k: v for k, v in p.items() if not k.startswith("_")}, hold=self.hold_creates)

    def _succeed(self, p: dict[str, Any]) -> None:
        words = " ".join(str(v) for v in p["input"].values())
        output = next((out for word, out in self.by_prompt.items() if word in words), None)
        if output is None:
            output = self.outputs.get(p["_model"])
        if output is None:
            given = p["input"]
            output = (["A ", "fake ", "caption."] if any(str(v).startswith("data:") for v in given.values())
                      else f"{self.url}/files/out.webp")
        p.update(status="succeeded", output=output, metrics={"predict_time": 1.5},
                 completed_at="2025-01-01T00:00:02Z")


class FakeOpenAI(FakeServer):
    def __init__(self, port: int = 0) -> None:
        super().__init__(self._answer, port)
        self.text = "A fake continuation."

    def _answer(self, seen: Seen) -> Reply:
        if seen.headers.get("authorization") != f"Bearer {KEYS['openai']}":
            return Reply(401, {"error": {"message": "Incorrect API key provided: sk-wr***ng.",
                                         "type": "invalid_request_error", "param": None,
                                         "code": "invalid_api_key"}})
        if seen.path != "/v1/chat/completions":
            return Reply(404, {"error": {"message": "Unknown request URL", "type": "invalid_request_error"}})
        return Reply(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                           "model": seen.json["model"],
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": self.text,
                                                                "refusal": None},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}})


class FakeAnthropic(FakeServer):
    def __init__(self) -> None:
        super().__init__(self._answer)
        self.text = "A fake Claude sentence."

    def _answer(self, seen: Seen) -> Reply:
        if seen.headers.get("x-api-key") != KEYS["anthropic"]:
            return Reply(401, {"type": "error", "error": {"type": "authentication_error",
                                                          "message": "invalid x-api-key"}})
        if not seen.headers.get("anthropic-version"):
            return Reply(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                          "message": "anthropic-version header is required"}})
        return Reply(200, {"id": "msg_1", "type": "message", "role": "assistant", "model": seen.json["model"],
                           "content": [{"type": "text", "text": self.text}], "stop_reason": "end_turn",
                           "stop_sequence": None, "usage": {"input_tokens": 30, "output_tokens": 9}})


class FakeGemini(FakeServer):
    def __init__(self) -> None:
        super().__init__(self._answer)
        self.text = "A fake Gemini sentence."

    def _answer(self, seen: Seen) -> Reply:
        if seen.headers.get("x-goog-api-key") != KEYS["gemini"]:
            return Reply(400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                         "status": "INVALID_ARGUMENT", "details": [
                                             {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                              "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}})
        if not re.fullmatch(r"/v1beta/models/[^/:]+:generateContent", seen.path):
            return Reply(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})
        return Reply(200, {"candidates": [{"content": {"parts": [{"text": self.text}], "role": "model"},
                                           "finishReason": "STOP", "index": 0}],
                           "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 6,
                                             "totalTokenCount": 18},
                           "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"})
