"""w2v against gensim, side by side in one run, on the real Penn Treebank.

    python scripts/bench.py                      # skip-gram, seeds 1 2 3, CPU
    python scripts/bench.py --model cbow         # CBOW against gensim's CBOW
    python scripts/bench.py --device cuda --repeat 50 --systems w2v   # GPU throughput
    python scripts/bench.py --nproc 1 2          # one against two training processes
    python scripts/bench.py --batch-size 2048 8192 --systems w2v   # w2v at two batch sizes

Each system runs in its own process. w2v's time is the wall time of `w2v prepare` plus
`w2v train` (interpreter start and imports included); gensim's is its vocabulary build plus
training inside one process (imports and reading the text excluded). Peak memory is each
process's maximum resident set. WordSim-353 and MEN are Spearman's rho with out-of-vocabulary
pairs skipped, as gensim's evaluate_word_pairs computes it; analogy is the accuracy (%) on the
Google analogy questions whose words are all in the vocabulary, as its evaluate_word_analogies.
Outputs go to --out (default bench-out/).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's w2v, installed or not
SHARED = ROOT.parent / "shared" / "data"

GENSIM_SCRIPT = """
import json, sys, time
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
corpus, model, epochs, seed, wordsim, workers, men, analogies = sys.argv[1:9]
sentences = list(LineSentence(corpus))
start = time.perf_counter()
m = Word2Vec(sg=int(model == "skipgram"), vector_size=100, window=5, negative=5, sample=1e-4,
             min_count=10, epochs=int(epochs), workers=int(workers), seed=int(seed))
m.build_vocab(sentences)
m.train(sentences, total_examples=m.corpus_count, epochs=m.epochs)
seconds = time.perf_counter() - start
words = int(sum(m.wv.get_vecattr(w, "count") for w in m.wv.index_to_key)) * int(epochs)
score = m.wv.evaluate_word_pairs(wordsim)[1].statistic
men_score = m.wv.evaluate_word_pairs(men)[1].statistic
analogy = m.wv.evaluate_word_analogies(analogies)[0]
print(json.dumps({"seconds": seconds, "words": words, "wordsim": score, "men": men_score,
                  "analogy": analogy}))
"""


@dataclass
class Result:
    system: str
    seed: int
    seconds: float
    words_per_s: float
    centers_per_s: float | None
    peak_mb: float
    wordsim: float
    men: float
    analogy: float  # accuracy, %


def run(command: list[str], env: dict[str, str] | None = None) -> tuple[str, float, float]:
    """(stdout, wall seconds, peak resident MB) of a child process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode:
            sys.exit(f"{' '.join(command)} failed:\n{err.read()}")
        return out.read(), seconds, usage.ru_maxrss / 1024


def serve(directory: Path) -> str:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def w2v(*args: str) -> list[str]:
    return [sys.executable, "-m", "w2v", *args]


def prepare_w2v(out: Path, ptb: Path, repeat: int, corpus: Path) -> tuple[Path, float, float]:
    data = out / "data"
    if repeat == 1:
        url = serve(ptb.parent) + "/" + ptb.name
        _, seconds, peak = run(w2v("prepare", "--data-dir", str(data), "--quiet"),
                               env={"W2V_PTB_URL": url})
        return data / "ptb", seconds, peak
    _, seconds, peak = run(w2v("prepare", str(corpus), "--data-dir", str(data), "--quiet"))
    return data / corpus.name.removesuffix(".txt"), seconds, peak


def bench_w2v(args: argparse.Namespace, dataset: Path, prepare_s: float, prepare_mb: float,
              seed: int, nproc: int, batch_size: int | None) -> Result:
    from w2v.evaluate import evaluate_word_analogies, evaluate_word_pairs
    from w2v.vectors import Vectors

    run_dir = args.out / "runs" / f"w2v-{args.model}-n{nproc}-b{batch_size or 0}-s{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    flags = ["--data", str(dataset), "--run-dir", str(run_dir), "--seed", str(seed), "--quiet",
             "--device", args.device]
    if args.model != "skipgram":
        flags += ["--config", str(ROOT / "configs" / f"{args.model}.toml")]
    if args.epochs:
        flags += ["--epochs", str(args.epochs)]
    if nproc > 1:
        flags += ["--nproc", str(nproc)]
    if batch_size:
        flags += ["--batch-size", str(batch_size)]
    _, seconds, peak = run(w2v("train", *flags))
    info = json.loads((run_dir / "run.json").read_text())
    vectors = Vectors.load(run_dir)
    score = evaluate_word_pairs(vectors, args.wordsim).spearman
    men = evaluate_word_pairs(vectors, args.men).spearman
    analogy = evaluate_word_analogies(vectors, args.analogies).accuracy * 100
    name = "w2v" + (f" --nproc {nproc}" if nproc > 1 else "") + \
        (f" --batch-size {batch_size}" if batch_size else "")
    return Result(name, seed, prepare_s + seconds, info["words_per_s"], info["centers_per_s"],
                  max(peak, prepare_mb), score, men, analogy)


def bench_gensim(args: argparse.Namespace, corpus: Path, seed: int) -> Result:
    epochs = str(args.epochs or 20)
    out, _, peak = run([sys.executable, "-c", GENSIM_SCRIPT, str(corpus), args.model, epochs,
                        str(seed), str(args.wordsim), str(args.workers), str(args.men),
                        str(args.analogies)])
    r = json.loads(out)
    return Result(f"gensim ({args.workers} workers)", seed, r["seconds"], r["words"] / r["seconds"],
                  None, peak, r["wordsim"], r["men"], r["analogy"] * 100)


def write_corpus(ptb: Path, out: Path, repeat: int) -> Path:
    text = zipfile.ZipFile(ptb).read("ptb/ptb.train.txt")
    corpus = out / ("ptb.train.txt" if repeat == 1 else f"ptb-x{repeat}.txt")
    if not corpus.exists():
        with open(corpus, "wb") as f:
            f.writelines(text for _ in range(repeat))
    return corpus


def table(results: list[Result]) -> str:
    lines = [(f"{'system':<30} {'seed':>4} {'wall s':>8} {'words/s':>11} {'centers/s':>11} "
             f"{'peak MB':>8} {'WS353':>6} {'MEN':>6} {'analogy %':>9}")]
    for r in results:
        centers = f"{r.centers_per_s:,.0f}" if r.centers_per_s else "-"
        lines.append(f"{r.system:<30} {r.seed:>4} {r.seconds:>8.1f} {r.words_per_s:>11,.0f} "
                     f"{centers:>11} {r.peak_mb:>8.0f} {r.wordsim:>6.3f} {r.men:>6.3f} "
                     f"{r.analogy:>9.2f}")
    for system in dict.fromkeys(r.system for r in results):
        mine = [r for r in results if r.system == system]
        lines.append(f"{system + ' (mean)':<30} {'':>4} "
                     f"{statistics.mean(r.seconds for r in mine):>8.1f} "
                     f"{statistics.mean(r.words_per_s for r in mine):>11,.0f} {'':>11} "
                     f"{max(r.peak_mb for r in mine):>8.0f} "
                     f"{statistics.mean(r.wordsim for r in mine):>6.3f} "
                     f"{statistics.mean(r.men for r in mine):>6.3f} "
                     f"{statistics.mean(r.analogy for r in mine):>9.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="skipgram", choices=["skipgram", "cbow"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, help="override the configured epochs (both systems)")
    parser.add_argument("--nproc", type=int, nargs="+", default=[1], help="w2v training processes")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[None],
                        help="w2v batch sizes (default: w2v's own)")
    parser.add_argument("--systems", nargs="+", default=["w2v", "gensim"])
    parser.add_argument("--workers", type=int, default=2, help="gensim worker threads")
    parser.add_argument("--repeat", type=int, default=1, help="repeat PTB this many times")
    parser.add_argument("--ptb", type=Path, default=SHARED / "ptb.zip")
    parser.add_argument("--wordsim", type=Path, default=SHARED / "wordsim353.tsv")
    parser.add_argument("--men", type=Path, default=SHARED / "men3k.tsv")
    parser.add_argument("--analogies", type=Path, default=SHARED / "questions-words.txt")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = write_corpus(args.ptb, args.out, args.repeat)

    results: list[Result] = []
    for seed in args.seeds:  # interleaved, so drift on a shared machine hits both alike
        if "w2v" in args.systems:
            dataset, prepare_s, prepare_mb = prepare_w2v(args.out, args.ptb, args.repeat, corpus)
            for nproc in args.nproc:
                for batch_size in args.batch_size:
                    results.append(bench_w2v(args, dataset, prepare_s, prepare_mb, seed, nproc,
                                             batch_size))
                    print(table(results[-1:]).splitlines()[1], flush=True)
        if "gensim" in args.systems:
            results.append(bench_gensim(args, corpus, seed))
            print(table(results[-1:]).splitlines()[1], flush=True)

    header = (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
              f"model {args.model}, device {args.device}, corpus PTB x{args.repeat}")
    print("\n" + header + "\n" + table(results))
    record = {"header": header, "argv": sys.argv[1:], "results": [asdict(r) for r in results]}
    (args.out / f"bench-{args.model}-{args.device}.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
