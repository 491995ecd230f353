"""The processes' sparse table sync against all-reducing whole tables, on real gloo processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from support import topic_corpus

import w2v.trainer
from w2v.config import TrainConfig
from w2v.data.prepare import prepare
from w2v.distributed import TableSync, join, launch, leave, table_digest
from w2v.launch import Launch, plan_new, train_here

DIM = 4

# Rows each rank changes before each sync: (table, rows) updates, applied in order.
PLAN: list[list[list[tuple[str, list[int]]]]] = [
    # first sync: rows of one rank (input 0 7 9, output 2; input 11), of both (input 5),
    # of none (the rest); repeats within an update and across updates
    [[("input", [0, 5, 5, 7]), ("input", [7, 9]), ("output", [2])],
     [("input", [5, 11])]],
    [[], []],  # nobody changed anything
    [[], [("output", [29, 0]), ("input", [39])]],  # one rank only, the tables' last rows
    # every row of the input table, twice over on rank 0: more rows than the table holds
    [[("input", list(range(40))), ("input", list(range(40))), ("output", [3])],
     [("input", list(range(0, 40, 3))), ("output", [3, 4])]],
]
SYNCED_ROWS = [7, 0, 3, 57]  # the rows each rank changed, summed over ranks

# Three ranks: rows of one rank, of two (not always the same two), of all three.
PLAN_3 = [
    [[("input", [0, 5])], [("input", [5, 7])], [("input", [7, 9]), ("output", [1])]],
    [[("output", [3])], [("output", [3])], [("output", [3]), ("input", [0])]],
]
SYNCED_ROWS_3 = [7, 4]


def dense_sync(tables: dict[str, torch.Tensor],
               anchors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What all-reducing the change of every row of every table gives (the tables stay as they are)."""
    synced = {}
    for name, table in tables.items():
        change = table - anchors[name]
        dist.all_reduce(change)
        synced[name] = change.add_(anchors[name])
    return synced


def changed_rows(tables: dict[str, torch.Tensor],
                 anchors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per table, the rows this rank changed since the anchors."""
    return {name: (table != anchors[name]).any(1) for name, table in tables.items()}


def ranks_per_row(changed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per table and row, how many ranks changed it."""
    counts = {}
    for name, rows in changed.items():
        counts[name] = rows.to(torch.int32)
        dist.all_reduce(counts[name])
    return counts


def trained_values(tables: dict[str, torch.Tensor],
                   changed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per table, each row as the rank that changed it holds it (summed where several did)."""
    values = {}
    for name, table in tables.items():
        mine = changed[name].unsqueeze(1)
        values[name] = torch.where(mine, table, torch.zeros_like(table))
        dist.all_reduce(values[name])  # x + 0 is x: exact on the rows that one rank changed
    return values


def same_sums(synced: torch.Tensor, dense: torch.Tensor, trained: torch.Tensor,
              ranks: torch.Tensor) -> bool:
    """A row no rank changed as it was, a row one rank changed bit for bit as that rank trained
    it, and a row several changed equal to the all-reduce up to the order in which its changes
    were added (a few units in the last place of float32)."""
    none, one, several = ranks == 0, ranks == 1, ranks > 1
    return (torch.equal(synced[none], dense[none]) and torch.equal(synced[one], trained[one])
            and torch.allclose(synced[several], dense[several], rtol=4e-7, atol=1e-7))


def sync_by_plan(out: Path, keep_all: bool, plan: list = PLAN) -> None:
    """One rank: change rows as `plan` says, sync after each interval, and record the outcome."""
    cluster = join("cpu")
    init = torch.Generator().manual_seed(0)  # the same start on every rank
    tables = {"input": torch.randn(40, DIM, generator=init),
              "output": torch.randn(30, DIM, generator=init)}
    sync = TableSync(tables, keep_all=keep_all)
    anchors = {name: t.clone() for name, t in tables.items()}
    changes = torch.Generator().manual_seed(100 + cluster.rank)
    records = []
    for interval in plan:
        for name, rows in interval[cluster.rank]:
            ids = torch.tensor(rows, dtype=torch.int64)
            sync.before_update(name, ids)
            tables[name].index_add_(0, ids, torch.randn(len(ids), DIM, generator=changes))
        expected = dense_sync(tables, anchors)
        changed = changed_rows(tables, anchors)
        trained, ranks = trained_values(tables, changed), ranks_per_row(changed)
        counters = sync(torch.tensor([cluster.rank + 1.0, 0.5], dtype=torch.float64))
        records.append({
            "equal": all(same_sums(tables[n], expected[n], trained[n], ranks[n]) for n in tables),
            "changed": any(not torch.equal(tables[n], anchors[n]) for n in tables),
            "digest": table_digest(list(tables.values())), "rows": sync.totals.last_rows,
            "counters": counters,
        })
        anchors = {name: t.clone() for name, t in tables.items()}
    (out / f"rank{cluster.rank}.json").write_text(json.dumps(records))
    leave(cluster)


@pytest.mark.parametrize("keep_all", [False, True], ids=["first-values", "every-value"])
def test_sparse_sync_equals_a_dense_all_reduce(tmp_path: Path, keep_all: bool) -> None:
    launch(2, sync_by_plan, tmp_path, keep_all)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for records in ranks:
        assert [r["equal"] for r in records] == [True] * len(PLAN)
        assert [r["rows"] for r in records] == SYNCED_ROWS
        assert [r["changed"] for r in records] == [True, False, True, True]
        assert [r["counters"] for r in records] == [[3.0, 1.0]] * len(PLAN)
    assert [r["digest"] for r in ranks[0]] == [r["digest"] for r in ranks[1]]


def test_three_ranks_sync_rows_of_one_two_or_all_of_them(tmp_path: Path) -> None:
    launch(3, sync_by_plan, tmp_path, False, PLAN_3)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(3)]
    for records in ranks:
        assert [r["equal"] for r in records] == [True, True]
        assert [r["rows"] for r in records] == SYNCED_ROWS_3
        assert [r["counters"] for r in records] == [[6.0, 1.5]] * 2
    assert len({tuple(r["digest"] for r in records) for records in ranks}) == 1


class CheckedSync(TableSync):
    """The trainer's sync, checked at every sync against all-reducing whole tables; each check
    is a line of `out`/checks{rank}.jsonl."""

    out: Path

    def __init__(self, tables: dict[str, torch.Tensor], keep_all: bool | None = None) -> None:
        super().__init__(tables, keep_all)
        self.anchors = {name: t.clone() for name, t in tables.items()}

    def __call__(self, counters: torch.Tensor) -> list[float]:
        expected = dense_sync(self.tables, self.anchors)
        # the rows this rank kept to sync: an update may leave a row as it was
        changed = {name: flags.bool() for name, flags in self.flags.items()}
        trained, ranks = trained_values(self.tables, changed), ranks_per_row(changed)
        summed = super().__call__(counters)
        every_row = torch.cat(list(ranks.values()))
        check = {"equal": all(same_sums(t, expected[n], trained[n], ranks[n])
                              for n, t in self.tables.items()),
                 "one_rank": int((every_row == 1).sum()), "no_rank": int((every_row == 0).sum())}
        with open(self.out / f"checks{dist.get_rank()}.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(check) + "\n")
        self.anchors = {name: t.clone() for name, t in self.tables.items()}
        return summed


def train_checked(launch_: Launch, out: Path) -> None:
    """One rank of a real training run, with the trainer's sync checked at every sync."""
    CheckedSync.out = out
    w2v.trainer.TableSync = CheckedSync
    train_here(launch_)


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_every_sync_of_a_training_run_equals_a_dense_all_reduce(tmp_path: Path,
                                                                model: str) -> None:
    dataset = prepare(str(topic_corpus(tmp_path / "topics.txt", sentences=400)),
                      tmp_path / "data", min_count=1, progress=False).path
    config = TrainConfig(model=model, dim=8, window=3, epochs=2, batch_size=64, group_size=16,
                         sample=0.0, lr=0.05, sync_every=2)
    run_dir = tmp_path / "run"
    plan = plan_new(dataset, run_dir, config, device="cpu", nproc=2, progress=False)
    launch(2, train_checked, plan.launch, tmp_path)
    checks = [[json.loads(line) for line in (tmp_path / f"checks{r}.jsonl").read_text().splitlines()]
              for r in range(2)]
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # every sync was checked: the first and last of each epoch and all between
    assert checks[0] == checks[1] and len(checks[0]) == len(logged) > 2 * config.epochs
    assert {m["epoch"] for m in logged} == {0, 1}
    assert all(c["equal"] for c in checks[0])
    assert any(c["one_rank"] > 0 for c in checks[0])
    assert any(c["no_rank"] > 0 for c in checks[0])
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and len(set(info["table_digests"])) == 1
