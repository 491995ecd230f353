"""w2v against gensim, side by side in one run, on the real Penn Treebank.

    python scripts/bench.py                      # skip-gram, seeds 1 2 3, CPU
    python scripts/bench.py --model cbow         # CBOW against gensim's CBOW
    python scripts/bench.py --device cuda --repeat 50 --systems w2v   # GPU throughput
    python scripts/bench.py --nproc 1 2          # one against two training processes
    python scripts/bench.py --batch-size 2048 8192 --systems w2v   # w2v at two batch sizes
    python scripts/bench.py --prepare CORPUS --prepare-workers 1 2   # w2v prepare against
                                                 # gensim's build_vocab on one text file
    python scripts/bench.py --raw-text RAW --epochs 5 --min-count 5   # raw text: w2v with
                        # --tokenizer words against gensim on simple_preprocess output
    python scripts/bench.py --vector-file F.bin --generate 3000000 300   # write a test file
    python scripts/bench.py --vector-file F.bin --systems w2v --limit 100000   # load and query
    python scripts/bench.py --subwords 3-6       # w2v --subwords against gensim's FastText,
                                                 # and w2v without subwords

Each system runs in its own process. w2v's time is the wall time of `w2v prepare` plus
`w2v train` (interpreter start and imports included); gensim's is its vocabulary build plus
training inside one process (imports and reading the text excluded). Peak memory is each
process's maximum resident set. WordSim-353 and MEN are Spearman's rho with out-of-vocabulary
pairs skipped, as gensim's evaluate_word_pairs computes it; analogy is the accuracy (%) on the
Google analogy questions whose words are all in the vocabulary, as its evaluate_word_analogies.
Outputs go to --out (default bench-out/).

With --prepare, w2v's time is the wall time of `w2v prepare CORPUS` (start-up included) and
gensim's that of `Word2Vec.build_vocab(LineSentence(CORPUS))` in its process (imports
excluded); memory is the peak of the resident memory summed over each process tree (w2v's
parent and its workers), sampled every 0.1 s.
With --vector-file, each system instead loads a word2vec binary file (its first --limit words)
and answers nearest-neighbour queries: the load time, the first query (which computes the
vector lengths), the median of later single-word queries, 10 words in one call (w2v's
most_similar_batch; gensim has no batch call, so 10 calls), and the process's peak memory.
With --subwords MIN-MAX, each seed trains skip-gram three ways on PTB: w2v without subwords,
w2v --subwords, and gensim's FastText (sg=1, min_n/max_n and bucket the same, the other
settings as for Word2Vec). Times as above; memory is the peak of the process tree's summed
resident memory. Every system is scored by w2v's evaluator on WordSim-353 and MEN (Spearman)
over all pairs (a word outside the vocabulary through its n-grams; without subwords, such pairs
are skipped) and over the pairs inside the vocabulary, and on the Google analogies whose four
words are in the vocabulary (accuracy).
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


GENSIM_FASTTEXT_SCRIPT = """
import json, sys, time
from gensim.models import FastText
from gensim.models.word2vec import LineSentence
corpus, epochs, seed, workers, minn, maxn, buckets, queried, out = sys.argv[1:10]
sentences = list(LineSentence(corpus))
start = time.perf_counter()
m = FastText(sg=1, vector_size=100, window=5, negative=5, sample=1e-4, min_count=10,
             epochs=int(epochs), workers=int(workers), seed=int(seed), min_n=int(minn),
             max_n=int(maxn), bucket=int(buckets))
m.build_vocab(sentences)
m.train(sentences, total_examples=m.corpus_count, epochs=m.epochs)
seconds = time.perf_counter() - start
words = int(sum(m.wv.get_vecattr(w, "count") for w in m.wv.index_to_key)) * int(epochs)
# the vocabulary's vectors, then those of the test sets' other words (from their n-grams)
extra = [w for w in dict.fromkeys(open(queried, encoding="utf-8").read().split("\\n"))
         if w and w not in m.wv.key_to_index]
with open(out, "w", encoding="utf-8") as f:
    f.write(f"{len(m.wv) + len(extra)} {m.wv.vector_size}\\n")
    for w in m.wv.index_to_key + extra:
        f.write(w + " " + " ".join(repr(float(x)) for x in m.wv[w]) + "\\n")
print(json.dumps({"seconds": seconds, "words": words, "vocab": len(m.wv)}))
"""


GENSIM_VOCAB_SCRIPT = """
import json, sys, time
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
start = time.perf_counter()
m = Word2Vec(min_count=int(sys.argv[2]))
m.build_vocab(LineSentence(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - start, "vocab": len(m.wv)}))
"""


GENSIM_RAW_SCRIPT = """
import json, sys, time
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
corpus, epochs, seed, min_count, out, lr = sys.argv[1:7]
start = time.perf_counter()
m = Word2Vec(LineSentence(corpus), sg=1, vector_size=100, window=5, negative=5, sample=1e-4,
             min_count=int(min_count), epochs=int(epochs), workers=2, seed=int(seed),
             alpha=float(lr))
seconds = time.perf_counter() - start
m.wv.save_word2vec_format(out, binary=True)
print(json.dumps({"seconds": seconds, "vocab": len(m.wv)}))
"""
QUERY_SCRIPT = """
import json, sys, time
system, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]) or None
start = time.perf_counter()
if system == "w2v":
    from w2v.vectors import Vectors
    v = Vectors.load(path, limit=limit)
    words = v.words
else:
    from gensim.models import KeyedVectors
    v = KeyedVectors.load_word2vec_format(path, binary=True, limit=limit)
    words = v.index_to_key
loaded = time.perf_counter()
step = len(words) // 23
asked = [words[i * step] for i in range(1, 23)]
times = []
for word in asked[:12]:
    begin = time.perf_counter()
    v.most_similar(word, topn=10)
    times.append(time.perf_counter() - begin)
begin = time.perf_counter()
if system == "w2v":
    v.most_similar_batch([([word], None) for word in asked[12:]], topn=10)
else:
    for word in asked[12:]:
        v.most_similar(word, topn=10)
batch = time.perf_counter() - begin
later = sorted(times[1:])[len(times[1:]) // 2]
print(json.dumps({"words": len(words), "load_s": loaded - start, "first_s": times[0],
                  "later_s": later, "batch10_s": batch}))
"""


def generate_vector_file(path: Path, words: int, dim: int, seed: int = 0) -> None:
    """A word2vec binary file of `words` random vectors (named w0, w1, ...), written in blocks."""
    import numpy as np

    rng = np.random.default_rng(seed)
    with open(path, "wb") as out:
        out.write(f"{words} {dim}\n".encode())
        for start in range(0, words, 100_000):
            rows = (rng.standard_normal((min(100_000, words - start), dim)) * 0.1).astype("<f4")
            out.write(b"".join(b"w%d " % (start + i) + row.tobytes() + b"\n"
                               for i, row in enumerate(rows)))


def bench_vector_file(args: argparse.Namespace) -> None:
    if args.generate:
        generate_vector_file(args.vector_file, *args.generate)
        return
    lines = [(f"{'system':<8} {'words':>9} {'load s':>8} {'first q s':>10} {'later q s':>10} "
              f"{'10 q s':>8} {'peak MB':>8}")]
    for system in args.systems:
        out, _, peak = run([sys.executable, "-c", QUERY_SCRIPT, system, str(args.vector_file),
                            str(args.limit or 0)])
        r = json.loads(out)
        lines.append(f"{system:<8} {r['words']:>9,} {r['load_s']:>8.1f} {r['first_s']:>10.3f} "
                     f"{r['later_s']:>10.3f} {r['batch10_s']:>8.3f} {peak:>8,.0f}")
        print(lines[-1], flush=True)
    header = (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
              f"{args.vector_file.name}, limit {args.limit}")
    print("\n" + header + "\n" + "\n".join(lines))


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


def tree_rss(root: int) -> int:
    """Resident bytes of process `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


def run_sampled(command: list[str]) -> tuple[str, float, float]:
    """(stdout, wall seconds, peak MB of the process tree's summed resident memory)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
    peak = 0
    while child.poll() is None:
        peak = max(peak, tree_rss(child.pid))
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    out, err = child.communicate()
    if child.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{err}")
    return out, seconds, peak / 1e6


def bench_prepare(args: argparse.Namespace) -> None:
    """w2v prepare against gensim's build_vocab on one file, alternating."""
    corpus = args.prepare
    mb = corpus.stat().st_size / 1e6
    rows = []
    for workers in args.prepare_workers:
        if "w2v" in args.systems:
            data = args.out / "prepare-data"
            shutil.rmtree(data, ignore_errors=True)
            out, seconds, peak = run_sampled(w2v(
                "prepare", str(corpus), "--data-dir", str(data), "--quiet", "--workers",
                str(workers), "--min-count", str(args.min_count), *args.prepare_flags))
            rows.append((f"w2v prepare, {workers} worker(s)", seconds, mb / seconds, peak,
                         out.splitlines()[0]))
            shutil.rmtree(data, ignore_errors=True)
            print(rows[-1], flush=True)
    if "gensim" in args.systems:
        out, wall, peak = run_sampled([sys.executable, "-c", GENSIM_VOCAB_SCRIPT, str(corpus),
                                       str(args.min_count)])
        r = json.loads(out)
        rows.append(("gensim build_vocab", r["seconds"], mb / r["seconds"], peak,
                     f"vocabulary {r['vocab']:,}, process wall {wall:.1f} s"))
        print(rows[-1], flush=True)
    header = (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} "
              f"cores, {corpus.name} ({mb:.0f} MB), min-count {args.min_count}")
    print("\n" + header)
    print(f"{'system':<28} {'seconds':>8} {'MB/s':>6} {'peak MB':>8}  notes")
    for system, seconds, rate, peak, note in rows:
        print(f"{system:<28} {seconds:>8.1f} {rate:>6.1f} {peak:>8.0f}  {note}")


def scores(vectors_path: Path, args: argparse.Namespace) -> dict[str, float]:
    """WordSim-353 and MEN (Spearman) and the Google analogies (accuracy), w2v's evaluator."""
    from w2v.evaluate import evaluate_word_analogies, evaluate_word_pairs
    from w2v.vectors import Vectors

    vectors = Vectors.load(vectors_path)
    analogies = evaluate_word_analogies(vectors, args.analogies)
    return {"wordsim": evaluate_word_pairs(vectors, args.wordsim).spearman,
            "men": evaluate_word_pairs(vectors, args.men).spearman,
            "analogies": analogies.accuracy, "questions": analogies.total}


def show_neighbours(label: str, vectors_path: Path, words: list[str]) -> None:
    from w2v.vectors import Vectors

    vectors = Vectors.load(vectors_path)
    for word in words:
        found = [w for w, _ in vectors.most_similar(word, 6)] if word in vectors else ["-"]
        print(f"  {label:>10} {word}: {', '.join(found)}", flush=True)


def bench_raw_text(args: argparse.Namespace) -> None:
    """Raw text: w2v prepare --tokenizer words + train against gensim on simple_preprocess."""
    from gensim.utils import simple_preprocess

    raw, epochs, min_count = args.raw_text, args.epochs or 5, args.min_count
    preprocessed = args.out / f"{raw.stem}.simple_preprocess.txt"
    if not preprocessed.exists():
        with open(raw, encoding="utf-8", errors="replace") as src, open(preprocessed, "w") as dst:
            dst.writelines(" ".join(simple_preprocess(line)) + "\n" for line in src)
    data = args.out / "raw-data"
    for tokenizer in ("whitespace", "words"):
        run(w2v("prepare", str(raw), "--data-dir", str(data), "--name", f"raw-{tokenizer}",
                "--tokenizer", tokenizer, "--min-count", str(min_count), "--quiet"))
    rows = []
    for seed in args.seeds:
        for tokenizer in ("words", "whitespace"):
            run_dir = args.out / "runs" / f"raw-{tokenizer}-s{seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            _, seconds, _ = run(w2v("train", "--data", str(data / f"raw-{tokenizer}"),
                                    "--run-dir", str(run_dir), "--epochs", str(epochs),
                                    "--seed", str(seed), "--lr", str(args.lr), "--quiet"))
            rows.append((f"w2v --tokenizer {tokenizer}", seed, seconds, scores(run_dir, args)))
            print(rows[-1], flush=True)
            if seed == args.seeds[0]:
                show_neighbours(tokenizer, run_dir, args.show)
        vectors = args.out / f"gensim-raw-s{seed}.bin"
        out, _, _ = run([sys.executable, "-c", GENSIM_RAW_SCRIPT, str(preprocessed), str(epochs),
                         str(seed), str(min_count), str(vectors), str(args.lr)])
        rows.append(("gensim, simple_preprocess", seed, json.loads(out)["seconds"],
                     scores(vectors, args)))
        print(rows[-1], flush=True)
        if seed == args.seeds[0]:
            show_neighbours("gensim", vectors, args.show)
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {raw.name}, skip-gram, {epochs} epochs, "
          f"min-count {min_count}, learning rate {args.lr} for both")
    print(f"{'system':<28} {'seed':>4} {'train s':>8} {'WS353':>6} {'MEN':>6} {'analogy':>8} "
          f"{'asked':>6}")
    for system in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == system]
        for name, seed, seconds, s in [*mine, (f"{system} (mean)", 0, statistics.mean(
                r[2] for r in mine), {k: statistics.mean(r[3][k] for r in mine)
                                      for k in mine[0][3]})]:
            print(f"{name:<28} {seed or '':>4} {seconds:>8.1f} {s['wordsim']:>6.3f} "
                  f"{s['men']:>6.3f} {s['analogies']:>8.1%} {s['questions']:>6.0f}")


@dataclass
class SubwordResult:
    system: str
    seed: int
    seconds: float
    words_per_s: float
    peak_mb: float
    scores: dict[str, float]


SUBWORD_SCORES = ("ws_all", "ws_in", "men_all", "men_in", "analogies")


def subword_scores(everything, vocabulary, args: argparse.Namespace) -> dict[str, float]:
    """WordSim-353 and MEN over all pairs (`everything`: Vectors that give unseen words their
    n-grams' vector) and over the vocabulary's pairs (`vocabulary`), analogies over the
    vocabulary's questions."""
    from w2v.evaluate import evaluate_word_analogies, evaluate_word_pairs

    return {"ws_all": evaluate_word_pairs(everything, args.wordsim).spearman,
            "ws_in": evaluate_word_pairs(vocabulary, args.wordsim).spearman,
            "men_all": evaluate_word_pairs(everything, args.men).spearman,
            "men_in": evaluate_word_pairs(vocabulary, args.men).spearman,
            "analogies": evaluate_word_analogies(vocabulary, args.analogies).accuracy}


def evaluation_words(args: argparse.Namespace) -> list[str]:
    words = []
    for path in (args.wordsim, args.men):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                words += line.split("\t")[:2]
    return words


def bench_subwords_w2v(args: argparse.Namespace, dataset: Path, prepare_s: float,
                       prepare_mb: float, seed: int, subwords: str) -> SubwordResult:
    from w2v.vectors import Vectors

    run_dir = args.out / "runs" / f"w2v-subwords{subwords}-s{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    flags = ["--data", str(dataset), "--run-dir", str(run_dir), "--seed", str(seed), "--quiet",
             "--subwords", subwords, "--buckets", str(args.buckets)]
    if args.epochs:
        flags += ["--epochs", str(args.epochs)]
    _, seconds, peak = run_sampled(w2v("train", *flags))
    info = json.loads((run_dir / "run.json").read_text())
    vectors = Vectors.load(run_dir)
    name = "w2v" if subwords == "0" else f"w2v --subwords {subwords}"
    return SubwordResult(name, seed, prepare_s + seconds, info["words_per_s"],
                         max(peak, prepare_mb), subword_scores(
                             vectors, Vectors(vectors.words, vectors.vectors), args))


def bench_subwords_gensim(args: argparse.Namespace, corpus: Path, seed: int) -> SubwordResult:
    from w2v.vectors import Vectors

    minn, maxn = args.subwords.split("-")
    vectors_path = args.out / f"gensim-fasttext-s{seed}.txt"
    queried = args.out / "evaluation-words.txt"
    queried.write_text("\n".join(evaluation_words(args)) + "\n", encoding="utf-8")
    out, _, peak = run_sampled([sys.executable, "-c", GENSIM_FASTTEXT_SCRIPT, str(corpus),
                                str(args.epochs or 20), str(seed), str(args.workers), minn, maxn,
                                str(args.buckets), str(queried), str(vectors_path)])
    r = json.loads(out)
    everything = Vectors.load(vectors_path)
    vocabulary = Vectors(everything.words[:r["vocab"]], everything.vectors[:r["vocab"]])
    return SubwordResult(f"gensim FastText ({args.workers} w)", seed, r["seconds"],
                         r["words"] / r["seconds"], peak,
                         subword_scores(everything, vocabulary, args))


def subword_table(results: list[SubwordResult]) -> str:
    names = {"ws_all": "WS all", "ws_in": "WS in", "men_all": "MEN all", "men_in": "MEN in",
             "analogies": "analogy"}
    lines = [f"{'system':<28} {'seed':>4} {'wall s':>7} {'words/s':>10} {'peak MB':>8} "
             + " ".join(f"{names[k]:>7}" for k in SUBWORD_SCORES)]
    rows = [*results]
    for system in dict.fromkeys(r.system for r in results):
        mine = [r for r in results if r.system == system]
        if len(mine) > 1:
            rows.append(SubwordResult(
                f"{system} (mean)", 0, statistics.mean(r.seconds for r in mine),
                statistics.mean(r.words_per_s for r in mine), max(r.peak_mb for r in mine),
                {k: statistics.mean(r.scores[k] for r in mine) for k in SUBWORD_SCORES}))
    for r in rows:
        lines.append(f"{r.system:<28} {r.seed or '':>4} {r.seconds:>7.1f} "
                     f"{r.words_per_s:>10,.0f} {r.peak_mb:>8,.0f} "
                     + " ".join(f"{r.scores[k]:>7.3f}" for k in SUBWORD_SCORES))
    return "\n".join(lines)


def bench_subwords(args: argparse.Namespace) -> None:
    """w2v with and without subwords against gensim's FastText on PTB, seed by seed."""
    corpus = write_corpus(args.ptb, args.out, 1)
    results: list[SubwordResult] = []
    for seed in args.seeds:
        if "w2v" in args.systems:
            dataset, prepare_s, prepare_mb = prepare_w2v(args.out, args.ptb, 1, corpus)
            for subwords in ("0", args.subwords):
                results.append(bench_subwords_w2v(args, dataset, prepare_s, prepare_mb, seed,
                                                  subwords))
                print(subword_table(results[-1:]).splitlines()[1], flush=True)
        if "gensim" in args.systems:
            results.append(bench_subwords_gensim(args, corpus, seed))
            print(subword_table(results[-1:]).splitlines()[1], flush=True)
    header = (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
              f"skip-gram, subwords {args.subwords}, {args.buckets:,} buckets, PTB, "
              f"{args.epochs or 20} epochs")
    print("\n" + header + "\n" + subword_table(results))
    record = {"header": header, "argv": sys.argv[1:], "results": [asdict(r) for r in results]}
    (args.out / f"bench-subwords-{'-'.join(map(str, args.seeds))}.json").write_text(
        json.dumps(record, indent=2))


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
    s = scores(run_dir, args)
    name = "w2v" + (f" --nproc {nproc}" if nproc > 1 else "") + \
        (f" --batch-size {batch_size}" if batch_size else "")
    return Result(name, seed, prepare_s + seconds, info["words_per_s"], info["centers_per_s"],
                  max(peak, prepare_mb), s["wordsim"], s["men"], s["analogies"] * 100)


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
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out")
    parser.add_argument("--prepare", type=Path, help="time w2v prepare on this text file instead")
    parser.add_argument("--prepare-workers", type=int, nargs="+", default=[2])
    parser.add_argument("--prepare-flags", nargs="*", default=[], help="more w2v prepare flags")
    parser.add_argument("--min-count", type=int, default=10, help="with --prepare, --raw-text")
    parser.add_argument("--raw-text", type=Path, help="compare on this raw text file instead")
    parser.add_argument("--men", type=Path, default=SHARED / "men3k.tsv")
    parser.add_argument("--lr", type=float, default=0.025,
                        help="with --raw-text: the starting learning rate of both systems")
    parser.add_argument("--analogies", type=Path, default=SHARED / "questions-words.txt")
    parser.add_argument("--show", nargs="*", default=["water", "chip", "king", "house", "run"],
                        help="with --raw-text: words whose neighbours are printed")
    parser.add_argument("--vector-file", type=Path, help="benchmark loading and querying it")
    parser.add_argument("--limit", type=int, help="with --vector-file: read the first N words")
    parser.add_argument("--generate", type=int, nargs=2, metavar=("WORDS", "DIM"),
                        help="with --vector-file: write a random file of that size")
    parser.add_argument("--subwords", help="MIN-MAX: compare subword training with FastText")
    parser.add_argument("--buckets", type=int, default=2_000_000, help="with --subwords")
    args = parser.parse_args()
    if args.vector_file:
        bench_vector_file(args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    if args.prepare:
        bench_prepare(args)
        return
    if args.raw_text:
        bench_raw_text(args)
        return
    if args.subwords:
        bench_subwords(args)
        return
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
