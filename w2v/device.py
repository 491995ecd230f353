"""Where training runs: the device, the CPU threads, and whether the settings fit in memory."""

from __future__ import annotations

import os

import torch

from w2v.config import TrainConfig
from w2v.data.batcher import NOISE_TABLE_SIZE
from w2v.data.pool import available_cpus
from w2v.distributed import SINGLE_PROCESS, Cluster
from w2v.errors import W2VError
from w2v.formats.reading import available_memory as system_memory


def check_device(name: str) -> str:
    """The device type a --device value asks for ('cpu' or 'cuda'); an error if it cannot work."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise W2VError(f"--device {name}: no CUDA GPU is available here; use --device cpu")
        index = torch.device(name).index or 0
        if index >= torch.cuda.device_count():
            raise W2VError(f"--device {name}: there are only {torch.cuda.device_count()} GPUs")
        return "cuda"
    raise W2VError(f"--device must be auto, cpu, cuda or cuda:N, got '{name}'")


def resolve_device(name: str, cluster: Cluster = SINGLE_PROCESS) -> torch.device:
    """auto takes a GPU when there is one; asking for CUDA where there is none is an error.

    On several processes, each takes the GPU of its local rank.
    """
    if check_device(name) == "cpu":
        return torch.device("cpu")
    if cluster.distributed:
        index = cluster.local_rank
    else:  # auto and cuda: the first GPU
        index = (torch.device(name).index or 0) if name.startswith("cuda") else 0
    if index >= torch.cuda.device_count():
        raise W2VError(f"--device {name}: process {cluster.rank} needs GPU {index}, but there are "
                       f"only {torch.cuda.device_count()}")
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def step_threads(device: torch.device, cluster: Cluster = SINGLE_PROCESS) -> int:
    """Threads that share a step: on a CPU, the cores this process's share of the machine has."""
    if device.type != "cpu":
        return 1
    return max(1, available_cpus() // cluster.local_world_size)


def memory_needed(config: TrainConfig, vocab_size: int, corpus_tokens: int,
                  processes: int = 1, ngrams: int = 0) -> int:
    """Bytes the largest allocations of training with `config` take, over `processes`.

    An estimate, from the shapes the trainer allocates: the two tables (and, on several
    processes, their copies at the last sync), two chunks of batches (one trains while the next
    is drawn), the largest arrays of one step, and the noise-word table; with subwords, the
    n-gram rows of the input table and every word's bag of row ids, from `ngrams`, the number
    of n-grams of the vocabulary's words.
    """
    dim, slots = config.dim, 2 * config.window
    noise_slots, batch = slots * config.negatives, config.batch_size
    groups = batch // config.group_size
    # a chunk covers up to chunk_tokens words of the corpus, padded to whole batches
    chunk_rows = -(-min(config.chunk_tokens, corpus_tokens) // batch) * batch
    tables = (4 if processes > 1 else 2) * vocab_size * dim * 4
    per_row = 5 * 8 + slots * 4 + 4  # ids, sentence ids, windows, reach; context masks; noise use
    chunk = 2 * (chunk_rows * per_row + chunk_rows // config.group_size * noise_slots * 8)
    step = 4 * (batch * noise_slots + groups * noise_slots * dim) * 4 + 8 * batch * dim * 4
    noise_table = NOISE_TABLE_SIZE * (4 + 8)
    subwords = 0
    if ngrams:
        bag = 1 + ngrams / vocab_size  # rows per word, on average
        subwords = ((2 if processes > 1 else 1) * min(ngrams, config.buckets) * dim * 4
                    + (vocab_size + ngrams) * 8 + int(batch * bag * (2 * dim * 4 + 4 * 8)))
    return processes * (tables + chunk + step + noise_table + subwords)


# The settings a user can make too large, and what lowers them.
_SIZES = {"dim": "--dim", "window": "--window", "negatives": "--negatives",
          "batch_size": "--batch-size"}


def available_memory(device: torch.device) -> int:
    """Bytes free for training on `device`: free GPU memory, or the memory the OS can give."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    free = system_memory()
    return free if free is not None else os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(config: TrainConfig, vocab_size: int, corpus_tokens: int, device: torch.device,
                 processes: int = 1, ngrams: int = 0) -> None:
    """Refuse settings whose arrays cannot fit in the device's memory, before allocating any;
    name the setting that, at its default, would save the most."""
    needed, free = memory_needed(config, vocab_size, corpus_tokens, processes, ngrams), \
        available_memory(device)
    if needed <= free:
        return
    default = TrainConfig()
    at_default = {name: memory_needed(config.replace(**{name: getattr(default, name)}),
                                      vocab_size, corpus_tokens, processes, ngrams)
                  for name in _SIZES if getattr(config, name) > getattr(default, name)}
    where = "GPU" if device.type == "cuda" else "machine"
    shared = f" for {processes} processes" if processes > 1 else ""
    advice = "free some memory, or prepare the corpus with a smaller --max-vocab"
    if at_default:
        name = min(at_default, key=at_default.__getitem__)
        advice = (f"lower {_SIZES[name]} (at its default, {getattr(default, name)}, they would "
                  f"need {_size(at_default[name])})")
    raise W2VError(f"these settings need about {_size(needed)} of memory{shared}, more than the "
                   f"{_size(free)} this {where} has free; {advice}")


def _size(n: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n / 1e3:,.1f} kB"
