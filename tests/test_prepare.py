import bz2
import gzip
import hashlib
import json
import lzma
import random
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import Server, make_zip

from w2v.data import counter as counter_module
from w2v.data import pool, ptb
from w2v.data import prepare as prepare_module
from w2v.data import text as text_module
from w2v.data.checksum import sha256_file
from w2v.data.corpus import open_dataset
from w2v.data.prepare import prepare
from w2v.data.text import open_text_file
from w2v.errors import W2VError

CORPUS = "the cat sat on the mat\nthe dog\n\nrare words only\ncat sat the cat\n"
KEPT = [["the", "cat", "sat", "the"], ["the"], ["cat", "sat", "the", "cat"]]


def sentences(dataset: Path) -> list[list[str]]:
    """Decode a dataset back into words, sentence by sentence."""
    opened = open_dataset(dataset)
    words = np.array(opened.vocab.words, dtype=object)
    offsets = opened.offsets
    return [words[opened.tokens[a:b]].tolist() for a, b in pairwise(offsets)]


def write(path: Path, content: str | bytes) -> str:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def test_prepare_plain_text(tmp_path: Path) -> None:
    source = write(tmp_path / "corpus.txt", CORPUS)

    summary = prepare(source, tmp_path / "data", min_count=2, progress=False)

    dataset = tmp_path / "data" / "corpus"
    assert summary.path == dataset and summary.name == "corpus"
    assert sorted(p.name for p in dataset.iterdir()) == [
        "meta.json",
        "offsets.bin",
        "tokens.bin",
        "vocab.tsv",
    ]
    assert sentences(dataset) == KEPT
    assert np.fromfile(dataset / "offsets.bin", dtype="<i8").tolist() == [0, 4, 5, 9]
    assert (dataset / "vocab.tsv").read_text() == "the\t4\ncat\t3\nsat\t2\n"
    meta = json.loads((dataset / "meta.json").read_text())
    assert {k: meta[k] for k in ("sentences", "tokens", "raw_tokens", "dropped_tokens")} == {
        "sentences": 3,
        "tokens": 9,
        "raw_tokens": 15,
        "dropped_tokens": 6,
    }
    assert meta["vocab_size"] == 3 and meta["min_count"] == 2 and meta["max_vocab"] is None
    assert meta["source"] == source and meta["name"] == "corpus"
    assert meta["checksums"] == {
        name: sha256_file(dataset / name) for name in ("tokens.bin", "offsets.bin", "vocab.tsv")
    }
    assert (summary.sentences, summary.tokens, summary.raw_tokens) == (3, 9, 15)
    assert summary.vocab_size == 3 and summary.dropped_share == pytest.approx(0.4)
    assert summary.replaced_characters == 0 and summary.mb_per_s > 0
    line = summary.line()
    for part in ("3 sentences", "9 tokens", "vocabulary 3", "40.0% of tokens dropped", "MB/s"):
        assert part in line


def test_gzip_and_zip_give_the_same_dataset(tmp_path: Path) -> None:
    gz = write(tmp_path / "news.txt.gz", gzip.compress(CORPUS.encode()))
    archive = str(make_zip(tmp_path / "books.zip", {"books/all.txt": CORPUS.encode()}))

    for source, name in ((gz, "news"), (archive, "books")):
        summary = prepare(source, tmp_path / "data", min_count=2, progress=False)
        assert summary.name == name
        assert sentences(tmp_path / "data" / name) == KEPT


def test_max_vocab(tmp_path: Path) -> None:
    source = write(tmp_path / "corpus.txt", CORPUS)
    summary = prepare(source, tmp_path / "data", min_count=1, max_vocab=2, progress=False)
    assert summary.vocab_size == 2
    assert sentences(summary.path) == [["the", "cat", "the"], ["the"], ["cat", "the", "cat"]]
    assert json.loads((summary.path / "meta.json").read_text())["max_vocab"] == 2


def test_prepare_again_replaces_the_dataset(tmp_path: Path) -> None:
    source = write(tmp_path / "corpus.txt", CORPUS)
    prepare(source, tmp_path / "data", min_count=1, progress=False)
    prepare(source, tmp_path / "data", min_count=2, progress=False)

    assert sentences(tmp_path / "data" / "corpus") == KEPT
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["corpus"]


def test_long_line_without_newline_is_cut_into_sentences(tmp_path: Path) -> None:
    words = [f"w{i % 7}" for i in range(3000)]
    source = write(tmp_path / "text8", " ".join(words))

    summary = prepare(source, tmp_path / "data", min_count=1, progress=False)

    assert summary.sentences == 3 and summary.tokens == 3000
    assert open_dataset(summary.path).offsets.tolist() == [0, 1000, 2000, 3000]
    assert sentences(summary.path) == [words[:1000], words[1000:2000], words[2000:]]


def test_undecodable_bytes_are_counted(tmp_path: Path) -> None:
    source = write(tmp_path / "latin.txt", b"caf\xe9 ok\nok caf\xe9 \xff\n")

    summary = prepare(source, tmp_path / "data", min_count=1, progress=False)

    assert summary.replaced_characters == 3
    assert json.loads((summary.path / "meta.json").read_text())["replaced_characters"] == 3
    assert "3 characters were not UTF-8" in summary.line()
    assert sentences(summary.path) == [["caf\ufffd", "ok"], ["ok", "caf\ufffd", "\ufffd"]]


@pytest.mark.parametrize("content", ["", " \n\t\n  \n"])
def test_empty_corpus(tmp_path: Path, content: str) -> None:
    source = write(tmp_path / "empty.txt", content)
    with pytest.raises(W2VError, match="empty"):
        prepare(source, tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / "empty").exists()


def test_every_word_under_min_count(tmp_path: Path) -> None:
    source = write(tmp_path / "corpus.txt", CORPUS)
    with pytest.raises(W2VError, match=r"lower --min-count, at most 4"):
        prepare(source, tmp_path / "data", min_count=5, progress=False)
    assert not (tmp_path / "data" / "corpus").exists()


def test_zip_escaping_its_folder_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = make_zip(work / "evil.zip", {"../evil.txt": b"pwned\n"})

    with pytest.raises(W2VError, match="unsafe name '../evil.txt'"):
        prepare(str(archive), work / "data", min_count=1, progress=False)

    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.zip", "work"]


def test_corrupt_gzip(tmp_path: Path) -> None:
    packed = gzip.compress(CORPUS.encode() * 100)
    source = write(tmp_path / "corpus.gz", packed[: len(packed) // 2])
    with pytest.raises(W2VError, match="damaged or incomplete"):
        prepare(source, tmp_path / "data", min_count=1, progress=False)
    assert not (tmp_path / "data" / "corpus").exists()


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(W2VError, match="no such file"):
        prepare(str(tmp_path / "nope.txt"), tmp_path / "data", progress=False)


def test_url_source_is_downloaded_first(server: Server, tmp_path: Path) -> None:
    (server.root / "news.txt.gz").write_bytes(gzip.compress(CORPUS.encode()))

    summary = prepare(server.url("news.txt.gz"), tmp_path / "data", min_count=2, progress=False)

    assert (tmp_path / "data" / "downloads" / "news.txt.gz").is_file()
    assert summary.name == "news"
    assert sentences(summary.path) == KEPT
    assert json.loads((summary.path / "meta.json").read_text())["source"] == server.url(
        "news.txt.gz"
    )


@settings(max_examples=40)
@given(
    lines=st.lists(st.lists(st.sampled_from(["a", "bb", "c", "dé"]), max_size=8), max_size=8),
    chunk_bytes=st.integers(1, 30),
    min_count=st.integers(1, 3),
)
def test_small_chunks_give_the_same_dataset(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[list[str]],
    chunk_bytes: int,
    min_count: int,
) -> None:
    folder = tmp_path_factory.mktemp("chunks")
    source = write(folder / "corpus.txt", "".join(" ".join(line) + "\n" for line in lines))
    counts = {w: sum(line.count(w) for line in lines) for line in lines for w in line}
    expected = [kept for line in lines if (kept := [w for w in line if counts[w] >= min_count])]
    if not expected:
        return

    with mock.patch.object(text_module, "CHUNK_BYTES", chunk_bytes):
        summary = prepare(source, folder / "data", min_count=min_count, progress=False)

    assert sentences(summary.path) == expected


@pytest.fixture
def many_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut even a tiny corpus into many blocks, and use workers for it."""
    monkeypatch.setattr(text_module, "CHUNK_BYTES", 64)
    monkeypatch.setattr(prepare_module, "PARALLEL_MIN_BYTES", 0)


def generated_corpus(lines: int = 300) -> bytes:
    """Zipf-like words on lines of varied length, with empty lines, one long line and bad bytes."""
    rng = random.Random(7)
    words = [f"w{i}" for i in range(60)] + ["café", "naïve"]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    lengths = [rng.choice([0, 1, 5, 12, 40]) for _ in range(lines)] + [2500]
    text = "\n".join(" ".join(rng.choices(words, weights, k=n)) for n in lengths)
    return text.encode() + b" caf\xe9\n"


def dataset_files(dataset: Path) -> dict[str, object]:
    files = {name: (dataset / name).read_bytes() for name in ("tokens.bin", "offsets.bin")}
    meta = json.loads((dataset / "meta.json").read_text())
    del meta["created"]
    return {**files, "vocab.tsv": (dataset / "vocab.tsv").read_bytes(), "meta": meta}


@pytest.mark.parametrize("packing", ["plain", "gzip", "zip"])
def test_workers_write_the_same_dataset(tmp_path: Path, many_blocks: None, packing: str) -> None:
    content = generated_corpus()
    source = {
        "plain": lambda: write(tmp_path / "corpus.txt", content),
        "gzip": lambda: write(tmp_path / "corpus.txt.gz", gzip.compress(content)),
        "zip": lambda: str(make_zip(tmp_path / "corpus.zip", {"corpus.txt": content})),
    }[packing]()
    assert len(list(open_text_file(Path(source)).blocks())) > 100

    serial = prepare(source, tmp_path / "serial", min_count=2, workers=1, progress=False)
    with mock.patch.object(pool, "ProcessPoolExecutor", wraps=ProcessPoolExecutor) as pools:
        parallel = prepare(source, tmp_path / "parallel", min_count=2, workers=2, progress=False)

    assert pools.call_count == 2  # one pool per pass
    assert dataset_files(parallel.path) == dataset_files(serial.path)
    assert serial.replaced_characters == 1 and serial.sentences > 200


def test_workers_cut_a_huge_line_into_sentences(tmp_path: Path, many_blocks: None) -> None:
    words = [f"w{i % 13}" for i in range(5500)]
    source = write(tmp_path / "text8", " ".join(words))

    summary = prepare(source, tmp_path / "data", min_count=1, workers=2, progress=False)

    assert open_dataset(summary.path).offsets.tolist() == [0, 1000, 2000, 3000, 4000, 5000, 5500]
    assert [word for sentence in sentences(summary.path) for word in sentence] == words


def test_workers_report_a_damaged_gzip(tmp_path: Path, many_blocks: None) -> None:
    packed = gzip.compress(CORPUS.encode() * 100)
    source = write(tmp_path / "corpus.gz", packed[: len(packed) // 2])
    with pytest.raises(W2VError, match="damaged or incomplete"):
        prepare(source, tmp_path / "data", min_count=1, workers=2, progress=False)
    assert not (tmp_path / "data" / "corpus").exists()


def test_a_small_corpus_is_prepared_without_workers(tmp_path: Path) -> None:
    source = write(tmp_path / "corpus.txt", CORPUS)
    with mock.patch.object(pool, "ProcessPoolExecutor") as pools:
        prepare(source, tmp_path / "data", min_count=2, workers=4, progress=False)
    pools.assert_not_called()


@pytest.mark.parametrize("workers", [0, -3])
def test_workers_must_be_positive(tmp_path: Path, workers: int) -> None:
    source = write(tmp_path / "corpus.txt", CORPUS)
    with pytest.raises(W2VError, match=f"^--workers must be at least 1, not {workers}$"):
        prepare(source, tmp_path / "data", workers=workers, progress=False)


# PTB: a generated archive with the real layout stands in for the real one.
PTB_SPLITS = {
    "ptb.train.txt": b" aer banknote berlitz \n the n years old <unk> the n\n the <unk>\n",
    "ptb.valid.txt": b" consumers may want to move their telephones \n",
    "ptb.test.txt": b" no it was n't black monday \n",
}


@pytest.fixture
def ptb_server(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    members = {"ptb/": b"", **{f"ptb/{name}": data for name, data in PTB_SPLITS.items()}}
    make_zip(server.root / "ptb.zip", members)
    checksums = {name: hashlib.sha256(data).hexdigest() for name, data in PTB_SPLITS.items()}
    monkeypatch.setattr(ptb, "CHECKSUMS", checksums)
    monkeypatch.setenv("W2V_PTB_URL", server.url("ptb.zip"))
    return server


def test_ptb_is_downloaded_once_and_reused(ptb_server: Server, tmp_path: Path) -> None:
    data = tmp_path / "data"

    first = prepare(None, data, min_count=2, progress=False)
    second = prepare(None, data, min_count=1, progress=False)

    assert ptb_server.requests == ["/ptb.zip"]
    assert (data / "downloads" / "ptb.zip").read_bytes() == (
        ptb_server.root / "ptb.zip"
    ).read_bytes()
    assert first.name == second.name == "ptb" and first.path == data / "ptb"
    assert sentences(data / "ptb")[0] == ["aer", "banknote", "berlitz"]
    assert (first.raw_tokens, first.tokens, first.vocab_size) == (12, 7, 3)
    assert json.loads((data / "ptb" / "meta.json").read_text())["source"] == ptb_server.url(
        "ptb.zip"
    )


def test_ptb_mirror_with_other_packing_is_accepted(ptb_server: Server, tmp_path: Path) -> None:
    make_zip(ptb_server.root / "ptb.zip", {f"mirror/{n}": d for n, d in PTB_SPLITS.items()})
    summary = prepare(None, tmp_path / "data", min_count=2, progress=False)
    assert summary.tokens == 7


def test_ptb_with_wrong_content_is_rejected(ptb_server: Server, tmp_path: Path) -> None:
    tampered = {**PTB_SPLITS, "ptb.train.txt": b" the the the the \n"}
    make_zip(ptb_server.root / "ptb.zip", {f"ptb/{n}": d for n, d in tampered.items()})
    data = tmp_path / "data"

    with pytest.raises(W2VError, match="ptb.train.txt .* has SHA-256") as info:
        prepare(None, data, min_count=1, progress=False)

    assert "W2V_PTB_URL" in str(info.value)
    assert not (data / "ptb").exists()
    assert not (data / "downloads" / "ptb.zip").exists()


def test_damaged_cached_ptb_is_downloaded_again(ptb_server: Server, tmp_path: Path) -> None:
    cached = tmp_path / "data" / "downloads" / "ptb.zip"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"PK\x03\x04 not really a zip")

    summary = prepare(None, tmp_path / "data", min_count=2, progress=False)

    assert ptb_server.requests == ["/ptb.zip"]
    assert summary.tokens == 7


def test_ptb_download_failure_suggests_a_mirror(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("W2V_PTB_URL", server.url("gone/ptb.zip"))
    with pytest.raises(W2VError, match="404.*set W2V_PTB_URL to a mirror"):
        prepare(None, tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / "ptb").exists()


def test_counting_in_little_memory_gives_the_same_dataset(tmp_path: Path) -> None:
    source = write(tmp_path / "corpus.txt", generated_corpus(lines=600))
    roomy = prepare(source, tmp_path / "roomy", min_count=2, progress=False)
    spilled: list[Path] = []
    real_spill = counter_module.KeyCounter._spill

    def spill(self: counter_module.KeyCounter) -> None:
        real_spill(self)
        spilled.extend(run.keys for run in self.spilled)

    with mock.patch.object(counter_module.KeyCounter, "_spill", spill), \
            mock.patch.object(text_module, "CHUNK_BYTES", 256):
        tight = prepare(source, tmp_path / "tight", min_count=2, count_memory=500,
                        progress=False)

    assert dataset_files(tight.path) == dataset_files(roomy.path)
    assert len(set(spilled)) >= 3
    # The runs lived inside the dataset's temporary directory, and went with it.
    assert {p.parent.parent.parent for p in spilled} == {tmp_path / "tight"}
    assert all(p.parent.parent.name.startswith(".corpus.") for p in spilled)
    assert sorted(p.name for p in (tmp_path / "tight").rglob("*")) == [
        "corpus", "meta.json", "offsets.bin", "tokens.bin", "vocab.tsv"]


def test_words_tokenizer_dataset_and_its_record(tmp_path: Path) -> None:
    source = write(tmp_path / "raw.txt", "The cat's toy, the CAT.\n\"Cat-like\" cats!\n")

    summary = prepare(source, tmp_path / "data", tokenizer="words", min_count=1, progress=False)

    assert sentences(summary.path) == [["the", "cat's", "toy", "the", "cat"],
                                       ["cat-like", "cats"]]
    meta = json.loads((summary.path / "meta.json").read_text())
    assert meta["tokenizer"] == {"name": "words", "lowercase": True}
    assert meta["version"] == 2 and meta["distinct_words"] == 6
    opened = open_dataset(summary.path)
    assert opened.tokenizer.normalize_word("Cat-Like") == "cat-like"
    assert summary.hint is None


def test_lowercase_and_the_raw_text_hint(tmp_path: Path) -> None:
    raw = "The cat sat.\nthe cat, the dog.\nThe end.\n" * 5
    source = write(tmp_path / "raw.txt", raw)

    plain = prepare(source, tmp_path / "plain", min_count=1, progress=False)
    lowered = prepare(source, tmp_path / "lower", lowercase=True, min_count=1, progress=False)

    assert plain.hint is not None and "--tokenizer words" in plain.hint
    assert "The" in open_dataset(plain.path).vocab
    assert "The" not in open_dataset(lowered.path).vocab
    assert open_dataset(lowered.path).vocab["the"] == 0
    tokenized = write(tmp_path / "tokenized.txt", "the cat sat\nthe cat the dog\n" * 5)
    assert prepare(tokenized, tmp_path / "tok", min_count=1, progress=False).hint is None


@pytest.mark.parametrize("tokenizer", ["whitespace", "words"])
@pytest.mark.parametrize("packing", ["bz2", "xz", "folder"])
def test_workers_write_the_same_dataset_for_every_input(
    tmp_path: Path, many_blocks: None, packing: str, tokenizer: str
) -> None:
    content = generated_corpus().replace(b"w1 ", b"W1, ").replace(b"w2 ", b"(w2) ")
    if packing == "folder":
        source = str(tmp_path / "corpus")
        for part in ("a", "b"):
            (tmp_path / "corpus" / part).mkdir(parents=True)
        half = content.index(b"\n", len(content) // 2)
        write(Path(source) / "b" / "part.txt", content[half + 1 :])
        write(Path(source) / "a" / "part.txt.gz", gzip.compress(content[: half + 1]))
    else:
        pack = {"bz2": bz2.compress, "xz": lzma.compress}[packing]
        source = write(tmp_path / f"corpus.txt.{packing}", pack(content))

    serial = prepare(source, tmp_path / "serial", tokenizer=tokenizer, min_count=2, workers=1,
                     progress=False)
    parallel = prepare(source, tmp_path / "parallel", tokenizer=tokenizer, min_count=2,
                       workers=2, progress=False)
    plain = prepare(write(tmp_path / "plain.txt", content), tmp_path / "plain",
                    tokenizer=tokenizer, min_count=2, name="corpus", progress=False)

    assert dataset_files(parallel.path) == dataset_files(serial.path)
    files = dataset_files(plain.path)
    assert {k: files[k] for k in ("tokens.bin", "offsets.bin", "vocab.tsv")} == {
        k: dataset_files(serial.path)[k] for k in ("tokens.bin", "offsets.bin", "vocab.tsv")}


def test_several_sources_make_one_dataset(tmp_path: Path) -> None:
    first = write(tmp_path / "a.txt", "the cat sat")  # no newline: the next file starts a line
    second = write(tmp_path / "b.txt.gz", gzip.compress(b"the dog sat\n"))

    summary = prepare([first, second], tmp_path / "data", min_count=1, progress=False)

    assert summary.name == "a"
    assert sentences(summary.path) == [["the", "cat", "sat"], ["the", "dog", "sat"]]
    meta = json.loads((summary.path / "meta.json").read_text())
    assert meta["sources"] == [first, second] and meta["files"] == 2


def test_a_dataset_of_format_version_1_still_opens(tmp_path: Path) -> None:
    summary = prepare(write(tmp_path / "c.txt", CORPUS), tmp_path / "data", min_count=2,
                      progress=False)
    meta = json.loads((summary.path / "meta.json").read_text())
    for key in ("tokenizer", "sources", "files", "distinct_words"):
        del meta[key]
    (summary.path / "meta.json").write_text(json.dumps({**meta, "version": 1}))

    opened = open_dataset(summary.path)

    assert opened.tokenizer.to_dict() == {"name": "whitespace", "lowercase": False}
    assert sentences(summary.path) == KEPT
