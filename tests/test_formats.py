"""Reading and writing vector files: against gensim's reader on the same bytes, and every
malformed file ending in one line that names the file and the line."""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from w2v.errors import W2VError, W2VWarning
from w2v.formats import read_vectors
from w2v.vectors import Vectors

COMPRESSORS = {"plain": lambda data: data, "gzip": gzip.compress, "bz2": bz2.compress,
               "xz": lzma.compress}


def read_word2vec(path: Path) -> tuple[list[str], np.ndarray]:
    file = read_vectors(path)
    return file.words, file.vectors


def assert_same_as_gensim(loaded: Vectors, kv: KeyedVectors) -> None:
    assert loaded.words == kv.index_to_key
    np.testing.assert_array_equal(loaded.vectors, kv.vectors)
    assert loaded.vectors.dtype == np.float32 and loaded.vectors.flags.c_contiguous


def random_text_rows(rows: int, dim: int, seed: int = 0) -> bytes:
    """Rows of decimal values with 1 to 17 significant digits and exponents, as other tools
    write them: parsing must round each to float32 as gensim does."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, dim)) * 10.0 ** rng.integers(-8, 8, size=(rows, dim))
    digits = rng.integers(1, 18, size=(rows, dim))
    return b"".join(
        f"w{i} {' '.join(f'{v:.{d}g}' for v, d in zip(row, ds))}\n".encode()
        for i, (row, ds) in enumerate(zip(values, digits))
    )


def word2vec_bytes(words: list[bytes], matrix: np.ndarray, binary: bool = True) -> bytes:
    """A word2vec file, binary or text, of any bytes as words."""
    header = f"{len(words)} {matrix.shape[1]}\n".encode()
    if binary:
        rows = (w + b" " + v.astype("<f4").tobytes() + b"\n" for w, v in zip(words, matrix))
    else:
        rows = (w + b" " + " ".join(map(str, v)).encode() + b"\n" for w, v in zip(words, matrix))
    return header + b"".join(rows)


@pytest.mark.parametrize("binary", [False, True])
def test_reads_what_gensim_writes(tmp_path: Path, vectors: Vectors, gensim_kv, binary: bool):
    path = tmp_path / "gensim.vec"
    gensim_kv.save_word2vec_format(str(path), binary=binary)

    loaded = Vectors.load(path)

    assert loaded.words == vectors.words
    np.testing.assert_array_equal(loaded.vectors, vectors.vectors)
    assert loaded.vectors.dtype == np.float32
    assert loaded.counts is None


@pytest.mark.parametrize("fmt, binary", [("word2vec-text", False), ("word2vec-binary", True)])
def test_gensim_reads_what_we_write(tmp_path: Path, vectors: Vectors, fmt: str, binary: bool):
    path = tmp_path / "ours.vec"

    assert vectors.save(path, format=fmt) == [path]

    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == vectors.words
    np.testing.assert_array_equal(kv.vectors, vectors.vectors)


@pytest.mark.parametrize("limit", [None, 1, 37, 10_000])
@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("compression", list(COMPRESSORS))
def test_reads_as_gensim_reads_compressed_or_not(
    tmp_path: Path, gensim_kv, compression: str, binary: bool, limit: int | None
):
    plain = tmp_path / "plain"
    gensim_kv.save_word2vec_format(str(plain), binary=binary)
    packed = COMPRESSORS[compression](plain.read_bytes())
    # gensim tells compression by the name's ending; w2v by content, whatever the name
    named = tmp_path / f"v{'' if compression == 'plain' else '.' + compression.replace('ip', '')}"
    named.write_bytes(packed)
    misnamed = tmp_path / "v.txt"
    misnamed.write_bytes(packed)

    kv = KeyedVectors.load_word2vec_format(str(named), binary=binary, limit=limit)

    assert_same_as_gensim(Vectors.load(misnamed, limit=limit), kv)
    assert_same_as_gensim(Vectors.load_word2vec_format(named, binary, limit), kv)
    file = read_vectors(misnamed, limit=limit)
    assert file.compression == (None if compression == "plain" else compression)
    assert file.format == ("word2vec-binary" if binary else "word2vec-text")
    assert (file.rows_in_file, file.rows_read) == (365, min(365, limit or 365))


@pytest.mark.parametrize("limit", [None, 5])
@pytest.mark.parametrize("header", [True, False])
def test_text_values_round_to_float32_as_gensims(tmp_path: Path, header: bool, limit: int | None):
    path = tmp_path / "v.txt"
    path.write_bytes((b"60 7\n" if header else b"") + random_text_rows(60, 7))

    kv = KeyedVectors.load_word2vec_format(str(path), limit=limit, no_header=not header)

    assert_same_as_gensim(Vectors.load(path, limit=limit), kv)


def test_glove_file_is_detected_or_selected(tmp_path: Path, vectors: Vectors, gensim_kv):
    path = tmp_path / "glove.txt"
    gensim_kv.save_word2vec_format(str(path), write_header=False)

    kv = KeyedVectors.load_word2vec_format(str(path), no_header=True)

    assert_same_as_gensim(Vectors.load(path), kv)
    assert_same_as_gensim(Vectors.load(path, no_header=True), kv)
    assert_same_as_gensim(Vectors.load(path, format="glove"), kv)
    assert_same_as_gensim(Vectors.load_word2vec_format(path, False, no_header=True), kv)
    with pytest.raises(W2VError, match="a binary file has a header"):
        Vectors.load_word2vec_format(path, True, no_header=True)
    assert read_vectors(path).format == "glove"
    for limit in (1, 100, 1000):
        kv = KeyedVectors.load_word2vec_format(str(path), no_header=True, limit=limit)
        assert_same_as_gensim(Vectors.load(path, limit=limit), kv)


def test_no_header_reads_a_first_line_that_looks_like_a_header(tmp_path: Path):
    path = tmp_path / "glove.txt"
    path.write_bytes(b"3 5\n7 1\nx 2\n")  # one value per word; "3 5" could be a header

    loaded = Vectors.load(path, no_header=True)

    kv = KeyedVectors.load_word2vec_format(str(path), no_header=True)
    assert_same_as_gensim(loaded, kv)
    assert loaded.words == ["3", "7", "x"]
    with pytest.raises(W2VError, match="line 2: expected a word and 5 values"):
        Vectors.load(path)


def test_the_first_line_of_a_file_without_header_is_counted_as_line_1(tmp_path: Path):
    path = tmp_path / "glove.txt"
    path.write_bytes(b"two 2\na 1 2\n")

    with pytest.raises(
        W2VError, match=r"line 2: expected a word and 1 values \(the dimension of line 1\), found 2"
    ):
        Vectors.load(path)
    with pytest.raises(W2VError, match=r"line 1: expected the header"):
        Vectors.load(path, format="word2vec-text")


GLOVE_ERRORS = [
    (b"a 1 2\nb 3\n", r"line 2: expected a word and 2 values \(the dimension of line 1\), found 1"),
    (b"a 1 2\nb 3 4\nc 5 6 7\n", r"line 3: expected a word and 2 values .*found 3 values"),
    (b"a 1 2\n\nb 3 4\n", r"line 2: empty line where a word and its vector should be"),
    (b"a 1 2\nb 3 x\n", r"line 2: the vector of 'b' has a value that is not a number: 'x'"),
    (b"a 1 2\nb 3 inf\n", r"line 2: the vector of 'b' has a value that is not a finite number"),
    (b"a 1 2\n 3 4\n", r"line 2: the line starts with whitespace, not a word"),
]


def test_glove_file_ending_in_blank_lines(tmp_path: Path):
    path = tmp_path / "glove.txt"
    path.write_bytes(b"a 1 2\nb 3 4\n\n  \n")

    assert Vectors.load(path).words == ["a", "b"]


# A Latin-1 word, a word the C tool cut inside a two-byte character, and junk bytes.
BAD_UTF8 = [b"caf\xe9", b"ok", "é".encode() * 49 + b"\xc3", b"x\xff\xfey"]


@pytest.mark.parametrize("binary", [False, True])
def test_invalid_utf8_is_replaced_and_counted_as_gensim_replaces_it(tmp_path: Path, binary: bool):
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3)
    path = tmp_path / "v"
    path.write_bytes(word2vec_bytes(BAD_UTF8, matrix, binary))

    with pytest.warns(W2VWarning, match=r"v: 3 words were not valid UTF-8"):
        loaded = Vectors.load(path)

    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary, unicode_errors="replace")
    assert_same_as_gensim(loaded, kv)
    assert loaded.words[0] == "caf\ufffd" and loaded.words[2] == "é" * 49 + "\ufffd"
    with pytest.raises(W2VError, match=r"v: line 2: the word b'caf\\xe9' is not valid UTF-8"):
        Vectors.load(path, unicode_errors="strict")
    with pytest.warns(W2VWarning, match=r"3 words were not valid UTF-8"):
        ignored = Vectors.load(path, unicode_errors="ignore")
    assert ignored.words[0] == "caf"


@pytest.mark.parametrize("limit", [None, 3])
@pytest.mark.parametrize("binary", [False, True])
def test_a_repeated_word_keeps_its_first_vector_as_gensim(
    tmp_path: Path, binary: bool, limit: int | None
):
    words = [b"a", b"b", b"a", b"c", b"b"]
    matrix = np.arange(10, dtype=np.float32).reshape(5, 2)
    path = tmp_path / "v"
    path.write_bytes(word2vec_bytes(words, matrix, binary))

    repeats = 1 if limit else 2
    with pytest.warns(W2VWarning, match=rf"v: {repeats} rows repeat an earlier word; the first"):
        loaded = Vectors.load(path, limit=limit)

    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary, limit=limit)
    # gensim leaves a None word and a zero row in place of each repeat; the rest is the same
    assert loaded.words == list(kv.key_to_index) == (["a", "b"] if limit else ["a", "b", "c"])
    np.testing.assert_array_equal(loaded.vectors, kv.vectors[: len(loaded)])
    np.testing.assert_array_equal(loaded.vectors, matrix[[0, 1, 3][: len(loaded)]])


def test_limit_reads_no_further_than_it_needs(tmp_path: Path):
    """The file is cut in the middle of its compressed data: the first rows read fine."""
    matrix = np.random.default_rng(0).normal(size=(20_000, 50)).astype(np.float32)
    packed = gzip.compress(word2vec_bytes([b"w%d" % i for i in range(20_000)], matrix))
    path = tmp_path / "v.bin.gz"
    path.write_bytes(packed[: len(packed) // 2])

    loaded = Vectors.load(path, limit=1000)

    np.testing.assert_array_equal(loaded.vectors, matrix[:1000])
    with pytest.raises(W2VError, match=r"v.bin.gz: line \d+: the gzip data is damaged"):
        Vectors.load(path)


@pytest.mark.parametrize("limit", [None, 5000])
def test_memory_is_the_kept_rows_and_a_fixed_overhead(tmp_path: Path, limit: int | None):
    """Rows go into the matrix as they are read: no copy of the file, nor of the rows past
    the limit, is ever held (numpy's arrays count in tracemalloc)."""
    rows, dim = 20_000, 300
    matrix = np.random.default_rng(0).normal(size=(rows, dim)).astype(np.float32)
    path = tmp_path / "v.bin"
    path.write_bytes(word2vec_bytes([b"word%d" % i for i in range(rows)], matrix))
    del matrix

    tracemalloc.start()
    try:
        file = read_vectors(path, limit=limit)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert len(file.words) == (limit or rows)
    assert peak <= 1.3 * file.vectors.nbytes + 6 * 2**20, peak


@pytest.mark.parametrize("compression", ["plain", "gzip"])
def test_a_header_claiming_a_trillion_rows_allocates_nothing_huge(
    tmp_path: Path, compression: str
):
    path = tmp_path / "v.txt"
    path.write_bytes(COMPRESSORS[compression](b"999999999999 3\na 1 2 3\n"))
    expected = {
        "plain": r"line 3: the file ends after 1 rows; the header says 999999999999",
        "gzip": r"line 1: 999,999,999,999 rows of dimension 3 need 11,175.9 GiB, more than the "
        r"[0-9.,]+ GiB of memory available; read fewer with --limit",
    }

    tracemalloc.start()
    try:
        with pytest.raises(W2VError, match=expected[compression]):
            read_vectors(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 8 * 2**20
    assert Vectors.load(path, limit=1).words == ["a"]


def test_a_huge_dimension_is_refused_before_allocating(tmp_path: Path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"1 999999999999\na 1\n")

    with pytest.raises(W2VError, match=r"line 1: 1 rows of dimension 999999999999 need"):
        read_vectors(path)


@pytest.mark.parametrize("format", ["auto", "word2vec-binary", "glove"])
def test_a_file_without_line_breaks_is_read_in_bounded_memory(format: str):
    with pytest.raises(W2VError, match=r"^/dev/zero: line 1: no line break in 16,777,216 bytes"):
        read_vectors("/dev/zero", format)


def test_binary_rows_end_with_a_newline_like_the_c_tool(tmp_path: Path):
    path = tmp_path / "v.bin"

    Vectors(["a", "bb"], np.array([[1.0, -2.0], [0.5, 0.25]])).save(path, "word2vec-binary")

    expected = (
        b"2 2\n"
        + b"a "
        + struct.pack("<2f", 1.0, -2.0)
        + b"\n"
        + b"bb "
        + struct.pack("<2f", 0.5, 0.25)
        + b"\n"
    )
    assert path.read_bytes() == expected


def test_text_rows_hold_the_shortest_exact_numbers(tmp_path: Path):
    path = tmp_path / "v.txt"

    Vectors(["a", "b"], np.array([[0.1, -2.0], [1e-8, 3.0]])).save(path, "word2vec-text")

    assert path.read_text() == "2 2\na 0.1 -2.0\nb 1e-08 3.0\n"


def test_reads_c_tool_text_with_trailing_spaces_and_crlf(tmp_path: Path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"2 3 \r\n</s> 0.001 -0.5 2 \r\nword 1.5e-3 0 -1 \r\n")

    words, matrix = read_word2vec(path)

    assert words == ["</s>", "word"]
    np.testing.assert_array_equal(matrix, np.float32([[0.001, -0.5, 2], [0.0015, 0, -1]]))


def test_reads_binary_with_and_without_row_newlines(tmp_path: Path):
    rows = [("x", [1.0, 2.0]), ("ünï", [-3.0, 0.0]), ("z", [10.0, 0.125])]
    body = [w.encode() + b" " + struct.pack("<2f", *v) for w, v in rows]
    c_tool, gensim_style = tmp_path / "c.bin", tmp_path / "g.bin"
    c_tool.write_bytes(b"3 2\n" + b"".join(row + b"\n" for row in body))
    gensim_style.write_bytes(b"3 2\n" + b"".join(body))

    for path in (c_tool, gensim_style):
        words, matrix = read_word2vec(path)
        assert words == ["x", "ünï", "z"]
        np.testing.assert_array_equal(matrix, np.float32([v for _, v in rows]))


def test_detects_binary_whose_first_vector_starts_with_a_newline_byte(tmp_path: Path):
    path = tmp_path / "v.bin"
    first = np.frombuffer(b"\n\x00\x80\x3f" + b"\x00\x00\x00\x40", dtype="<f4")
    path.write_bytes(b"2 2\n" + _binary_row(b"a", *first) + _binary_row(b"b", 3, 4))

    words, matrix = read_word2vec(path)

    assert words == ["a", "b"]
    np.testing.assert_array_equal(matrix, [first, [3, 4]])


def test_explicit_format_overrides_detection(tmp_path: Path, vectors: Vectors):
    text, binary = tmp_path / "v.txt", tmp_path / "v.bin"
    vectors.save(text, "word2vec-text")
    vectors.save(binary, "word2vec-binary")

    assert Vectors.load(text, format="word2vec-text").words == vectors.words
    assert Vectors.load(binary, format="word2vec-binary").words == vectors.words
    with pytest.raises(W2VError, match="line 2"):
        Vectors.load(binary, format="word2vec-text")


def test_refuses_to_write_words_with_whitespace(tmp_path: Path):
    with pytest.raises(W2VError, match="'a b'"):
        Vectors(["a b"], np.ones((1, 2))).save(tmp_path / "v.txt", "word2vec-text")
    assert list(tmp_path.iterdir()) == []


TEXT_ERRORS = [
    (b"", r"the file is empty"),
    (b"2\na 1 2\n", r"line 1: expected the header '<count> <dim>'"),
    (b"-2 2\na 1 2\n", r"line 1: expected the header"),
    (b"2 2\na 1 2\nb 3 4\n\nc", r"line 5: more rows than the 2 the header says"),
    (b"1 0\na\n", r"line 1: expected the header"),
    (b"2 2\na 1 2\nb 1\n", r"line 3: expected a word and 2 values .*found 1 values"),
    (b"2 2\na 1 2\nb 1 2 3\n", r"line 3: expected a word and 2 values .*found 3 values"),
    (b"2 2\na 1 2\nb 1 x2\n", r"line 3: the vector of 'b' has a value that is not a number: 'x2'"),
    (b"3 2\na 1 2\nb 3 4\n", r"line 4: the file ends after 2 rows; the header says 3"),
    (b"3 2\na 1 2\n\nb 3 4\n", r"line 3: empty line"),
    (b"1 2\na 1 2\nb 3 4\n", r"line 3: more rows than the 1 the header says"),
    (b"2 2\na 1 2\nb nan 4\n", r"line 3: the vector of 'b' has a value that is not a finite"),
    (b"2 2\na 1 2\n", r"line 3: the file ends after 1 rows; the header says 2"),
    (b"\n2 2\na 1 2\n", r"line 1: expected the header"),
    (b"2 2\na 1 2\n 3 4\n", r"line 3: the line starts with whitespace, not a word"),
    (b"1 2\na 1 x\n", r"line 2: the vector of 'a' has a value that is not a number: 'x'"),
    (b"2 2\na 1\nb 1 2\n", r"line 2: expected a word and 2 values .*found 1 values"),
    # after a repeated word, rows and matrix rows differ: the line is still the file's
    (b"4 2\na 1 2\na 3 4\nb 5 6\nc nan 1\n", r"line 5: the vector of 'c' has a value that is not a"),
]


@pytest.mark.parametrize(
    "content, message, formats",
    [(c, m, ("auto", "word2vec-text")) for c, m in TEXT_ERRORS]
    + [(c, m, ("auto", "glove")) for c, m in GLOVE_ERRORS],
)
def test_text_reading_errors(tmp_path: Path, content: bytes, message: str, formats: tuple):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)

    for fmt in formats:
        with pytest.raises(W2VError, match=message) as error:
            Vectors.load(path, format=fmt)
        assert "\n" not in str(error.value)
        assert str(error.value).startswith(str(path))


def _binary_row(word: bytes, *values: float) -> bytes:
    return word + b" " + struct.pack(f"<{len(values)}f", *values) + b"\n"


BINARY_ERRORS = [
    (
        b"3 2\n" + _binary_row(b"a", 1, 2) + _binary_row(b"b", 3, 4),
        r"line 4: the file ends after 2 rows; the header says 3",
    ),
    (
        b"2 2\n" + _binary_row(b"a", 1, 2) + b"b " + struct.pack("<f", 3),
        r"line 3: the vector of 'b' is cut short: 4 of 8 bytes",
    ),
    (
        b"1 2\n" + _binary_row(b"a", 1, 2) + _binary_row(b"b", 3, 4),
        r"line 3: more data after the 1 rows the header says",
    ),
    (
        b"2 2\n" + _binary_row(b"a", 1, 2, 3) + _binary_row(b"b", 4, 5),
        r"line 3: cannot find the word; do the rows have the header's dimension 2\?",
    ),
    (
        b"2 2\n" + _binary_row(b"a", 1, 2) + _binary_row(b"b", 3, float("inf")),
        r"line 3: the vector of 'b' has a value that is not a finite",
    ),
]


@pytest.mark.parametrize("content, message", BINARY_ERRORS)
def test_binary_reading_errors(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)

    with pytest.raises(W2VError, match=message) as error:
        Vectors.load(path)
    assert "\n" not in str(error.value)


def test_missing_file(tmp_path: Path):
    with pytest.raises(W2VError, match="no such file"):
        Vectors.load(tmp_path / "nowhere.bin")


words_without_whitespace = st.lists(
    st.text(
        st.characters(blacklist_characters=" \t\n\r\x0b\x0c", blacklist_categories=["Cs"]),
        min_size=1,
        max_size=6,
    ),
    min_size=1,
    max_size=6,
    unique=True,
)


def test_binary_vectors_that_begin_with_a_line_break_are_told_from_text(tmp_path: Path):
    # 0.02 as float32 is 0a d7 a3 3c: a "\n" byte, then bytes that are valid UTF-8
    matrix = np.array([[0.02, 0.02], [1.0, -2.5]], dtype=np.float32)
    Vectors(["0", "b"], matrix).save(tmp_path / "v.bin", format="word2vec-binary")

    loaded = Vectors.load(tmp_path / "v.bin")

    assert loaded.words == ["0", "b"]
    np.testing.assert_array_equal(loaded.vectors, matrix)


@settings(max_examples=60, deadline=None)
@given(words=words_without_whitespace, dim=st.integers(2, 5), data=st.data())
def test_any_words_and_values_survive_both_formats(tmp_path_factory, words, dim, data):
    finite = st.floats(width=32, allow_nan=False, allow_infinity=False)
    matrix = data.draw(arrays(np.float32, (len(words), dim), elements=finite))
    folder = tmp_path_factory.mktemp("roundtrip")

    for fmt in ("word2vec-text", "word2vec-binary"):
        Vectors(words, matrix).save(folder / fmt, format=fmt)
        loaded = Vectors.load(folder / fmt, format=fmt)
        assert loaded.words == words
        np.testing.assert_array_equal(loaded.vectors, matrix)
