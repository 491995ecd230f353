"""The w2v command line: thin commands that parse flags, call one function and print.

Heavy modules (torch) are imported inside the commands that need them, so `w2v prepare`
and `w2v --help` start fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
        help="Directory for this run. Default: ./runs/<dataset name>")] = None,
    config: Annotated[Path | None, typer.Option(help="A TOML file of hyperparameters.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    dim: Annotated[int | None, typer.Option(help="Vector dimension.")] = None,
    window: Annotated[int | None, typer.Option(help="Largest context window.")] = None,
    negatives: Annotated[int | None, typer.Option(help="Noise words per context word.")] = None,
    sample: Annotated[float | None, typer.Option(help="Subsampling threshold t (0: off).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the corpus.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Center words per step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Starting learning rate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    resume: Annotated[bool, typer.Option(
        help="Continue the run in --run-dir (default: the most recent) from its checkpoint.")] = False,
    force: Annotated[bool, typer.Option(
        help="With --resume, accept settings that differ from the checkpoint's.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Train skip-gram with negative sampling on a prepared dataset."""
    from w2v.train import resume_run, start_run

    overrides = {"dim": dim, "window": window, "negatives": negatives, "sample": sample,
                 "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}
    if resume:
        result = resume_run(run_dir, data, config, overrides, device, force, progress=not quiet)
    else:
        result = start_run(data, run_dir, config, overrides, device, progress=not quiet)
    typer.echo(result.line())


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


def _load_vectors(run: Path | None, vectors: Path | None) -> Vectors:
    from w2v.rundir import find_run
    from w2v.vectors import Vectors

    if run is not None and vectors is not None:
        raise W2VError("give either --run or --vectors, not both")
    return Vectors.load(vectors if vectors is not None else find_run(run))


def main() -> None:
    """Console entry point: a W2VError is one line on stderr and a non-zero exit."""
    try:
        app()
    except W2VError as e:
        if _debug:
            traceback.print_exc()
        typer.echo(f"w2v: error: {e}", err=True)
        sys.exit(130 if isinstance(e, Interrupted) else 1)
    except KeyboardInterrupt:
        typer.echo("w2v: interrupted", err=True)
        sys.exit(130)
    except OSError as e:
        if _debug:
            traceback.print_exc()
        typer.echo(f"w2v: error: {e.strerror or e} ({e.filename or 'file'}); "
                   f"check the path, permissions and free disk space", err=True)
        sys.exit(1)
