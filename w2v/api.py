"""The Python API: prepare a corpus, train on it, open what a run left. The CLI is built on it.

    import w2v
    data = w2v.prepare("corpus.txt", data_dir="data", min_count=5)
    run = w2v.train(data, dim=100, epochs=5, run_dir="runs/x",
                    callbacks=[lambda e: print(e.epoch, e.loss, e.words_per_s)])
    run.vectors.most_similar("chip", 5)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from w2v.config import TrainConfig, load_config
from w2v.data.corpus import Dataset, open_dataset
from w2v.errors import W2VError

if TYPE_CHECKING:
    from w2v.run import Run
    from w2v.trainer import Callback

PathLike = str | os.PathLike[str]
Sentences = Iterable[Sequence[str]]
SETTINGS = tuple(f.name for f in fields(TrainConfig))


def prepare(source: PathLike | Sequence[PathLike] | None = None, data_dir: PathLike = "data", *,
            name: str | None = None, tokenizer: str = "whitespace", lowercase: bool = False,
            min_count: int = 10, max_vocab: int | None = None, workers: int | None = None,
            count_memory: int = 512, phrases: int = 0, phrase_scoring: str | None = None,
            phrase_threshold: float | None = None, phrase_min_count: int | None = None,
            progress: bool = True) -> Dataset:
    """Build a dataset from a corpus and return it, opened: text files (one sentence per line;
    plain, .gz, .bz2, .xz or .zip), folders of them, or http(s) URLs, read as one corpus; with
    no source, the Penn Treebank (downloaded and checked).

    The settings are `w2v prepare`'s: the dataset goes to `data_dir/<name>` (default: the first
    source's name); `tokenizer` is "whitespace" (words as written) or "words" (raw text,
    normalized, punctuation dropped); words seen fewer than `min_count` times are dropped and
    `max_vocab` keeps the commonest; `workers` processes read the text (default: one per core;
    they are spawned, so a script that uses them needs an `if __name__ == "__main__":` guard);
    counting takes about `count_memory` MB and spills to disk beyond.

    `phrases` passes join neighbouring words that belong together into one token ("new_york";
    2 passes: up to four words), scored by `phrase_scoring` ("word2phrase", the default, or
    "npmi") above `phrase_threshold` (100, or 0.5 with npmi) among pairs seen at least
    `phrase_min_count` times (5); `Dataset.query_token` then joins a query as the corpus was.
    """
    from w2v.data.phrases import phrase_settings
    from w2v.data.prepare import prepare as prepare_dataset

    if count_memory < 16:
        raise W2VError(f"--count-memory must be at least 16 (MB), not {count_memory}")
    settings = phrase_settings(phrases, phrase_scoring, phrase_threshold, phrase_min_count,
                               as_flags=False)
    sources = None if source is None else (
        [str(s) for s in source] if isinstance(source, list | tuple) else str(source))
    summary = prepare_dataset(sources, Path(data_dir), name=name, tokenizer=tokenizer,
                              lowercase=lowercase, min_count=min_count, max_vocab=max_vocab,
                              workers=workers, count_memory=count_memory << 20,
                              phrases=settings, progress=progress)
    return open_dataset(summary.path)


def train(data: Dataset | PathLike | Sentences | None = None, *,
          run_dir: PathLike | None = None, config: PathLike | None = None,
          device: str = "auto", nproc: int = 1, resume: bool = False, force: bool = False,
          init: PathLike | None = None, freeze: bool = False, evaluate: bool = False,
          eval_similarity: Sequence[PathLike] = (), eval_analogies: Sequence[PathLike] = (),
          callbacks: Sequence[Callback] = (), progress: bool = True,
          min_count: int | None = None, max_vocab: int | None = None,
          **settings: Any) -> Run | None:
    """Train word vectors; returns the run (None on all but the main process under torchrun).

    `data` is a prepared `Dataset`, the path of one (or of a folder of them: the most recent;
    default ./data), the path or URL of a text corpus, or any iterable of token lists (such as
    `[["a", "sentence"], ...]`), which is read once into a temporary dataset. Text and token
    lists are prepared with `min_count` (default 10) and `max_vocab`.

    `settings` are TrainConfig's, named as the command line names them: model ("skipgram" or
    "cbow"), dim, window, negatives, sample, epochs, batch_size, lr, seed, and the rest; they
    override the TOML file `config` and the model's defaults.

    The run goes to `run_dir` (default: a new directory under ./runs), which must be new or
    empty, or hold a run that `force` starts over; `resume` continues the run in `run_dir`
    (default: the most recent one) from its checkpoint, where settings that differ from it
    need `force`. `init` starts the input vectors of the words it has from a word2vec file or
    a run; `freeze` keeps those rows as they are. `device` is auto, cpu, cuda or cuda:N;
    `nproc` processes train together (torch.distributed).

    `evaluate` scores the vectors after every epoch on WordSim-353 and the Google analogies,
    or on `eval_similarity` and `eval_analogies` files. Every callback is called with an
    `EpochEvent` at the end of every epoch; one that returns False stops the run there (with
    a checkpoint; its status is then "stopped"). Callbacks run in this process: with
    nproc > 1 they are refused, under torchrun the main process calls them.
    """
    from w2v import launch
    from w2v.device import check_device

    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise W2VError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(SETTINGS)}")
    evaluation = _evaluation(evaluate, eval_similarity, eval_analogies)
    init_path = None if init is None else Path(init)
    with _dataset(data, min_count, max_vocab, progress) as dataset:
        if resume:
            if init is not None:
                raise W2VError("--init starts a new run; it cannot be given with --resume")
            plan = launch.plan_resume(
                _path(run_dir), dataset, _path(config), settings, device=device, nproc=nproc,
                force=force, evaluation=evaluation, progress=progress)
        else:
            run_config = load_config(_path(config), device_type=check_device(device),
                                     **settings)
            plan = launch.plan_new(
                dataset, _path(run_dir), run_config, device=device, nproc=nproc, force=force,
                init=init_path, freeze=freeze, evaluation=evaluation, progress=progress)
        return launch.train(plan, callbacks)


@contextmanager
def _dataset(data: Dataset | PathLike | Sentences | None, min_count: int | None,
             max_vocab: int | None, progress: bool) -> Iterator[Dataset | Path | None]:
    """The dataset `data` stands for: itself, a path to find it by, or a temporary one."""
    prepares = not isinstance(data, Dataset | None) and not _is_dataset_path(data)
    if not prepares:
        if min_count is not None or max_vocab is not None:
            raise W2VError("min_count and max_vocab apply to text and token lists, which "
                           "w2v.train prepares; a prepared dataset has its vocabulary already")
        yield data if isinstance(data, Dataset | None) else Path(data)
        return
    with tempfile.TemporaryDirectory(prefix="w2v-") as tmp:
        if isinstance(data, str | os.PathLike):
            source = str(data)
        else:
            source = str(_write_sentences(data, Path(tmp) / "sentences.txt"))
        yield prepare(source, Path(tmp) / "data", min_count=10 if min_count is None else min_count,
                      max_vocab=max_vocab, progress=progress)


def _is_dataset_path(data: object) -> bool:
    """A path that is not a text file or URL: a dataset, or a folder of them."""
    if not isinstance(data, str | os.PathLike):
        return False
    if isinstance(data, str) and urlparse(data).scheme in ("http", "https"):
        return False
    return not Path(data).is_file()


def _write_sentences(sentences: Sentences, path: Path) -> Path:
    """Token lists as a text corpus: one sentence per line, tokens separated by spaces."""
    with open(path, "w", encoding="utf-8") as out:
        for number, tokens in enumerate(sentences, 1):
            if isinstance(tokens, str):
                raise W2VError(f"sentence {number} is a string, not a list of tokens; split "
                               f"each sentence into its words first")
            try:
                line = " ".join(tokens)
            except TypeError:
                raise W2VError(f"sentence {number} holds a token that is not a string") from None
            if len(line.split()) != len(tokens):
                raise W2VError(f"sentence {number} holds an empty token or one with white space "
                               f"in it; tokens are words")
            out.write(line + "\n")
    return path


def _evaluation(evaluate: bool, similarity: Sequence[PathLike],
                analogies: Sequence[PathLike]) -> tuple[list[Path], list[Path]] | None:
    """The word-pair and analogy files to score after every epoch, if any."""
    if similarity or analogies:
        for flag, paths in (("--eval-similarity", similarity), ("--eval-analogies", analogies)):
            for path in paths:
                if not Path(path).is_file():
                    raise W2VError(f"{flag} {path}: no such file")
        return [Path(p) for p in similarity], [Path(p) for p in analogies]
    if not evaluate:
        return None
    from w2v.evaluate import default_evaluation_files

    return default_evaluation_files()


def _path(value: PathLike | None) -> Path | None:
    return None if value is None else Path(value)
