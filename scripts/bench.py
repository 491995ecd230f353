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
    python scripts/bench.py --prepare CORPUS --phrases 2    # w2v prepare --phrases 2 against
                        # gensim's Phrases twice, then build_vocab on the joined corpus
    python scripts/bench.py --raw-text RAW --phrases 2   # with and without phrases, both systems;
                        # scores include the phrase analogies (questions-phrases.txt)
    python scripts/bench.py --phrase-check TOKENS --phrase-scoring npmi   # learned phrases of
                        # w2v prepare --phrases 1 against gensim's Phrases, same settings
    python scripts/bench.py --phrase-check TOKENS --systems w2v c-rules --phrases 2   # joins
                        # against word2phrase.c's rules, written plainly in tests/support.py
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
parent and its workers), sampled every 0.1 s. With --phrases N, gensim runs `Phrases` (its
defaults: min_count 5, threshold 10, its own scoring) N times, each on the text the ones before
joined, and then `build_vocab` on the joined text, all streamed from the file.
With --phrase-check, the text must be tokenized already (words apart by single spaces, no "_";
--tokenize makes such a copy of raw text as `--tokenizer words` reads it), so that all
systems read the same tokens: w2v runs
`prepare --min-count 1 --phrases N`, gensim `Phrases(LineSentence(TOKENS), min_count,
threshold, scoring)` and `export_phrases()` (one pass), c-rules the C tool's rules N times
(c-rules-within-lines: without its count of pairs across line ends);
each system's time and peak memory as with --prepare, then the phrases each found and how many
they share with w2v's (pairs of pass 1 for gensim, phrase tokens in the joined text for c-rules).
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
import math
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
from typing import Any

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


GENSIM_PHRASES_VOCAB_SCRIPT = """
import json, sys, time
from gensim.models import Word2Vec
from gensim.models.phrases import Phrases
from gensim.models.word2vec import LineSentence
corpus, min_count, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
sentences, learned = LineSentence(corpus), 0
for _ in range(passes):
    phrases = Phrases(sentences).freeze()
    learned += len(phrases.phrasegrams)
    sentences = phrases[sentences]
m = Word2Vec(min_count=min_count)
m.build_vocab(sentences)
print(json.dumps({"seconds": time.perf_counter() - start, "vocab": len(m.wv), "phrases": learned}))
"""


GENSIM_PHRASE_CHECK_SCRIPT = """
import json, sys, time
from gensim.models.phrases import Phrases
from gensim.models.word2vec import LineSentence
corpus, scoring, threshold, min_count, out = sys.argv[1:6]
start = time.perf_counter()
phrases = Phrases(LineSentence(corpus), min_count=int(min_count), threshold=float(threshold),
                  scoring=scoring)
learned = time.perf_counter() - start
exported = phrases.export_phrases()
with open(out, "w") as f:
    f.writelines(key.replace("_", " ") + "\\n" for key in sorted(exported))
print(json.dumps({"learn": learned, "seconds": time.perf_counter() - start}))
"""


C_RULES_SCRIPT = """
import json, sys, time
sys.path.insert(0, sys.argv[6])
from support import word2phrase_c
corpus, passes, threshold, min_count, out = sys.argv[1:6]
start = time.perf_counter()
lines = open(corpus, encoding="utf-8").read().splitlines()
for _ in range(int(passes)):
    lines = word2phrase_c(lines, int(min_count), float(threshold), sys.argv[7] == "across")
tokens = {t for line in lines for t in line.split() if "_" in t}
with open(out, "w") as f:
    f.writelines(t + "\\n" for t in sorted(tokens))
print(json.dumps({"seconds": time.perf_counter() - start,
                  "joined": sum("_" in t for line in lines for t in line.split())}))
"""


GENSIM_RAW_SCRIPT = """
import json, sys, time
from gensim.models import Word2Vec
from gensim.models.phrases import Phrases
from gensim.models.word2vec import LineSentence
corpus, epochs, seed, min_count, out, lr, passes = sys.argv[1:8]
start = time.perf_counter()
sentences = LineSentence(corpus)
for _ in range(int(passes)):
    sentences = Phrases(sentences).freeze()[sentences]
sentences = list(sentences)
m = Word2Vec(sentences, sg=1, vector_size=100, window=5, negative=5, sample=1e-4,
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
    header = when_and_where(f"{args.vector_file.name}, limit {args.limit}")
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


def when_and_where(details: str) -> str:
    """A results header: the time, this machine and its cores, then `details`."""
    return (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
            f"{details}")


def save_record(path: Path, header: str, results: list[Any]) -> None:
    """The header, the command line and every result (dataclasses), as JSON at `path`."""
    record = {"header": header, "argv": sys.argv[1:], "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(record, indent=2))


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
            data = Path(tempfile.mkdtemp(prefix="prepare-data-", dir=args.out))
            phrases = ["--phrases", str(args.phrases)] if args.phrases else []
            out, seconds, peak = run_sampled(w2v(
                "prepare", str(corpus), "--data-dir", str(data), "--quiet", "--workers",
                str(workers), "--min-count", str(args.min_count), *phrases, *args.prepare_flags))
            rows.append((f"w2v prepare, {workers} worker(s)", seconds, mb / seconds, peak,
                         out.splitlines()[0]))
            shutil.rmtree(data, ignore_errors=True)
            print(rows[-1], flush=True)
    if "gensim" in args.systems:
        script = [GENSIM_VOCAB_SCRIPT, str(corpus), str(args.min_count)]
        if args.phrases:
            script = [GENSIM_PHRASES_VOCAB_SCRIPT, *script[1:], str(args.phrases)]
        out, wall, peak = run_sampled([sys.executable, "-c", *script])
        r = json.loads(out)
        learned = f"{r['phrases']:,} phrases, " if args.phrases else ""
        rows.append((f"gensim {'Phrases + ' if args.phrases else ''}build_vocab", r["seconds"],
                     mb / r["seconds"], peak,
                     f"{learned}vocabulary {r['vocab']:,}, process wall {wall:.1f} s"))
        print(rows[-1], flush=True)
    header = when_and_where(f"{corpus.name} ({mb:.0f} MB), min-count {args.min_count}"
                            f"{f', phrases {args.phrases} passes' if args.phrases else ''}")
    print("\n" + header)
    print(f"{'system':<28} {'seconds':>8} {'MB/s':>6} {'peak MB':>8}  notes")
    for system, seconds, rate, peak, note in rows:
        print(f"{system:<28} {seconds:>8.1f} {rate:>6.1f} {peak:>8.0f}  {note}")


def words_copy(raw: Path, out: Path) -> Path:
    """`raw` as w2v's `words` tokenizer reads it, one line per line, words one space apart, empty
    lines left out (made once)."""
    from w2v.data.tokenizer import Tokenizer

    copy = out / f"{raw.stem}.words.txt"
    if copy.exists():
        return copy
    words, rest = Tokenizer("words"), b""
    with open(raw, "rb") as src, open(copy.with_suffix(".part"), "wb") as dst:
        while (chunk := src.read(1 << 22)) or rest:
            data = rest + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)  # whole lines until the end
            block, rest = data[:cut], data[cut:]
            text = words.normalize_block(block.decode("utf-8", errors="replace").encode())
            dst.writelines(b" ".join(line.split()) + b"\n" for line in text.split(b"\n")
                           if line.split())
    copy.with_suffix(".part").rename(copy)
    return copy


def bench_phrase_check(args: argparse.Namespace) -> None:
    """The phrases w2v learns against gensim's Phrases and the C tool's rules, same tokens."""
    from w2v.data.phrases import phrase_settings

    out = args.out / "phrase-check"
    out.mkdir(parents=True, exist_ok=True)
    corpus = words_copy(args.phrase_check, out) if args.tokenize else args.phrase_check
    settings = phrase_settings(args.phrases or 1, args.phrase_scoring, args.phrase_threshold,
                               args.phrase_min_count)
    options = [str(settings.threshold), str(settings.min_count)]
    if any(s.startswith("c-rules") for s in args.systems) and settings.scoring != "word2phrase":
        sys.exit("c-rules scores as word2phrase.c does: --phrase-scoring word2phrase")
    unknown = set(args.systems) - {"w2v", "gensim", "c-rules", "c-rules-within-lines"}
    if unknown:
        sys.exit(f"--phrase-check compares w2v, gensim, c-rules and c-rules-within-lines, "
                 f"not {', '.join(sorted(unknown))}")
    found: dict[str, set[str]] = {}
    rows = []
    for system in args.systems:
        listing = out / f"{system}-{settings.scoring}-{settings.passes}.txt"
        if system == "w2v":
            data = Path(tempfile.mkdtemp(prefix="data-", dir=out))
            text, seconds, peak = run_sampled(w2v(
                "prepare", str(corpus), "--data-dir", str(data), "--name", "check", "--quiet",
                "--min-count", "1", "--phrases", str(settings.passes), "--phrase-scoring",
                settings.scoring, "--phrase-threshold", options[0], "--phrase-min-count",
                options[1], *args.prepare_flags))
            table = (data / "check" / "phrases.tsv").read_text().splitlines()
            found["w2v pairs"] = {line.split("\t")[0] for line in table if line.endswith("\t1")}
            vocab = (data / "check" / "vocab.tsv").read_text().splitlines()
            found["w2v tokens"] = {line.split("\t")[0] for line in vocab if "_" in line}
            meta = json.loads((data / "check" / "meta.json").read_text())["phrases"]
            note = (f"{meta['learned']:,} phrases ({len(found['w2v pairs']):,} in pass 1), "
                    f"{len(found['w2v tokens']):,} distinct phrase tokens, "
                    f"{meta['phrase_tokens']:,} joined; {text.splitlines()[0]}")
            shutil.rmtree(data, ignore_errors=True)
        elif system == "gensim":
            text, seconds, peak = run_sampled([
                sys.executable, "-c", GENSIM_PHRASE_CHECK_SCRIPT, str(corpus), settings.scoring,
                *options, str(listing)])
            found["gensim pairs"] = set(listing.read_text().splitlines())
            note = (f"{len(found['gensim pairs']):,} phrases (one pass), learning "
                    f"{json.loads(text)['learn']:.1f} s")
        else:
            text, seconds, peak = run_sampled([
                sys.executable, "-c", C_RULES_SCRIPT, str(corpus), str(settings.passes),
                *options, str(listing), str(ROOT / "tests"),
                "within" if system.endswith("within-lines") else "across"])
            found[f"{system} tokens"] = set(listing.read_text().splitlines())
            note = (f"{len(found[f'{system} tokens']):,} distinct phrase tokens, "
                    f"{json.loads(text)['joined']:,} joined (plain Python, not the C tool's speed)")
        rows.append((system, seconds, peak, note))
        print(rows[-1], flush=True)
    print("\n" + when_and_where(
          f"{corpus.name} ({corpus.stat().st_size / 1e6:.0f} MB), {settings.scoring} scoring, "
          f"threshold {settings.threshold}, min-count {settings.min_count}, "
          f"{settings.passes} pass(es)"))
    print(f"{'system':<10} {'seconds':>8} {'peak MB':>8}  notes")
    for system, seconds, peak, note in rows:
        print(f"{system:<10} {seconds:>8.1f} {peak:>8.0f}  {note}")
    for kind in ("pairs", "tokens"):
        ours = found.get(f"w2v {kind}")
        for name, theirs in found.items():
            if ours is None or name.startswith("w2v") or not name.endswith(kind):
                continue
            print(f"{kind}: w2v {len(ours):,}, {name} {len(theirs):,}, both {len(ours & theirs):,};"
                  f" only w2v {sorted(ours - theirs)[:8]}, only {name} {sorted(theirs - ours)[:8]}")


def scores(vectors_path: Path, args: argparse.Namespace) -> dict[str, float]:
    """WordSim-353 and MEN (Spearman), the Google analogies and the phrase analogies (accuracy,
    questions asked), w2v's evaluator."""
    from w2v.errors import W2VError
    from w2v.evaluate import evaluate_word_analogies, evaluate_word_pairs
    from w2v.vectors import Vectors

    vectors = Vectors.load(vectors_path)
    analogies = evaluate_word_analogies(vectors, args.analogies)
    try:
        phrases = evaluate_word_analogies(vectors, args.phrase_analogies)
        phrase_scores = {"phrases": phrases.accuracy, "phrase_questions": phrases.total}
    except W2VError:  # not one question has all four words in the vocabulary
        phrase_scores = {"phrases": math.nan, "phrase_questions": 0}
    return {"wordsim": evaluate_word_pairs(vectors, args.wordsim).spearman,
            "men": evaluate_word_pairs(vectors, args.men).spearman,
            "analogies": analogies.accuracy, "questions": analogies.total, **phrase_scores}


def show_neighbours(label: str, vectors_path: Path, words: list[str]) -> None:
    from w2v.vectors import Vectors

    vectors = Vectors.load(vectors_path)
    for word in words:
        found = [w for w, _ in vectors.most_similar(word, 6)] if word in vectors else ["-"]
        print(f"  {label:>10} {word}: {', '.join(found)}", flush=True)


def step_limit_flags(args: argparse.Namespace) -> list[str]:
    """w2v's --step-limit, where one is given."""
    return [] if args.step_limit is None else ["--step-limit", str(args.step_limit)]


def bench_raw_text(args: argparse.Namespace) -> None:
    """Raw text: w2v prepare --tokenizer words + train against gensim on simple_preprocess."""
    from gensim.utils import simple_preprocess

    raw, epochs, min_count = args.raw_text, args.epochs or 5, args.min_count
    preprocessed = args.out / f"{raw.stem}.simple_preprocess.txt"
    if not preprocessed.exists():
        with open(raw, encoding="utf-8", errors="replace") as src, open(preprocessed, "w") as dst:
            dst.writelines(" ".join(simple_preprocess(line)) + "\n" for line in src)
    data = args.out / "raw-data"
    # (name, prepare flags): with --phrases, the words tokenizer without and with phrases.
    variants = [("whitespace", ["--tokenizer", "whitespace"]), ("words", ["--tokenizer", "words"])]
    if args.phrases:
        variants = [variants[1], (f"words --phrases {args.phrases}",
                                  ["--tokenizer", "words", "--phrases", str(args.phrases)])]
    gensim_passes = [0, args.phrases] if args.phrases else [0]
    for name, flags in variants:
        run(w2v("prepare", str(raw), "--data-dir", str(data), "--name", _slug(name), *flags,
                "--min-count", str(min_count), "--quiet"))
    rows = []
    for seed in args.seeds:
        for name, _ in variants:
            run_dir = args.out / "runs" / f"{_slug(name)}-s{seed}"
            _, seconds, _ = run(w2v("train", "--data", str(data / _slug(name)), "--force",
                                    "--run-dir", str(run_dir), "--epochs", str(epochs),
                                    "--seed", str(seed), "--lr", str(args.lr), "--quiet",
                                    *step_limit_flags(args)))
            rows.append((f"w2v --tokenizer {name}", seed, seconds, scores(run_dir, args)))
            print(rows[-1], flush=True)
            if seed == args.seeds[0]:
                show_neighbours(name, run_dir, args.show)
        for passes in gensim_passes:
            label = "gensim" + (f", Phrases x{passes}" if passes else "")
            vectors = args.out / f"gensim-raw-p{passes}-s{seed}.bin"
            out, _, _ = run([sys.executable, "-c", GENSIM_RAW_SCRIPT, str(preprocessed),
                             str(epochs), str(seed), str(min_count), str(vectors), str(args.lr),
                             str(passes)])
            rows.append((f"{label}, simple_preprocess", seed, json.loads(out)["seconds"],
                         scores(vectors, args)))
            print(rows[-1], flush=True)
            if seed == args.seeds[0]:
                show_neighbours(label, vectors, args.show)
    print("\n" + when_and_where(f"{raw.name}, skip-gram, {epochs} epochs, min-count {min_count}, "
                                f"learning rate {args.lr} for both"))
    print(f"{'system':<36} {'seed':>4} {'train s':>8} {'WS353':>6} {'MEN':>6} {'analogy':>8} "
          f"{'asked':>6} {'phrases':>8} {'asked':>6}")
    for system in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == system]
        for name, seed, seconds, s in [*mine, (f"{system} (mean)", 0, statistics.mean(
                r[2] for r in mine), {k: statistics.mean(r[3][k] for r in mine)
                                      for k in mine[0][3]})]:
            print(f"{name:<36} {seed or '':>4} {seconds:>8.1f} {s['wordsim']:>6.3f} "
                  f"{s['men']:>6.3f} {s['analogies']:>8.1%} {s['questions']:>6.0f} "
                  f"{_share(s['phrases']):>8} {s['phrase_questions']:>6.0f}")


def _share(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1%}"


def _slug(name: str) -> str:
    """A dataset or run name for a variant: "words --phrases 2" -> "raw-words-phrases2"."""
    return "raw-" + name.replace(" --", "-").replace(" ", "")


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
    flags = ["--data", str(dataset), "--run-dir", str(run_dir), "--seed", str(seed), "--quiet",
             "--force", "--device", args.device,
             "--subwords", subwords, "--buckets", str(args.buckets), *step_limit_flags(args)]
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
    header = when_and_where(f"skip-gram, subwords {args.subwords}, {args.buckets:,} buckets, "
                            f"PTB, {args.epochs or 20} epochs")
    print("\n" + header + "\n" + subword_table(results))
    save_record(args.out / f"bench-subwords-{'-'.join(map(str, args.seeds))}.json", header,
                results)


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
    flags = ["--data", str(dataset), "--run-dir", str(run_dir), "--seed", str(seed), "--quiet",
             "--force",
             "--device", args.device, "--model", args.model]
    if args.epochs:
        flags += ["--epochs", str(args.epochs)]
    if nproc > 1:
        flags += ["--nproc", str(nproc)]
    if batch_size:
        flags += ["--batch-size", str(batch_size)]
    flags += step_limit_flags(args)
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
    parser.add_argument("--step-limit", type=float, help="w2v's step limit (default: its own)")
    parser.add_argument("--lr", type=float, default=0.025,
                        help="with --raw-text: the starting learning rate of both systems")
    parser.add_argument("--analogies", type=Path, default=SHARED / "questions-words.txt")
    parser.add_argument("--phrase-analogies", type=Path, default=SHARED / "questions-phrases.txt")
    parser.add_argument("--phrases", type=int, default=0,
                        help="with --prepare or --raw-text: passes of phrase learning (both "
                             "systems)")
    parser.add_argument("--phrase-check", type=Path, help="compare learned phrases on this "
                        "tokenized text (systems w2v, gensim, c-rules)")
    parser.add_argument("--tokenize", action="store_true", help="with --phrase-check: the "
                        "file is raw text; compare on a copy as the words tokenizer reads it")
    parser.add_argument("--phrase-scoring", help="with --phrase-check")
    parser.add_argument("--phrase-threshold", type=float, help="with --phrase-check")
    parser.add_argument("--phrase-min-count", type=int, help="with --phrase-check")
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
    if args.phrase_check:
        bench_phrase_check(args)
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

    header = when_and_where(f"model {args.model}, device {args.device}, corpus PTB x{args.repeat}")
    print("\n" + header + "\n" + table(results))
    save_record(args.out / f"bench-{args.model}-{args.device}.json", header, results)


if __name__ == "__main__":
    main()
