"""Helpers shared by the tests."""

from __future__ import annotations

import random
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler
from itertools import pairwise
from pathlib import Path

from w2v.data.phrases import PhraseSettings

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


def reference(lines: list[list[str]], settings: PhraseSettings
              ) -> tuple[list[dict[tuple[str, str], tuple[int, float]]], list[list[str]]]:
    """word2phrase / gensim, written plainly: per pass, count words and neighbours within lines,
    score the pairs seen min_count times, then join each line greedily left to right."""
    import numpy as np
    from gensim.models.phrases import npmi_scorer

    tables = []
    for _ in range(settings.passes):
        words = Counter(w for line in lines for w in line)
        pairs = Counter(p for line in lines for p in pairwise(line))
        total = sum(words.values())
        table = {}
        for (a, b), n in pairs.items():
            if n < settings.min_count:
                continue
            if settings.scoring == "word2phrase":
                f = np.float32
                value = f(n - settings.min_count) / f(words[a]) / f(words[b]) * f(total)
                chosen = value > f(settings.threshold)
            else:
                value = npmi_scorer(words[a], words[b], n, 0, settings.min_count, total)
                chosen = value > settings.threshold
            if chosen:
                table[(a, b)] = (n, float(value))
        tables.append(table)
        lines = [join_greedily(line, table) for line in lines]
    return tables, lines


def join_greedily(line: list[str], table: dict) -> list[str]:
    out, i = [], 0
    while i < len(line):
        if i + 1 < len(line) and (line[i], line[i + 1]) in table:
            out.append(f"{line[i]}_{line[i + 1]}")
            i += 2
        else:
            out.append(line[i])
            i += 1
    return out


def word2phrase_c(lines: list[str], min_count: int = 5, threshold: float = 100.0,
                  across_lines: bool = True) -> list[str]:
    """One pass of word2phrase.c, by the rules of its source, on text lines: the lines it writes.

    As the C tool: words and pairs share one table of byte strings ("a_b"); a word keeps its
    first 58 bytes and a pair key its first 59; every entry seen fewer than `min_count` times is
    dropped; the score is computed in 32-bit floats; a word just joined cannot start a pair.
    Counting also takes the last word of a line and the first of the next as a pair (its flag
    for a line start is cleared before it is read); `across_lines=False` leaves that out."""
    import numpy as np

    counts: Counter[bytes] = Counter()
    last, total = b"", 0
    for line in lines:
        if not across_lines:
            last = None
        for word in (w[:58] for w in line.encode().split()):
            total += 1
            counts[word] += 1
            if last is not None:
                counts[(last + b"_" + word)[:59]] += 1
            last = word
    kept = {key: n for key, n in counts.items() if n >= min_count}
    f32, out = np.float32, []
    pa = pb = 0
    for line in lines:
        previous, written = b"\n", bytearray()
        for word in (w[:58] for w in line.encode().split()):
            oov = word not in kept or previous not in kept
            pb = kept.get(word, pb)  # the C tool keeps the last count for an unknown word
            pab = kept.get((previous + b"_" + word)[:59])
            if pab is None or pa < min_count or pb < min_count:
                oov = True
            score = f32(0) if oov else f32(pab - min_count) / f32(pa) / f32(pb) * f32(total)
            if score > f32(threshold):
                written += b"_" + word
                pb = 0
            else:
                written += b" " + word
            pa, previous = pb, word
        out.append(written.decode().strip(" "))
    return out


def planted_text(seed: int = 0, lines: int = 400) -> tuple[list[str], set[str]]:
    """Lines of random words with a few pairs (and one triple) that always come together."""
    rng = random.Random(seed)
    filler = [f"w{i}" for i in range(80)]
    planted = ["new york", "los angeles", "hot dog", "ice cream", "new york times"]
    lines_out = []
    for _ in range(lines):
        words = rng.choices(filler, weights=[1 / (r + 1) for r in range(80)], k=rng.randint(3, 15))
        for _ in range(rng.randint(0, 2)):
            words.insert(rng.randint(0, len(words)), rng.choice(planted))
        lines_out.append(" ".join(words))
    return lines_out, {"new_york", "los_angeles", "hot_dog", "ice_cream", "york_times"}


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
