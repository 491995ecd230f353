"""`w2v prepare`: turn a corpus into a dataset (layout in `w2v.data.corpus`).

The text is streamed twice in blocks: the first pass counts words to build the vocabulary,
the second encodes each block and appends it to the dataset files. Learning phrases
(`w2v.data.phrases`) adds one pass before them per phrase pass, each counting words and pairs
of neighbours in text joined by the passes before; then the blocks end at line ends, so that
no pair is cut in two. Memory is bounded by the block size, the counting budget
(`count_memory`: counts beyond it are spilled to sorted runs on disk, inside the dataset's
temporary directory), the vocabulary and the phrases, not by the corpus or the number of
distinct strings or pairs in it. Worker processes count and encode the blocks; the results are
used in input order, so the dataset is the same for any number of workers.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlparse

from tqdm import tqdm

from w2v.data.allocator import keep_block_memory
from w2v.data.corpus import OFFSETS, TOKENS, VOCAB, DatasetWriter, write_meta, write_phrases
from w2v.data.counter import DEFAULT_MEMORY, KeyCounter, WordCounts, select_words
from w2v.data.download import fetch
from w2v.data.passes import Encoder, TextTotals, count_block, count_block_pairs
from w2v.data.phrases import NO_PHRASES, PhraseCounter, Phrases, PhraseSettings
from w2v.data.pool import available_cpus, check_workers, ordered_map
from w2v.data.ptb import ptb_train, ptb_url
from w2v.data.target import check_name, dataset_dir
from w2v.data.text import SUFFIXES, Corpus, open_corpus
from w2v.data.tokenizer import Tokenizer, raw_text_hint
from w2v.data.vocab import Vocab, check_limits
from w2v.errors import W2VError

CORPUS_SUFFIXES = (".txt", *SUFFIXES)
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
    distinct_words: int = 0
    hint: str | None = None  # a note when whitespace-split text looks raw
    phrases: int | None = None  # phrases learned, None when not asked for
    phrase_tokens: int = 0  # tokens of the text that are joined phrases
    phrase_words: int = 0  # the words they replaced

    def line(self) -> str:
        replaced = (
            f", {self.replaced_characters:,} characters were not UTF-8"
            if self.replaced_characters
            else ""
        )
        phrases = (
            f", {self.phrases:,} phrases learned, {self.phrase_tokens:,} phrase tokens replacing "
            f"{self.phrase_words:,} words"
            if self.phrases is not None
            else ""
        )
        return (
            f"{self.name}: {self.sentences:,} sentences, {self.tokens:,} tokens, "
            f"vocabulary {self.vocab_size:,}, {self.dropped_share:.1%} of tokens dropped"
            f"{phrases}{replaced}, {self.mb_per_s:.1f} MB/s"
        )


def prepare(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    data_dir: Path,
    *,
    name: str | None = None,
    tokenizer: str | Tokenizer = "whitespace",
    lowercase: bool = False,
    min_count: int = 10,
    max_vocab: int | None = None,
    workers: int | None = None,
    count_memory: int = DEFAULT_MEMORY,
    phrases: PhraseSettings = NO_PHRASES,
    progress: bool = True,
) -> PrepareSummary:
    """Build the dataset `<data_dir>/<name>` from `source`: files, folders, URLs, or None for PTB.

    Several sources (or a folder) are read as one corpus, in order. A URL is first downloaded
    to `<data_dir>/downloads/`. `name` defaults to the first source's name. `tokenizer`
    ("whitespace" or "words", see `w2v.data.tokenizer`) and `lowercase` set how text becomes
    words. `phrases` says whether and how phrases are learned and joined (by default they are
    not). Counting uses about `count_memory` bytes and spills to disk beyond it. `workers`
    processes read the text (default: one per available core; 1 works in this process); they
    are started afresh (multiprocessing's "spawn"), so a script that calls this needs the
    usual `if __name__ == "__main__":` guard.
    """
    data_dir = Path(data_dir)
    check_limits(min_count, max_vocab)
    if count_memory < 1:
        raise W2VError(f"the counting memory must be positive, not {count_memory}")
    if not isinstance(tokenizer, Tokenizer):
        tokenizer = Tokenizer(tokenizer, lowercase)
    workers = check_workers(available_cpus() if workers is None else workers)
    single = isinstance(source, (str, os.PathLike))
    sources = [str(s) for s in ([source] if single else source or [])]  # type: ignore[list-item]
    corpus, name, label = _resolve(sources, data_dir, name, progress)
    workers = workers if corpus.stored_size >= PARALLEL_MIN_BYTES else 1
    keep_block_memory()
    start = time.perf_counter()
    with dataset_dir(data_dir, name, corpus.sources) as tmp:
        joiner = None
        if phrases.passes:
            joiner = _learn_phrases(corpus, tokenizer, phrases, workers, tmp / "counts",
                                    count_memory, progress)
        totals, words = _count_words(
            corpus, tokenizer, joiner, workers, KeyCounter(tmp / "counts", count_memory),
            min_count, max_vocab, progress,
        )
        if totals.tokens == 0:
            raise W2VError(f"{corpus} holds no words: the corpus is empty")
        assert words.commonest is not None
        vocab = Vocab.of_kept(words.kept, min_count, max_vocab, words.commonest)
        shutil.rmtree(tmp / "counts", ignore_errors=True)
        encoder = Encoder(vocab, tokenizer, joiner)
        sentences, tokens = _write_data(tmp, corpus, vocab, encoder, workers, progress)
        phrases_meta = None
        if joiner is not None:
            write_phrases(tmp, joiner)
            phrases_meta = {**phrases.to_dict(), "learned": len(joiner),
                            "phrase_tokens": totals.phrase_tokens,
                            "phrase_words": totals.phrase_words}
        write_meta(
            tmp,
            {
                "name": name,
                "source": label,
                "sources": sources or [label],
                "files": len(corpus.files),
                "tokenizer": tokenizer.to_dict(),
                "phrases": phrases_meta,
                "sentences": sentences,
                "tokens": tokens,
                "raw_tokens": totals.tokens,
                "distinct_words": words.distinct,
                "vocab_size": len(vocab),
                "min_count": min_count,
                "max_vocab": max_vocab,
                "dropped_tokens": totals.tokens - tokens,
                "replaced_characters": totals.replaced,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
    seconds = time.perf_counter() - start
    hint = None
    if tokenizer.name == "whitespace":
        hint = raw_text_hint(vocab.words, vocab.counts.tolist())
    return PrepareSummary(
        path=data_dir / name,
        name=name,
        sentences=sentences,
        tokens=tokens,
        raw_tokens=totals.tokens,
        vocab_size=len(vocab),
        dropped_share=1 - tokens / totals.tokens,
        replaced_characters=totals.replaced,
        seconds=seconds,
        mb_per_s=totals.nbytes / 1e6 / seconds,
        distinct_words=words.distinct,
        hint=hint,
        phrases=None if joiner is None else len(joiner),
        phrase_tokens=totals.phrase_tokens,
        phrase_words=totals.phrase_words,
    )


def _learn_phrases(
    corpus: Corpus,
    tokenizer: Tokenizer,
    settings: PhraseSettings,
    workers: int,
    spill_dir: Path,
    count_memory: int,
    progress: bool,
) -> Phrases:
    """The phrase passes: each counts words and pairs in the text joined by the ones before."""
    phrases = Phrases()
    for number in range(1, settings.passes + 1):
        counter = PhraseCounter(spill_dir, count_memory)
        totals = TextTotals()
        task = partial(count_block_pairs, tokenizer, phrases)
        with _bar(corpus, f"phrases {number}/{settings.passes}", progress) as bar:
            for counts in ordered_map(task, corpus.blocks(whole_lines=True), workers):
                counter.add(counts.tables, counts.pairs, counts.totals.tokens)
                totals.add(counts.totals)
                totals.check_is_text(corpus)
                bar.update(counts.totals.nbytes)
        totals.check_is_text(corpus, final=True)
        phrases = phrases.then(counter.learn(settings, number))
        shutil.rmtree(spill_dir, ignore_errors=True)
    return phrases


def _count_words(
    corpus: Corpus,
    tokenizer: Tokenizer,
    phrases: Phrases | None,
    workers: int,
    counter: KeyCounter,
    min_count: int,
    max_vocab: int | None,
    progress: bool,
) -> tuple[TextTotals, WordCounts]:
    """The counting pass: how often each token occurs; the words that make the vocabulary."""
    totals = TextTotals()
    blocks = corpus.blocks(whole_lines=phrases is not None)
    with _bar(corpus, "counting", progress) as bar:
        for counts in ordered_map(partial(count_block, tokenizer, phrases=phrases), blocks,
                                  workers):
            counter.add(counts.tables)
            totals.add(counts.totals)
            totals.check_is_text(corpus)
            bar.update(counts.totals.nbytes)
    totals.check_is_text(corpus, final=True)
    return totals, select_words(counter.merged(), min_count, max_vocab)


def _write_data(
    directory: Path, corpus: Corpus, vocab: Vocab, encoder: Encoder, workers: int,
    progress: bool,
) -> tuple[int, int]:
    """Write the token, offset and vocabulary files; return the sentence and token counts."""
    with open(directory / TOKENS, "wb") as tokens, open(directory / OFFSETS, "wb") as offsets:
        writer = DatasetWriter(tokens, offsets)
        blocks = corpus.blocks(whole_lines=encoder.phrases is not None)
        with _bar(corpus, "encoding", progress) as bar:
            for block in ordered_map(encoder, blocks, workers):
                writer.write(block.ids, block.line_lengths)
                bar.update(block.nbytes)
        writer.finish()
    if writer.tokens != vocab.counts.sum():
        raise W2VError(f"{corpus} changed while it was being prepared; prepare it again")
    vocab.save(directory / VOCAB)
    return writer.sentences, writer.tokens


def _resolve(
    sources: list[str], data_dir: Path, name: str | None, progress: bool
) -> tuple[Corpus, str, str]:
    """The corpus to read, the dataset's name, and how to describe the source in meta.json."""
    if not sources:
        ptb = ptb_train(data_dir, progress=progress)
        return Corpus((ptb,), (ptb.path,)), check_name(name or "ptb", "ptb"), ptb_url()
    paths = [_local_path(source, data_dir, progress) for source in sources]
    corpus = open_corpus(paths)
    if name is None:
        name = _dataset_name(paths[0].name, sources[0])
    label = sources[0] if len(sources) == 1 else f"{sources[0]} and {len(sources) - 1} more"
    return corpus, check_name(name, sources[0]), label


def _local_path(source: str, data_dir: Path, progress: bool) -> Path:
    """The path of a source; a URL is downloaded to `<data_dir>/downloads/` first."""
    if urlparse(source).scheme not in ("http", "https"):
        return Path(source)
    filename = Path(unquote(urlparse(source).path)).name
    if not filename or filename.startswith(".") or not filename.isprintable():
        raise W2VError(f"cannot name a dataset after {source!r}; give the file a plain name")
    return fetch(source, data_dir / "downloads" / filename, progress=progress)


def _dataset_name(filename: str, source: str) -> str:
    """`text8.zip` -> `text8`, `news.txt.gz` -> `news`."""
    name = filename
    while Path(name).suffix.lower() in CORPUS_SUFFIXES:
        name = name[: -len(Path(name).suffix)]
    if not name or name.startswith("."):
        raise W2VError(f"cannot name a dataset after {source!r}; choose a name with --name")
    return name


def _bar(corpus: Corpus, desc: str, progress: bool) -> tqdm:
    return tqdm(
        total=corpus.size,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not progress,
    )
