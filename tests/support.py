"""Helpers shared by the tests."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

Route = Callable[[SimpleHTTPRequestHandler], None]


@dataclass
class Server:
    """A running server: files in `root` are served, `routes` override single paths."""

    root: Path
    base: str = ""
    requests: list[str] = field(default_factory=list)
    routes: dict[str, Route] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


def partial_body(body: bytes, sent: int, pause: float = 0.0) -> Route:
    """A route that promises all of `body` but sends `sent` bytes, waits `pause` seconds, then
    sends the rest (if the client still listens) or, with no pause, closes the connection."""

    def route(handler: SimpleHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[:sent])
        handler.wfile.flush()
        if not pause:
            handler.close_connection = True
            return
        time.sleep(pause)
        try:
            handler.wfile.write(body[sent:])
        except OSError:
            pass

    return route


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def topic_corpus(path: Path, sentences: int = 600, topics: int = 4, words_per_topic: int = 12,
                 seed: int = 0) -> Path:
    """Sentences that each draw their words from one topic (t{k}w{i}) plus a few fillers.

    Words of one topic share contexts, so trained vectors should put them together.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    fillers = ["the", "a", "of", "and"]
    lines = []
    for _ in range(sentences):
        topic = rng.integers(topics)
        n = rng.integers(6, 14)
        words = [f"t{topic}w{i}" for i in rng.integers(words_per_topic, size=n)]
        for pos in rng.integers(len(words), size=2):
            words.insert(int(pos), fillers[rng.integers(len(fillers))])
        lines.append(" ".join(words))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train_here(data, config, run_dir: Path, threads: int | None = None, model=None) -> None:
    """Train `config` on the opened dataset `data` into `run_dir` in this process, with the
    Trainer itself (so a test can choose the threads and the model)."""
    import torch

    from w2v.run import RunFacts, RunWriter
    from w2v.trainer import Trainer

    writer = RunWriter.new(run_dir, RunFacts.of(data, config, 1, threads or 1))
    try:
        Trainer(data, config, writer, torch.device("cpu"), threads=threads,
                model=model).run(progress=False)
    finally:
        writer.close()
