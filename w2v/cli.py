"""The w2v command line: thin commands that parse flags, call one function and print.

Heavy modules (torch) are imported inside the commands that need them, so `w2v prepare`
and `w2v --help` start fast.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from w2v.errors import Interrupted, W2VError

if TYPE_CHECKING:
    from w2v.vectors import Vectors

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="word2vec on PyTorch: prepare a corpus, train, query and export vectors.")

_debug = os.environ.get("W2V_DEBUG", "") not in ("", "0")

RunOption = Annotated[Path | None, typer.Option(
    "--run", help="A run directory, or a folder of runs (the most recent is used). Default: ./runs")]
VectorsOption = Annotated[Path | None, typer.Option(
    "--vectors", help="A word2vec text or binary file, instead of a run.")]


@app.callback()
def _options(verbose: Annotated[bool, typer.Option(
        "--verbose", help="Show the full traceback of an error.")] = False) -> None:
    global _debug
    _debug = _debug or verbose


@app.command()
def prepare(
    source: Annotated[str | None, typer.Argument(
        help="A text file (.txt, .gz, .zip) or http(s) URL. Default: the Penn Treebank.")] = None,
    data_dir: Annotated[Path, typer.Option(help="Where datasets are written.")] = Path("data"),
    min_count: Annotated[int, typer.Option(help="Drop words seen fewer times.")] = 10,
    max_vocab: Annotated[int | None, typer.Option(help="Keep at most this many words.")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Processes that read the corpus; 1 reads it in this process. "
             "Default: one per available core.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Download (or read) a corpus, build the vocabulary and encode it for training."""
    from w2v.data.prepare import prepare as prepare_dataset

    summary = prepare_dataset(source, data_dir, min_count=min_count, max_vocab=max_vocab,
                              workers=workers, progress=not quiet)
    typer.echo(summary.line())
    typer.echo(f"dataset written to {summary.path}")


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
    lr: Annotated[float | None, typer.Option(help="Starting learning rate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
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
                "seed": seed}
    run = train_run(data, run_dir=run_dir, config=config, device=device, nproc=nproc,
                    resume=resume, force=force, init=init, freeze=freeze, evaluate=evaluate,
                    eval_similarity=eval_similarity or (), eval_analogies=eval_analogies or (),
                    progress=not quiet, **settings)
    if run is not None:
        if init is not None:
            typer.echo(run.init_line())
        typer.echo(run.result.line())


@app.command()
def neighbors(
    words: Annotated[list[str], typer.Argument(help="One or more words.")],
    k: Annotated[int, typer.Option("-k", help="How many neighbours.")] = 10,
    run: RunOption = None,
    vectors: VectorsOption = None,
) -> None:
    """The k nearest words by cosine similarity."""
    v = _load_vectors(run, vectors)
    results = {word: v.most_similar(word, k) for word in words}
    for word, found in results.items():
        typer.echo(f"{word}:")
        for other, score in found:
            typer.echo(f"  {other:<20} {score:.4f}")


@app.command()
def export(
    output: Annotated[Path, typer.Option(help="The file to write.")],
    format: Annotated[str, typer.Option(
        help="word2vec-text, word2vec-binary, or tsv (TensorBoard projector).")] = "word2vec-text",
    run: RunOption = None,
) -> None:
    """Write a run's vectors as word2vec text or binary, or as TensorBoard projector TSV files."""
    v = _load_vectors(run, None)
    written = v.save(output, format=format)
    for path in written:
        typer.echo(f"wrote {path}")


@app.command()
def analogy(
    a: Annotated[str, typer.Argument(help="A, in 'A is to B as C is to ?'.")],
    b: Annotated[str, typer.Argument(help="B")],
    c: Annotated[str, typer.Argument(help="C")],
    k: Annotated[int, typer.Option("-k", help="How many answers.")] = 5,
    method: Annotated[str, typer.Option(help="3cosadd or 3cosmul.")] = "3cosadd",
    run: RunOption = None,
    vectors: VectorsOption = None,
) -> None:
    """A is to B as C is to ?  (e.g. w2v analogy man king woman)"""
    for word, score in _load_vectors(run, vectors).analogy(a, b, c, k=k, method=method):
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
) -> None:
    """Word similarity (Pearson, Spearman) and analogy accuracy; WordSim-353 and Google's set by default."""
    import json

    from w2v.evaluate import default_evaluation_files, format_report
    from w2v.evaluate import evaluate as score

    if not similarity and not analogies:
        similarity, analogies = default_evaluation_files()
    results = score(_load_vectors(run, vectors), similarity or [], analogies or [], method=method)
    typer.echo(json.dumps(results, indent=2) if as_json else format_report(results))


@app.command()
def info(run: RunOption = None) -> None:
    """What a run is: corpus, vocabulary, settings, time, speed, loss, scores."""
    from w2v.run import Run, find_run

    typer.echo(Run(find_run(run)).describe())


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


def _load_vectors(run: Path | None, vectors: Path | None) -> Vectors:
    from w2v.run import find_run
    from w2v.vectors import Vectors

    if run is not None and vectors is not None:
        raise W2VError("give either --run or --vectors, not both")
    return Vectors.load(vectors if vectors is not None else find_run(run, with_vectors=True))


def main(args: list[str] | None = None) -> None:
    """Console entry point: an error the user can cause is one line on stderr, exit non-zero."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
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
