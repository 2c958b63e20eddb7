"""text->audio and audio->text: a voice (espeak-ng where installed, tones otherwise), and a
listener that describes a sound by its length, loudness and pitch."""

from __future__ import annotations

import array
import hashlib
import io
import itertools
import math
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

RATE = 16000


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, use_espeak: bool | None = None) -> bytes:
    """A WAV of ``text``: espeak-ng's speech where installed, else one tone per word."""
    if use_espeak is None:
        use_espeak = espeak_available()
    if use_espeak:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "speech.wav"
            subprocess.run(["espeak-ng", "-w", str(target), "--", text[:1000]], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            return target.read_bytes()
    return tones(text)


def tones(text: str) -> bytes:
    """One 0.18 s tone per word, its pitch taken from the word: a song only a machine would sing."""
    samples = array.array("h")
    for word in (text.split() or ["silence"])[:60]:
        pitch = 220 + int.from_bytes(hashlib.sha256(word.lower().encode()).digest()[:2], "big") % 660
        n = int(RATE * 0.18)
        for i in range(n):
            envelope = min(1.0, i / 400, (n - i) / 400)
            samples.append(int(12000 * envelope * math.sin(2 * math.pi * pitch * i / RATE)))
        samples.extend([0] * int(RATE * 0.04))
    return _wav(samples)


def _wav(samples: array.array[int], rate: int = RATE) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return out.getvalue()


def describe(data: bytes, mime: str | None = None) -> str:
    """A sentence about a sound. WAV is measured; other formats are described by size."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        kind = (mime or "audio").split("/")[-1]
        return f"A {kind} recording of about {len(data) // 1024} kilobytes, too dense to read by ear."
    if width != 2 or not frames:
        return "A silent moment, nothing to hear."
    samples = array.array("h", frames[: len(frames) // 2 * 2])
    mono = samples[::channels]
    seconds = len(mono) / rate
    rms = math.sqrt(sum(s * s for s in mono) / len(mono)) / 32768
    crossings = sum(1 for a, b in itertools.pairwise(mono) if (a < 0) != (b < 0))
    pitch = crossings / 2 / seconds if seconds else 0
    loud = "loud" if rms > 0.2 else "quiet" if rms < 0.05 else "steady"
    length = "short" if seconds < 2 else "long" if seconds > 8 else "brief"
    voice = "a deep hum" if pitch < 200 else "a bright whistle" if pitch > 900 else "a murmuring voice"
    return f"A {length}, {loud} sound of {seconds:.1f} seconds, like {voice} near {pitch:.0f} hertz."
