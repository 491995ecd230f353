import random
from collections import Counter
from pathlib import Path

import pytest

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
