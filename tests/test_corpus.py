import io
import json
import os
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w2v.data.corpus import DatasetWriter, find_dataset, open_dataset
from w2v.data.prepare import prepare
from w2v.errors import W2VError

NEWLINE = None


def reference_sentences(lines: list[list[int]], max_sentence: int) -> list[list[int]]:
    sentences = []
    for line in lines:
        kept = [t for t in line if t >= 0]
        sentences += [kept[i : i + max_sentence] for i in range(0, len(kept), max_sentence)]
    return sentences


def feed(writer: DatasetWriter, events: list[int | None], cuts: list[int]) -> None:
    """Write `events` (ids, NEWLINE between lines) in runs as `prepare` does, one run per text chunk."""
    bounds = [0, *sorted(cuts), len(events)]
    for start, stop in pairwise(bounds):
        run = events[start:stop]
        lines: list[list[int]] = [[]]
        for event in run:
            if event is NEWLINE:
                lines.append([])
            else:
                lines[-1].append(event)
        ids = np.array([t for line in lines for t in line if t >= 0], dtype=np.int32)
        writer.write(ids, np.array([sum(t >= 0 for t in line) for line in lines]))
    writer.finish()


@settings(max_examples=200)
@given(
    lines=st.lists(st.lists(st.integers(-1, 5), max_size=20), max_size=10),
    max_sentence=st.integers(1, 6),
    data=st.data(),
)
def test_writer_cuts_sentences_like_the_reference(
    lines: list[list[int]], max_sentence: int, data: st.DataObject
) -> None:
    events: list[int | None] = []
    for line in lines:
        events += [*line, NEWLINE]
    cuts = data.draw(st.lists(st.integers(0, len(events)), max_size=6))
    tokens, offsets = io.BytesIO(), io.BytesIO()
    writer = DatasetWriter(tokens, offsets, max_sentence=max_sentence)

    feed(writer, events, cuts)

    flat = np.frombuffer(tokens.getvalue(), dtype="<i4")
    ends = np.frombuffer(offsets.getvalue(), dtype="<i8")
    got = [flat[a:b].tolist() for a, b in pairwise(ends)]
    assert got == reference_sentences(lines, max_sentence)
    assert ends[0] == 0 and ends[-1] == len(flat) == writer.tokens
    assert writer.sentences == len(got)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("a b c\nb c\nc\n", encoding="utf-8")
    return prepare(str(corpus), tmp_path / "data", min_count=1, progress=False).path


def test_open_dataset(dataset: Path) -> None:
    opened = open_dataset(dataset)

    assert isinstance(opened.tokens, np.memmap) and opened.tokens.dtype == np.dtype("<i4")
    assert opened.tokens.tolist() == [2, 1, 0, 1, 0, 0]
    assert opened.offsets.tolist() == [0, 3, 5, 6]
    assert opened.sentences == 3
    assert opened.vocab.words == ["c", "b", "a"]
    assert opened.meta["tokens"] == 6 and opened.meta["format"] == "w2v-dataset"
    assert opened.path == dataset


def edit_meta(dataset: Path, **changes: object) -> None:
    meta = json.loads((dataset / "meta.json").read_text())
    (dataset / "meta.json").write_text(json.dumps({**meta, **changes}))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "meta.json").unlink(), "not a prepared dataset"),
        (lambda d: (d / "meta.json").write_text("{"), "cannot read"),
        (lambda d: edit_meta(d, format="other"), "not a w2v dataset"),
        (lambda d: edit_meta(d, version=3), "version 3"),
        (lambda d: edit_meta(d, tokens="six"), "'tokens'"),
        (lambda d: (d / "vocab.tsv").unlink(), "lacks vocab.tsv"),
        (lambda d: (d / "tokens.bin").write_bytes(b"\0" * 20), "has 20 bytes, expected 24"),
        (lambda d: (d / "offsets.bin").write_bytes(b"\0" * 32), "does not describe"),
        (lambda d: (d / "vocab.tsv").write_text("c\t3\nb\t2\n"), "has 2 words"),
    ],
)
def test_open_dataset_reports_damage(dataset: Path, damage, message: str) -> None:
    damage(dataset)
    with pytest.raises(W2VError, match=message) as info:
        open_dataset(dataset)
    assert "w2v prepare" in str(info.value)


def fake_dataset(folder: Path, mtime: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text("{}")
    os.utime(folder / "meta.json", (mtime, mtime))
    return folder


def test_find_dataset_picks_the_newest(tmp_path: Path) -> None:
    root = tmp_path / "data"
    fake_dataset(root / "old", 1_000_000)
    newest = fake_dataset(root / "new", 3_000_000)
    fake_dataset(root / "middle", 2_000_000)
    fake_dataset(root / ".half-written.tmp", 4_000_000)
    (root / "downloads").mkdir()

    assert find_dataset(root) == newest
    assert find_dataset(None, data_root=root) == newest
    assert find_dataset(root / "old") == root / "old"


def test_find_dataset_uses_the_working_directory_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fake_dataset(tmp_path / "data" / "ptb", 1_000_000)
    assert find_dataset(None) == Path("data") / "ptb"


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_find_dataset_without_datasets(tmp_path: Path, where: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(W2VError, match="run `w2v prepare` first"):
        find_dataset(tmp_path / where)
