from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from w2v.errors import W2VError
from w2v.vectors import Vectors
from w2v.word2vec_format import read_word2vec


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
    (b"two 2\na 1 2\n", r"line 1: expected the header"),
    (b"1 0\na\n", r"line 1: expected the header"),
    (b"2 2\na 1 2\nb 1\n", r"line 3: expected a word and 2 values .*found 1 values"),
    (b"2 2\na 1 2\nb 1 2 3\n", r"line 3: expected a word and 2 values .*found 3 values"),
    (b"2 2\na 1 2\nb 1 x2\n", r"line 3: the vector of 'b' has a value that is not a number: 'x2'"),
    (b"2 2\na 1 2\na 3 4\n", r"line 3: duplicate word 'a' \(first on line 2\)"),
    (b"3 2\na 1 2\nb 3 4\n", r"line 4: the file ends after 2 rows; the header says 3"),
    (b"3 2\na 1 2\n\nb 3 4\n", r"line 3: empty line"),
    (b"1 2\na 1 2\nb 3 4\n", r"line 3: more rows than the 1 the header says"),
    (b"2 2\na 1 2\nb nan 4\n", r"line 3: the vector of 'b' has a value that is not a finite"),
    (b"1 2\n\xff\xfe 1 2\n", r"line 2: the word .* is not valid UTF-8"),
    (b"1 2\na 1 x\n", r"line 2: the vector of 'a' has a value that is not a number: 'x'"),
    (b"2 2\na 1\nb 1 2\n", r"line 2: expected a word and 2 values .*found 1 values"),
]


@pytest.mark.parametrize("content, message", TEXT_ERRORS)
def test_text_reading_errors(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)

    for fmt in ("auto", "word2vec-text"):
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
        b"2 2\n" + _binary_row(b"a", 1, 2) + _binary_row(b"a", 3, 4),
        r"line 3: duplicate word 'a' \(first on line 2\)",
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


@settings(max_examples=60, deadline=None)
@given(words=words_without_whitespace, dim=st.integers(2, 5), data=st.data())
def test_any_words_and_values_survive_both_formats(tmp_path_factory, words, dim, data):
    finite = st.floats(width=32, allow_nan=False, allow_infinity=False)
    matrix = data.draw(arrays(np.float32, (len(words), dim), elements=finite))
    folder = tmp_path_factory.mktemp("roundtrip")

    for fmt in ("word2vec-text", "word2vec-binary"):
        Vectors(words, matrix).save(folder / fmt, format=fmt)
        loaded = Vectors.load(folder / fmt)
        assert loaded.words == words
        np.testing.assert_array_equal(loaded.vectors, matrix)
