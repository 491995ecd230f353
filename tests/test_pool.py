import os
from collections.abc import Iterator
from functools import partial

import pytest

from w2v.data import pool
from w2v.data.pool import available_cpus, ordered_map
from w2v.errors import W2VError


def scale(factor: int, item: int) -> tuple[int, int]:
    return item * factor, os.getpid()


def die(item: int) -> int:
    os._exit(1)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_come_in_input_order(workers: int) -> None:
    results = list(ordered_map(partial(scale, 10), range(50), workers))

    assert [value for value, _ in results] == [i * 10 for i in range(50)]
    pids = {pid for _, pid in results}
    assert (pids == {os.getpid()}) if workers == 1 else (os.getpid() not in pids)


def test_only_a_few_items_are_read_ahead() -> None:
    read = []

    def items() -> Iterator[int]:
        for i in range(100):
            read.append(i)
            yield i

    results = ordered_map(partial(scale, 1), items(), 2)
    next(results)

    assert len(read) <= pool.QUEUED_PER_WORKER * 2 + 1
    results.close()


def test_an_error_while_reading_stops_the_workers() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise W2VError("cannot read the corpus")

    with pytest.raises(W2VError, match="cannot read the corpus"):
        list(ordered_map(partial(scale, 1), items(), 2))


def test_a_dead_worker_is_a_w2v_error() -> None:
    with pytest.raises(W2VError, match="worker process died"):
        list(ordered_map(die, range(3), 2))


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_must_be_positive(workers: int) -> None:
    with pytest.raises(W2VError, match=f"--workers must be at least 1, not {workers}"):
        list(ordered_map(partial(scale, 1), range(3), workers))


def test_available_cpus() -> None:
    assert 1 <= available_cpus() <= (os.cpu_count() or 1)
