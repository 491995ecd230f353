"""The w2v command line: thin commands that parse flags, call one function and print.

Heavy modules (torch) are imported inside the commands that need them, so `w2v prepare`
and `w2v --help` start fast.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand

from w2v.errors import Interrupted, W2VError, W2VWarning

if TYPE_CHECKING:
    from w2v.vectors import Vectors

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="word2vec on PyTorch: prepare a corpus, train, query and export vectors.")

_debug = os.environ.get("W2V_DEBUG", "") not in ("", "0")

RunOption = Annotated[Path | None, typer.Option(
    "--run", help="A run directory, or a folder of runs (the most recent is used). Default: ./runs")]
VectorsOption = Annotated[Path | None, typer.Option(
    "--vectors", help="A vector file instead of a run: word2vec text or binary, GloVe text "
                      "without a header, or a fastText .bin model; plain, gzip, bz2 or xz.")]
LimitOption = Annotated[int | None, typer.Option(
    "--limit", min=1, help="Read only the first N words (the most frequent, in files sorted by "
                           "frequency); the rest of the file is not read.")]
NoHeaderOption = Annotated[bool, typer.Option(
    "--no-header", help="The --vectors file has no header line (GloVe); else told by content.")]


@app.callback()
def _options(verbose: Annotated[bool, typer.Option(
        "--verbose", help="Show the full traceback of an error.")] = False) -> None:
    global _debug
    _debug = _debug or verbose


@app.command()
def prepare(
    sources: Annotated[list[str] | None, typer.Argument(
        help="Text files (.txt, .gz, .bz2, .xz, .zip), folders of them, or http(s) URLs, read "
             "as one corpus. Default: the Penn Treebank.", show_default=False)] = None,
    data_dir: Annotated[Path, typer.Option(help="Where datasets are written.")] = Path("data"),
    name: Annotated[str | None, typer.Option(
        help="The dataset's name. Default: the first source's name.")] = None,
    tokenizer: Annotated[str, typer.Option(
        help="whitespace: words are what white space separates, as written. words: raw text, "
             "NFKC-normalized, case-folded, punctuation dropped.")] = "whitespace",
    lowercase: Annotated[bool, typer.Option(help="Lower-case the text first.")] = False,
    min_count: Annotated[int, typer.Option(help="Drop words seen fewer times.")] = 10,
    max_vocab: Annotated[int | None, typer.Option(help="Keep at most this many words.")] = None,
    count_memory: Annotated[int, typer.Option(
        help="MB for counting words; counts beyond it go to disk, exact all the same.")] = 512,
    workers: Annotated[int | None, typer.Option(
        help="Processes that read the corpus; 1 reads it in this process. "
             "Default: one per available core.")] = None,
    phrases: Annotated[int, typer.Option(
        help="Passes of phrase learning, as word2phrase run that many times: 1 joins pairs of "
             "words that occur together often (new york -> new_york), 2 joins up to four.")] = 0,
    phrase_scoring: Annotated[str | None, typer.Option(
        help="word2phrase: (n(ab) - min count) / n(a) / n(b) * tokens, as the C tool. npmi: "
             "normalized pointwise mutual information, in [-1, 1], as gensim's.",
        show_default="word2phrase")] = None,
    phrase_threshold: Annotated[float | None, typer.Option(
        help="Pairs scoring above it become phrases.",
        show_default="100 with word2phrase scoring, 0.5 with npmi")] = None,
    phrase_min_count: Annotated[int | None, typer.Option(
        help="Pairs seen fewer times never become phrases.", show_default="5")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Download (or read) a corpus, build the vocabulary and encode it for training."""
    from w2v.data.phrases import phrase_settings
    from w2v.data.prepare import prepare as prepare_dataset

    if count_memory < 16:
        raise W2VError(f"--count-memory must be at least 16 (MB), not {count_memory}")
    settings = phrase_settings(phrases, phrase_scoring, phrase_threshold, phrase_min_count)
    summary = prepare_dataset(sources, data_dir, name=name, tokenizer=tokenizer,
                              lowercase=lowercase, min_count=min_count, max_vocab=max_vocab,
                              workers=workers, count_memory=count_memory << 20,
                              phrases=settings, progress=not quiet)
    typer.echo(summary.line())
    typer.echo(f"dataset written to {summary.path}")
    if summary.hint:
        typer.echo(f"w2v: note: {summary.hint}", err=True)


@app.command()
def train(
    data: Annotated[Path | None, typer.Option(
        help="A prepared dataset, or a folder of them (the most recent is used). Default: ./data")] = None,
    run_dir: Annotated[Path | None, typer.Option(
        help="Directory for this run: new or empty. Default: ./runs/<dataset name>")] = None,
    config: Annotated[Path | None, typer.Option(help="A TOML file of hyperparameters.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    model: Annotated[str | None, typer.Option(help="skipgram or cbow.")] = None,
    dim: Annotated[int | None, typer.Option(help="Vector dimension.")] = None,
    window: Annotated[int | None, typer.Option(help="Largest context window.")] = None,
    negatives: Annotated[int | None, typer.Option(
        help="Noise words per context word (skipgram) or per center word (cbow).")] = None,
    sample: Annotated[float | None, typer.Option(help="Subsampling threshold t (0: off).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the corpus.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Center words per step.")] = None,
    lr: Annotated[float | None, typer.Option(
        help="Starting learning rate (default: the model's, higher for batches above 4096).")] = None,
    step_limit: Annotated[float | None, typer.Option(
        help="Largest lr x stiffness of a table row in one step (0: plain SGD).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    subwords: Annotated[str | None, typer.Option(
        help="MIN-MAX: a word's vector is the mean of its own and its character n-grams' "
             "(MIN to MAX characters, fastText's 3-6), so every word has one; 0: none.")] = None,
    buckets: Annotated[int | None, typer.Option(
        help="With --subwords, the rows n-grams are hashed into (fastText's 2,000,000).")] = None,
    init: Annotated[Path | None, typer.Option(
        help="Start the input vectors of the words it has from a word2vec file or a run.")] = None,
    freeze: Annotated[bool, typer.Option(
        help="With --init, keep the vectors it sets as they are.")] = False,
    resume: Annotated[bool, typer.Option(
        help="Continue the run in --run-dir (default: the most recent) from its checkpoint.")] = False,
    force: Annotated[bool, typer.Option(
        help="With --resume, accept settings that differ from the checkpoint's; without it, "
             "start the run in --run-dir over.")] = False,
    nproc: Annotated[int, typer.Option(
        help="Training processes on this machine (torch.distributed; gloo on CPU, NCCL on GPU).")] = 1,
    evaluate: Annotated[bool, typer.Option(
        "--eval", help="Score WordSim-353 and the Google analogies after every epoch.")] = False,
    eval_similarity: Annotated[list[Path] | None, typer.Option(
        help="Score this word-pair file after every epoch. Repeatable.")] = None,
    eval_analogies: Annotated[list[Path] | None, typer.Option(
        help="Score this analogy file after every epoch. Repeatable.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Train skip-gram or CBOW with negative sampling on a prepared dataset."""
    from w2v.api import train as train_run

    settings = {"model": model, "dim": dim, "window": window, "negatives": negatives,
                "sample": sample, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                "step_limit": step_limit, "seed": seed, "subwords": subwords, "buckets": buckets}
    run = train_run(data, run_dir=run_dir, config=config, device=device, nproc=nproc,
                    resume=resume, force=force, init=init, freeze=freeze, evaluate=evaluate,
                    eval_similarity=eval_similarity or (), eval_analogies=eval_analogies or (),
                    progress=not quiet, **settings)
    if run is not None:
        if init is not None:
            typer.echo(run.init_line())
        typer.echo(run.result.line())


class _SignedWords(TyperCommand):
    """A command whose words may start with - or + (`w2v neighbors king -man +woman`): every
    argument that is not one of its options goes after a `--`, where it cannot be taken for one."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        takes_value = {name: not getattr(param, "is_flag", True) for param in self.params
                       for name in getattr(param, "opts", []) + getattr(param, "secondary_opts", [])
                       if name.startswith("-")}
        options: list[str] = []
        words: list[str] = []
        rest = iter(args)
        for arg in rest:
            name = arg.split("=", 1)[0]
            if arg == "--":
                words.extend(rest)
            elif arg.startswith("--") or name in takes_value:
                options.append(arg)
                if takes_value.get(name) and "=" not in arg:
                    options.extend(itertools.islice(rest, 1))  # its value
            elif takes_value.get(arg[:2]) and arg[2:].isdigit():  # -k5
                options.append(arg)
            else:
                words.append(arg)
        return super().parse_args(ctx, options + ["--", *words])


@app.command(cls=_SignedWords)
def neighbors(
    words: Annotated[list[str], typer.Argument(
        help="Words; 'king -man +woman' is one query, the nearest words to king - man + woman.")],
    k: Annotated[int, typer.Option("-k", help="How many neighbours.")] = 10,
    restrict_vocab: Annotated[int | None, typer.Option(
        min=1, help="Search only the first N words (the most frequent).")] = None,
    run: RunOption = None,
    vectors: VectorsOption = None,
    limit: LimitOption = None,
    no_header: NoHeaderOption = False,
) -> None:
    """The k nearest words by cosine similarity, to a word or to a sum of words."""
    queries = neighbor_queries(words)
    v = _load_vectors(run, vectors, limit, no_header)
    _note_unseen(v, [word for _, plus, minus in queries for word in plus + minus])
    found = v.most_similar_batch([(plus, minus) for _, plus, minus in queries], k, restrict_vocab)
    for (label, _, _), neighbours in zip(queries, found):
        typer.echo(f"{label}:")
        for other, score in neighbours:
            typer.echo(f"  {other:<20} {score:.4f}")


def neighbor_queries(words: list[str]) -> list[tuple[str, list[str], list[str]]]:
    """(label, positive words, negative words) for each query: a plain word starts a query,
    a word after + or - adds to or subtracts from the one before it."""
    queries: list[tuple[str, list[str], list[str]]] = []
    for word in words:
        sign = word[0] if len(word) > 1 and word[0] in "+-" else ""
        if not sign or not queries:
            queries.append(("", [], []))
        label, positive, negative = queries[-1]
        (negative if sign == "-" else positive).append(word[len(sign):])
        queries[-1] = (f"{label} {word}".strip(), positive, negative)
    return queries


@app.command()
def export(
    output: Annotated[Path | None, typer.Option(
        help="The file to write. Default: in the run directory, vectors.txt (or .bin, .glove.txt, "
             ".tsv; vectors-<table>.* for --table).")] = None,
    format: Annotated[str, typer.Option(
        help="word2vec-text, word2vec-binary, glove (text without header), tsv (TensorBoard "
             "projector), or fasttext-bin (a run trained with --subwords, or a fastText .bin: "
             "fastText's model, which gives any word a vector).")] = "word2vec-text",
    table: Annotated[str | None, typer.Option(
        help="center, context, or sum (of the two), instead of the word vectors. Skip-gram's "
             "word vectors are its center table (word2vec's syn0) and context is its output "
             "table (syn1neg); CBOW's word vectors are its context table, center its output "
             "table.")] = None,
    run: RunOption = None,
    vectors: VectorsOption = None,
    limit: LimitOption = None,
    no_header: NoHeaderOption = False,
) -> None:
    """Write a run's vectors (or convert a --vectors file) as word2vec text or binary, GloVe
    text, TensorBoard projector TSV files, or a fastText model."""
    from w2v.atomic import writes_in_place
    from w2v.formats import default_file_name
    from w2v.run import find_run

    name = default_file_name(format, table)
    if vectors is not None:
        if output is None:
            raise W2VError("give --output, the file to write the --vectors file's vectors to")
        v = _load_vectors(run, vectors, limit, no_header, table)
    else:
        run_dir = find_run(run, with_vectors=table is None)
        v = _load_vectors(run_dir, None, limit, no_header, table)
        output = output if output is not None else run_dir / name
    for path in v.save(output, format=format):
        typer.echo(f"wrote {path}", err=writes_in_place(path))  # not into the vectors on stdout


@app.command()
def analogy(
    a: Annotated[str, typer.Argument(help="A, in 'A is to B as C is to ?'.")],
    b: Annotated[str, typer.Argument(help="B")],
    c: Annotated[str, typer.Argument(help="C")],
    k: Annotated[int, typer.Option("-k", help="How many answers.")] = 5,
    method: Annotated[str, typer.Option(help="3cosadd or 3cosmul.")] = "3cosadd",
    run: RunOption = None,
    vectors: VectorsOption = None,
    limit: LimitOption = None,
    no_header: NoHeaderOption = False,
) -> None:
    """A is to B as C is to ?  (e.g. w2v analogy man king woman)"""
    v = _load_vectors(run, vectors, limit, no_header)
    _note_unseen(v, [a, b, c])
    for word, score in v.analogy(a, b, c, k=k, method=method):
        typer.echo(f"{word:<20} {score:.4f}")


@app.command()
def evaluate(
    similarity: Annotated[list[Path] | None, typer.Option(
        help="Word-pair file (word, word, score; tab-separated). Repeatable.")] = None,
    analogies: Annotated[list[Path] | None, typer.Option(
        help="Analogy file in questions-words.txt format. Repeatable.")] = None,
    method: Annotated[str, typer.Option(help="Analogy method: 3cosadd or 3cosmul.")] = "3cosadd",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    run: RunOption = None,
    vectors: VectorsOption = None,
    limit: LimitOption = None,
    no_header: NoHeaderOption = False,
) -> None:
    """Word similarity (Pearson, Spearman) and analogy accuracy; WordSim-353 and Google's set by default."""
    from w2v.evaluate import default_evaluation_files, format_report, to_json
    from w2v.evaluate import evaluate as score

    if not similarity and not analogies:
        similarity, analogies = default_evaluation_files()
    v = _load_vectors(run, vectors, limit, no_header)
    results = score(v, similarity or [], analogies or [], method=method)
    typer.echo(to_json(results) if as_json else format_report(results))


@app.command()
def info(
    run: RunOption = None,
    vectors: VectorsOption = None,
    limit: LimitOption = None,
    no_header: NoHeaderOption = False,
) -> None:
    """What a run is (corpus, vocabulary, settings, time, speed, loss, scores), or a vector file."""
    from w2v.run import Run, find_run

    if vectors is None:
        _check_file_options(limit, no_header)
        typer.echo(Run(find_run(run)).describe())
        return
    from w2v.formats import describe_vector_file, read_vectors

    if run is not None:
        raise W2VError("give either --run or --vectors, not both")
    file = read_vectors(vectors, "glove" if no_header else "auto", limit=limit)
    typer.echo(describe_vector_file(vectors, file))


@app.command()
def plot(
    run: RunOption = None,
    words: Annotated[str | None, typer.Option(
        help="Comma-separated words to map. Default: the 100 most frequent.")] = None,
) -> None:
    """Draw a run's training loss and a 2-D map of its word vectors, into the run directory."""
    from w2v.plot import plot_run
    from w2v.run import find_run

    chosen = [w.strip() for w in words.split(",") if w.strip()] if words is not None else None
    plots = plot_run(find_run(run, with_vectors=True), chosen)
    typer.echo(f"wrote {plots.loss_png}")
    typer.echo(f"wrote {plots.words_png}")


def _load_vectors(run: Path | None, vectors: Path | None, limit: int | None = None,
                  no_header: bool = False, table: str | None = None) -> Vectors:
    from w2v.run import find_run
    from w2v.vectors import Vectors

    if run is not None and vectors is not None:
        raise W2VError("give either --run or --vectors, not both")
    if vectors is None:
        _check_file_options(None, no_header)
    source = vectors if vectors is not None else find_run(run, with_vectors=table is None)
    return Vectors.load(source, limit=limit, no_header=no_header, table=table)  # type: ignore[arg-type]


def _note_unseen(vectors: Vectors, words: list[str]) -> None:
    """Say which query words are outside the vocabulary and where their vectors come from."""
    for word in dict.fromkeys(words):
        if word in vectors or vectors.subwords is None:
            continue
        if vectors.get_vector(word).any():
            how = "its vector is the mean of its character n-grams' vectors"
        else:
            how = "and none of its character n-grams was trained: its vector is zero"
        typer.echo(f"w2v: note: {word!r} is not in the vocabulary; {how}", err=True)


def _check_file_options(limit: int | None, no_header: bool) -> None:
    """Refuse the options of --vectors that do not apply to a run."""
    if no_header:
        raise W2VError("--no-header applies to a --vectors file, not to a run")
    if limit is not None:
        raise W2VError("--limit applies to a --vectors file here, not to a run")


def main(args: list[str] | None = None) -> None:
    """Console entry point: an error the user can cause is one line on stderr, exit non-zero."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", W2VWarning)
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            code = app(args=args, prog_name="w2v", standalone_mode=False)
    except W2VError as e:
        _fail(str(e), 130 if isinstance(e, Interrupted) else 1)
    except typer.Abort:
        _fail("aborted", 1)
    except KeyboardInterrupt:
        code = 130
    except OSError as e:
        where = f" ({e.filename})" if e.filename else ""
        _fail(f"{(e.strerror or str(e)).lower()}{where}; check the path, permissions and free "
              f"disk space", 1)
    except Exception as e:
        if not _is_usage_error(e):
            raise
        if not (sys.argv[1:] if args is None else args):
            e.show()  # plain `w2v`: the help
            sys.exit(e.exit_code)
        ctx = getattr(e, "ctx", None)
        hint = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
        _fail(" ".join(e.format_message().split()).rstrip(".") + hint, e.exit_code)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code == 130:  # typer's answer to Ctrl-C outside training
        typer.echo("w2v: interrupted", err=True)
    if isinstance(code, int) and code:
        sys.exit(code)


def _one_line_warnings(show: Callable[..., None]) -> Callable[..., None]:
    """A `warnings.showwarning` that prints a warning of ours as one line on stderr, and
    passes others to `show`."""

    def showwarning(message: Warning | str, category: type[Warning], *args: Any,
                    **kwargs: Any) -> None:
        if issubclass(category, W2VWarning):
            typer.echo(f"w2v: warning: {message}", err=True)
        else:
            show(message, category, *args, **kwargs)

    return showwarning


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so that half-written files are removed on the way out."""
    raise KeyboardInterrupt


def _is_usage_error(e: Exception) -> bool:
    """Whether `e` is typer's report of a flag or argument it could not parse.

    Typer's exception classes are private since it took in click, so they are told by shape.
    """
    return isinstance(getattr(e, "exit_code", None), int) and hasattr(e, "format_message")


def _fail(message: str, code: int) -> NoReturn:
    if _debug:
        traceback.print_exc()
    typer.echo(f"w2v: error: {message}", err=True)
    sys.exit(code)
