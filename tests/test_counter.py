import random
from collections import Counter
from pathlib import Path

import pytest

from w2v.data import counter as counter_module
from w2v.data.counter import KeyCounter, select_words
from w2v.data.passes import count_block
from w2v.data.tokenizer import Tokenizer


def zipf_blocks(blocks: int = 40, words_per_block: int = 400, seed: int = 3) -> list[str]:
    """Blocks of words with a long tail, of every key width (1 to 50 bytes)."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" + "é" * (i % 5) + "x" * (i % 3 * 9) for i in range(3000)]
    weights = [1 / (rank + 2.7) for rank in range(len(vocabulary))]
    return [" ".join(rng.choices(vocabulary, weights, k=words_per_block)) + "\n"
            for _ in range(blocks)]


def count_all(blocks: list[str], spill_dir: Path, memory: int) -> tuple[Counter[str], KeyCounter]:
    counter = KeyCounter(spill_dir, memory)
    for block in blocks:
        counter.add(count_block(Tokenizer(), block.encode()).tables)
    words = select_words(counter.merged(), min_count=1, max_vocab=None)
    return Counter(dict(words.kept)), counter


@pytest.mark.parametrize("memory", [30_000, 200_000, 512 << 20])
def test_counts_are_exact_whatever_the_memory(tmp_path: Path, memory: int) -> None:
    blocks = zipf_blocks()
    expected = Counter(" ".join(blocks).split())

    counts, counter = count_all(blocks, tmp_path / "spill", memory)

    assert counts == expected
    if memory < 1 << 20:
        # Several runs of each width went to disk, and only into the folder given.
        assert len({run.keys.name[:9] for run in counter.spilled}) >= 3
        assert {p.parent for p in (tmp_path / "spill").iterdir()} == {tmp_path / "spill"}
    else:
        assert not counter.spilled and not (tmp_path / "spill").exists()


def test_tables_wait_for_a_merge_only_until_they_match_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A small vocabulary: the run stays tiny, so tables must not pile up to the budget's share.
    monkeypatch.setattr(counter_module, "MIN_PENDING", 20_000)
    counter = KeyCounter(tmp_path, 512 << 20)
    blocks = zipf_blocks(blocks=60)
    largest_wait = added = 0
    for block in blocks:
        tables = count_block(Tokenizer(), block.encode()).tables
        added += sum(keys.nbytes + counts.nbytes for keys, counts in tables.values())
        counter.add(tables)
        largest_wait = max(largest_wait, counter.pending_bytes)
        assert counter.pending_bytes < max(20_000, counter.run_bytes)

    assert 0 < largest_wait < added / 4
    counts = select_words(counter.merged(), min_count=1, max_vocab=None)
    assert Counter(dict(counts.kept)) == Counter(" ".join(blocks).split())


def test_select_words_keeps_min_count_and_the_commonest(tmp_path: Path) -> None:
    blocks = zipf_blocks(blocks=10)
    expected = Counter(" ".join(blocks).split())
    counter = KeyCounter(tmp_path, 20_000)
    for block in blocks:
        counter.add(count_block(Tokenizer(), block.encode()).tables)

    words = select_words(counter.merged(), min_count=5, max_vocab=30)

    ranked = sorted(expected.items(), key=lambda item: (-item[1], item[0]))
    assert sorted(words.kept, key=lambda item: (-item[1], item[0])) == ranked[:30]
    assert words.distinct == len(expected)
    assert words.commonest == ranked[0]


def test_many_spilled_runs_are_merged_on_disk(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counter_module, "MAX_RUNS", 2)
    blocks = zipf_blocks()
    most_files = 0
    real_spill = KeyCounter._spill

    def spill(self: KeyCounter) -> None:
        nonlocal most_files
        real_spill(self)
        most_files = max(most_files, len(list(self.spill_dir.iterdir())))

    monkeypatch.setattr(KeyCounter, "_spill", spill)
    counts, counter = count_all(blocks, tmp_path / "spill", 30_000)

    assert counts == Counter(" ".join(blocks).split())
    assert counter.files_written > 20
    widths = {run.width for run in counter.spilled}
    # At most MAX_RUNS + 1 runs of each width were on disk at any time, two files each.
    assert most_files <= 2 * 3 * len(widths)
    assert len(list((tmp_path / "spill").iterdir())) == 2 * len(counter.spilled)
