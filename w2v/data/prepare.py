"""`w2v prepare`: turn a corpus into a dataset (layout in `w2v.data.corpus`).

The text is streamed twice in blocks: the first pass counts words to build the vocabulary,
the second encodes each block and appends it to the dataset files. Memory is bounded by the
block size and the vocabulary, not by the corpus. Worker processes count and encode the
blocks; the results are used in input order, so the dataset is the same for any number of
workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlparse

from tqdm import tqdm

from w2v.atomic import atomic_dir
from w2v.data.corpus import OFFSETS, TOKENS, VOCAB, DatasetWriter, write_meta
from w2v.data.download import fetch
from w2v.data.passes import WordCounts, count_block, encode_block
from w2v.data.pool import available_cpus, check_workers, ordered_map
from w2v.data.ptb import ptb_train, ptb_url
from w2v.data.text import TextFile, open_text_file
from w2v.data.vocab import Vocab
from w2v.errors import W2VError

CORPUS_SUFFIXES = (".txt", ".gz", ".zip")
# Smaller corpora are prepared in-process: starting workers would cost more than they save.
PARALLEL_MIN_BYTES = 16 << 20


@dataclass(frozen=True)
class PrepareSummary:
    """What `prepare` made; `seconds` covers reading and writing, not downloading."""

    path: Path
    name: str
    sentences: int
    tokens: int
    raw_tokens: int
    vocab_size: int
    dropped_share: float
    replaced_characters: int
    seconds: float
    mb_per_s: float

    def line(self) -> str:
        replaced = (
            f", {self.replaced_characters:,} characters were not UTF-8"
            if self.replaced_characters
            else ""
        )
        return (
            f"{self.name}: {self.sentences:,} sentences, {self.tokens:,} tokens, "
            f"vocabulary {self.vocab_size:,}, {self.dropped_share:.1%} of tokens dropped"
            f"{replaced}, {self.mb_per_s:.1f} MB/s"
        )


def prepare(
    source: str | None,
    data_dir: Path,
    *,
    min_count: int = 10,
    max_vocab: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> PrepareSummary:
    """Build the dataset `<data_dir>/<name>` from `source`: a file, a URL, or None for PTB.

    A URL is first downloaded to `<data_dir>/downloads/`. `workers` processes read the text
    (default: one per available core; 1 works in this process). Returns a summary.
    """
    data_dir = Path(data_dir)
    workers = check_workers(available_cpus() if workers is None else workers)
    text, name, label = _resolve(source, data_dir, progress)
    workers = workers if _stored_size(text) >= PARALLEL_MIN_BYTES else 1
    start = time.perf_counter()
    counts = _count_words(text, workers, progress)
    if counts.tokens == 0:
        raise W2VError(f"{text} holds no words: the corpus is empty")
    vocab = Vocab.build(counts.words, min_count, max_vocab)
    with atomic_dir(data_dir / name) as tmp:
        sentences, tokens = _write_data(tmp, text, vocab, workers, progress)
        write_meta(
            tmp,
            {
                "name": name,
                "source": label,
                "sentences": sentences,
                "tokens": tokens,
                "raw_tokens": counts.tokens,
                "vocab_size": len(vocab),
                "min_count": min_count,
                "max_vocab": max_vocab,
                "dropped_tokens": counts.tokens - tokens,
                "replaced_characters": counts.replaced,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
    seconds = time.perf_counter() - start
    return PrepareSummary(
        path=data_dir / name,
        name=name,
        sentences=sentences,
        tokens=tokens,
        raw_tokens=counts.tokens,
        vocab_size=len(vocab),
        dropped_share=1 - tokens / counts.tokens,
        replaced_characters=counts.replaced,
        seconds=seconds,
        mb_per_s=counts.nbytes / 1e6 / seconds,
    )


def _count_words(text: TextFile, workers: int, progress: bool) -> WordCounts:
    """First pass: how often each token occurs."""
    total = WordCounts()
    with _bar(text, "counting", progress) as bar:
        if workers == 1:
            # Counting straight into one Counter, not merging one per block, measured a third
            # faster, for this pass and (through the heap it leaves) the encoding pass.
            for block in text.blocks():
                total.count(block)
                bar.update(len(block))
        else:
            for counts in ordered_map(count_block, text.blocks(), workers):
                total.add(counts)
                bar.update(counts.nbytes)
    return total


def _write_data(
    directory: Path, text: TextFile, vocab: Vocab, workers: int, progress: bool
) -> tuple[int, int]:
    """Write the token, offset and vocabulary files; return the sentence and token counts."""
    with open(directory / TOKENS, "wb") as tokens, open(directory / OFFSETS, "wb") as offsets:
        writer = DatasetWriter(tokens, offsets)
        _encode_corpus(text, vocab, writer, workers, progress)
        writer.finish()
    if writer.tokens != vocab.counts.sum():
        raise W2VError(f"{text} changed while it was being prepared; prepare it again")
    vocab.save(directory / VOCAB)
    return writer.sentences, writer.tokens


def _encode_corpus(
    text: TextFile, vocab: Vocab, writer: DatasetWriter, workers: int, progress: bool
) -> None:
    """Second pass: write the ids of the in-vocabulary tokens, line by line."""
    with _bar(text, "encoding", progress) as bar:
        for block in ordered_map(partial(encode_block, vocab), text.blocks(), workers):
            writer.write(block.ids, block.line_lengths)
            bar.update(block.nbytes)


def _stored_size(text: TextFile) -> int:
    """Bytes of text; for gzip, of the compressed file, a lower bound that costs no reading."""
    size = text.size
    return text.path.stat().st_size if size is None else size


def _resolve(source: str | None, data_dir: Path, progress: bool) -> tuple[TextFile, str, str]:
    """The text to read, the dataset's name, and how to describe the source in meta.json."""
    if source is None:
        return ptb_train(data_dir, progress=progress), "ptb", ptb_url()
    if urlparse(source).scheme in ("http", "https"):
        filename = Path(unquote(urlparse(source).path)).name
        name = _dataset_name(filename, source)
        path = fetch(source, data_dir / "downloads" / filename, progress=progress)
        return open_text_file(path), name, source
    path = Path(source)
    return open_text_file(path), _dataset_name(path.name, source), source


def _dataset_name(filename: str, source: str) -> str:
    """`text8.zip` -> `text8`, `news.txt.gz` -> `news`."""
    name = filename
    while Path(name).suffix.lower() in CORPUS_SUFFIXES:
        name = name[: -len(Path(name).suffix)]
    if not name or name.startswith("."):
        raise W2VError(f"cannot name a dataset after {source!r}; give the file a plain name")
    return name


def _bar(text: TextFile, desc: str, progress: bool) -> tqdm:
    return tqdm(
        total=text.size,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not progress,
    )
