"""fastText's .bin: what w2v writes, gensim reads with the same vectors, and the reverse."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from cli_support import assert_error, w2v
from gensim.models.fasttext import FastText, load_facebook_vectors, save_facebook_model

from w2v.errors import W2VError
from w2v.formats.fasttext import (
    FastTextModel,
    TrainingArgs,
    has_fasttext_magic,
    read_fasttext_bin,
    write_fasttext_bin,
)
from w2v.subwords import Subwords, compact
from w2v.vectors import Vectors

LETTERS = list("abcdefghijklmnopqrstuvwxyzéüßø日本語") + ["😀"]


def generated_words(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(LETTERS, rng.integers(1, 14))))
    return sorted(words)


def random_model(nwords: int = 300, buckets: int = 2000, dim: int = 12, seed: int = 0,
                 subwords: Subwords | None = None) -> FastTextModel:
    rng = np.random.default_rng(seed)
    words = generated_words(nwords, seed)
    # counts with ties, in the order a vocabulary sorted by count keeps them
    counts = np.sort(rng.integers(5, 40, nwords))[::-1].copy()
    subwords = subwords or Subwords(3, 6, buckets)
    return FastTextModel(words, counts,
                         rng.normal(size=(nwords + subwords.buckets, dim)).astype(np.float32),
                         rng.normal(size=(nwords, dim)).astype(np.float32), subwords,
                         TrainingArgs(window=4, epochs=3, min_count=5, negatives=6, sample=1e-3))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[FastTextModel, Path]:
    model = random_model()
    path = tmp_path_factory.mktemp("ft") / "model.bin"
    write_fasttext_bin(path, model)
    return model, path


def test_gensim_reads_what_w2v_writes_with_the_same_vectors(written) -> None:
    model, path = written
    theirs = load_facebook_vectors(str(path))
    ours = Vectors.load(path)
    assert theirs.index_to_key == model.words == ours.words
    assert (theirs.bucket, theirs.min_n, theirs.max_n) == (2000, 3, 6)
    vocab = model.words[:100]
    unseen = generated_words(400, seed=99)
    unseen = [w for w in unseen if w not in ours.key_to_index][:100]
    assert len(unseen) == 100
    for word in vocab + unseen:
        np.testing.assert_allclose(ours[word], theirs[word], rtol=0, atol=1e-5)
    # and each is fastText's mean of the word's own row and its n-grams' rows
    rows = [0] + [300 + b for b in model.subwords.buckets_of(model.words[0])]
    np.testing.assert_allclose(ours[model.words[0]], model.input[rows].mean(0), atol=1e-6)


def test_w2v_reads_back_what_it_wrote(written) -> None:
    model, path = written
    back = read_fasttext_bin(path, with_output=True)
    assert back.words == model.words and back.subwords == model.subwords
    assert back.args == model.args
    np.testing.assert_array_equal(back.counts, model.counts)
    np.testing.assert_array_equal(back.input, model.input)
    np.testing.assert_array_equal(back.output, model.output)


def test_vectors_read_a_model_gensim_trained_and_saved(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    words = generated_words(60, seed=3)
    sentences = [list(rng.choice(words, 12)) for _ in range(300)]
    gensim_model = FastText(sentences, vector_size=10, window=3, min_count=2, min_n=2, max_n=5,
                            bucket=3000, epochs=2, workers=1, seed=1)
    path = tmp_path / "gensim.bin"
    save_facebook_model(gensim_model, str(path))

    ours = Vectors.load(path)
    assert ours.words == gensim_model.wv.index_to_key
    assert ours.subwords is not None and ours.subwords.subwords == Subwords(2, 5, 3000)
    unseen = [w + "x" for w in words[:30]] + ["übermorgen", "日本", "q"]
    for word in ours.words + unseen:
        np.testing.assert_allclose(ours[word], gensim_model.wv[word], rtol=0, atol=1e-5)
    assert ours.similarity(unseen[0], unseen[1]) == pytest.approx(
        gensim_model.wv.similarity(unseen[0], unseen[1]), abs=1e-5)


def test_saving_vectors_as_fasttext_keeps_every_vector(written, tmp_path: Path) -> None:
    _, path = written
    vectors = Vectors.load(path, format="fasttext-bin")
    again = tmp_path / "again.bin"
    assert vectors.save(again, format="fasttext-bin") == [again]
    back = Vectors.load(again)
    np.testing.assert_array_equal(back.vectors, vectors.vectors)
    np.testing.assert_array_equal(back["neverseen"], vectors["neverseen"])
    np.testing.assert_array_equal(back.counts, vectors.counts)


def test_plain_vectors_cannot_be_saved_as_fasttext(tmp_path: Path) -> None:
    vectors = Vectors(["a", "b"], np.eye(2))
    with pytest.raises(W2VError, match="subword"):
        vectors.save(tmp_path / "v.bin", format="fasttext-bin")
    assert not (tmp_path / "v.bin").exists()


def test_a_model_without_ngrams_gives_its_word_rows(tmp_path: Path) -> None:
    model = random_model(nwords=20, subwords=Subwords(3, 6, 10))
    path = tmp_path / "m.bin"
    write_fasttext_bin(path, model)
    data = bytearray(path.read_bytes())
    struct.pack_into("<2i", data, 8 + 4 * 9, 0, 0)  # minn, maxn = 0: a model without n-grams
    path.write_bytes(bytes(data))
    vectors = Vectors.load(path)
    assert vectors.subwords is None
    np.testing.assert_array_equal(vectors.vectors, model.input[:20])
    with pytest.raises(W2VError, match="unknown word"):
        vectors["neverseen"]


def test_words_with_whitespace_cannot_be_written(tmp_path: Path) -> None:
    model = random_model(nwords=3, subwords=Subwords(3, 6, 5))
    model.words[1] = "two words"
    with pytest.raises(W2VError, match="whitespace"):
        write_fasttext_bin(tmp_path / "m.bin", model)
    assert list(tmp_path.iterdir()) == []


def damaged(written, tmp_path: Path, change) -> Path:
    _, path = written
    data = bytearray(path.read_bytes())
    data = change(data)
    out = tmp_path / "damaged.bin"
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d[:len(d) // 2], "cut short"),
    (lambda d: d[:-1], "cut short"),
    (lambda d: d + b"\0", "after the output matrix"),
    (lambda d: d[:30], "cut short"),
    (lambda d: d[:8 + 56 + 32 + 3], "cut short"),
    (lambda d: struct.pack_into("<i", d, 4, 13) or d, "version 13"),
    (lambda d: struct.pack_into("<i", d, 8 + 56 + 8, 2) or d, "supervised"),
    (lambda d: struct.pack_into("<i", d, 8 + 4 * 7, 3) or d, "supervised"),
])
def test_damaged_or_unsupported_files_are_one_clear_error(written, tmp_path: Path, change,
                                                          message: str) -> None:
    path = damaged(written, tmp_path, change)
    with pytest.raises(W2VError, match=message):
        read_fasttext_bin(path)


def test_quantized_models_are_refused(tmp_path: Path) -> None:
    model = random_model(nwords=5, subwords=Subwords(3, 6, 7))
    path = tmp_path / "m.bin"
    write_fasttext_bin(path, model)
    data = bytearray(path.read_bytes())
    output_part, input_part = 1 + 16 + 5 * 12 * 4, 16 + (5 + 7) * 12 * 4
    flag = len(data) - output_part - input_part - 1  # quant_input
    assert data[flag] == 0
    data[flag] = 1
    path.write_bytes(bytes(data))
    with pytest.raises(W2VError, match="quantized"):
        read_fasttext_bin(path)


def test_only_fasttext_files_are_taken_for_fasttext(written, tmp_path: Path) -> None:
    _, path = written
    text = tmp_path / "v.txt"
    text.write_text("1 2\na 0.5 0.25\n")
    assert has_fasttext_magic(path.read_bytes()[:4]) and not has_fasttext_magic(text.read_bytes())
    with pytest.raises(W2VError, match="no such file"):
        Vectors.load(tmp_path / "missing.bin")
    assert Vectors.load(text).words == ["a"]
    with pytest.raises(W2VError, match="not a fastText"):
        Vectors.load(text, format="fasttext-bin")


def test_commands_read_fasttext_models_and_report_damage_in_one_line(
        written, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, path = written
    result = w2v(capsys, "neighbors", model.words[0], "-k", "3", "--vectors", path)
    assert result.code == 0, result.err
    expected = Vectors.load(path).most_similar(model.words[0], 3)
    assert [line.split()[0] for line in result.out.splitlines()[1:]] == [w for w, _ in expected]
    cut = damaged(written, tmp_path, lambda d: d[:len(d) - 100])
    assert_error(w2v(capsys, "neighbors", model.words[0], "--vectors", cut), "cut short",
                 str(cut))


def test_a_table_of_the_used_buckets_is_written_as_the_full_matrix(tmp_path: Path) -> None:
    full = random_model(nwords=50, subwords=Subwords(3, 5, 4000))
    _, stored = compact(full.subwords.vocab_bags(full.words), 50)
    unused = np.setdiff1d(np.arange(4000), stored)
    full.input[50 + unused] = 0  # buckets no word uses, which a compact table does not store
    compact_model = FastTextModel(full.words, full.counts,
                                  np.concatenate([full.input[:50], full.input[50 + stored]]),
                                  full.output, full.subwords, full.args, stored=stored)
    path = tmp_path / "compact.bin"
    write_fasttext_bin(path, compact_model)

    back = read_fasttext_bin(path, with_output=True)
    np.testing.assert_array_equal(back.input, full.input)
    np.testing.assert_array_equal(back.output, full.output)
    theirs = load_facebook_vectors(str(path))
    table = compact_model.table()
    ours = Vectors(full.words, table.vocab_vectors(full.words), subwords=table)
    for word in full.words + ["neverseen", "日本", full.words[3] + "s"]:
        np.testing.assert_allclose(ours[word], theirs[word], rtol=0, atol=1e-5)


def test_a_model_or_vectors_read_through_a_pipe_in_auto_mode(written, tmp_path: Path) -> None:
    """Telling the format reads the first bytes once: a pipe cannot be read again."""
    import os
    import threading

    model, path = written
    text = tmp_path / "v.txt"
    text.write_text("2 2\na 0.5 0.25\nb 1 2\n")
    for source, words in ((text, ["a", "b"]), (path, model.words)):
        fifo = tmp_path / f"{source.name}.fifo"
        os.mkfifo(fifo)
        writer = threading.Thread(target=lambda s=source, f=fifo: f.write_bytes(s.read_bytes()))
        writer.start()
        assert Vectors.load(fifo).words == words
        writer.join()


def test_a_limit_keeps_the_first_words_of_a_model(written) -> None:
    model, path = written
    first = Vectors.load(path, limit=7)
    whole = Vectors.load(path)
    assert first.words == model.words[:7]
    np.testing.assert_array_equal(first.vectors, whole.vectors[:7])
    np.testing.assert_allclose(first["unseenword"], whole["unseenword"], rtol=1e-6)


def test_a_dictionary_longer_than_its_word_rows_is_damage(written, tmp_path: Path) -> None:
    _, path = written
    data = bytearray(path.read_bytes())
    start = 8 + 4 * 12 + 8  # magic, version, the arguments (12 ints and a double)
    (size,) = struct.unpack_from("<i", data, start)
    struct.pack_into("<i", data, start, size + 1)
    damaged = path.with_name("damaged.bin")
    damaged.write_bytes(bytes(data))
    with pytest.raises(W2VError, match="damaged: its dictionary holds"):
        Vectors.load(damaged)
