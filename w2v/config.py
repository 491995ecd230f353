"""Training hyperparameters: built-in defaults, a TOML file, flag overrides, validation."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from w2v.errors import W2VError
from w2v.subwords import MAX_BUCKETS, Subwords


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes, with skip-gram's defaults."""

    model: str = "skipgram"
    dim: int = 100
    window: int = 5
    negatives: int = 5
    sample: float = 1e-4
    epochs: int = 20
    batch_size: int = 2048
    group_size: int = 64
    lr: float = 0.035
    min_lr_ratio: float = 1e-4
    step_limit: float = 3.0  # largest lr x stiffness of a row in one step (w2v.step); 0: plain SGD
    chunk_tokens: int = 4_000_000
    seed: int = 1
    log_every: int = 20
    sync_every: int = 0  # steps between the processes' syncs; 0: 4 on GPUs, 32 on CPUs (128 from 100k words)
    cuda_graphs: bool = True  # on one GPU, replay each step from a CUDA graph (w2v.step)
    subwords: str = "0"  # "MIN-MAX": character n-grams of MIN to MAX characters (fastText); "0": none
    buckets: int = 2_000_000  # rows the n-grams are hashed into (fastText's default)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def ngrams(self) -> Subwords | None:
        """How words are cut into n-grams and hashed, or None for plain word2vec."""
        lengths = ngram_lengths(self.subwords)
        return None if lengths is None else Subwords(*lengths, self.buckets)


# The models, and where their defaults differ from TrainConfig's, which are skip-gram's
# (configs/ptb.toml and configs/cbow.toml hold the same values; a test checks them and the
# README against these): a window's mean passes 1/(its size) of the gradient to each context
# word, so CBOW takes a higher learning rate, and reaches its quality in fewer epochs; its steps
# are small, so it takes larger batches.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "skipgram": {},
    "cbow": {"lr": 0.1, "epochs": 10, "batch_size": 4096},
}
MODELS = tuple(MODEL_DEFAULTS)

# On a GPU a step costs mostly its launch whatever its size, so steps are larger there; the step
# limit keeps their quality (BENCHMARKS.md: batches on the GPU). On a CPU larger steps were not
# faster.
GPU_BATCH_SIZE = 8192

# Batches of more centers than this take a larger learning rate by default: the model's, times
# the cube root of (batch size / this). Under the step limit, frequent words' rows move by what
# the limit allows whatever the rate, so the rate sets how far the rest move in the fewer steps
# of an epoch; on PTB this kept both models within 0.03 of their CPU defaults at 32768 centers,
# where the model's own rate lost up to 0.08 (BENCHMARKS.md: large batches at PTB quality).
LR_REFERENCE_BATCH = 4096


def default_lr(model: str, batch_size: int) -> float:
    """The learning rate a run of `model` in batches of `batch_size` centers takes by default."""
    lr = MODEL_DEFAULTS[model].get("lr", TrainConfig.lr)
    return round(lr * max(1.0, batch_size / LR_REFERENCE_BATCH) ** (1 / 3), 4)


def defaults(model: str = "skipgram", device_type: str = "cpu") -> TrainConfig:
    """The built-in settings of `model` on a device of `device_type` ('cpu' or 'cuda')."""
    batch_size = GPU_BATCH_SIZE if device_type == "cuda" else \
        MODEL_DEFAULTS[model].get("batch_size", TrainConfig.batch_size)
    return TrainConfig(model=model, **{**MODEL_DEFAULTS[model], "batch_size": batch_size,
                                       "lr": default_lr(model, batch_size)})

_AT_LEAST_ONE = ("dim", "window", "negatives", "epochs", "batch_size", "group_size",
                 "chunk_tokens", "log_every", "buckets")


class ConfigError(W2VError):
    """A setting with a value it cannot take; `key` names the setting."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config '{key}' {problem}")
        self.key = key
        self.problem = problem


MAX_SEED = 2**63 - 1


def validate(config: TrainConfig) -> None:
    for f in fields(config):
        value = getattr(config, f.name)
        expected = {"int": int, "float": (int, float), "str": str, "bool": bool}[f.type]
        if isinstance(value, bool) != (f.type == "bool") or not isinstance(value, expected):
            raise ConfigError(f.name, f"must be {f.type}, got {value!r}")
    for name in _AT_LEAST_ONE:
        if getattr(config, name) < 1:
            raise ConfigError(name, f"must be at least 1, got {getattr(config, name)}")
    if config.model not in MODELS:
        raise ConfigError("model", f"must be one of {', '.join(MODELS)}, got {config.model!r}")
    if not (config.lr > 0 and math.isfinite(config.lr)):
        raise ConfigError("lr", f"must be a positive number, got {config.lr}")
    if not (config.step_limit >= 0 and math.isfinite(config.step_limit)):
        raise ConfigError("step_limit", f"must be 0 (off) or positive, got {config.step_limit}")
    if config.sync_every < 0:
        raise ConfigError("sync_every", f"must be 0 (by device) or more, got {config.sync_every}")
    if not 0 < config.min_lr_ratio <= 1:
        raise ConfigError("min_lr_ratio", f"must be in (0, 1], got {config.min_lr_ratio}")
    if not (config.sample >= 0 and math.isfinite(config.sample)):
        raise ConfigError("sample", f"must be 0 (off) or positive, got {config.sample}")
    if not 0 <= config.seed <= MAX_SEED:
        raise ConfigError("seed", f"must be between 0 and {MAX_SEED}, got {config.seed}")
    ngram_lengths(config.subwords)
    if config.buckets > MAX_BUCKETS:
        raise ConfigError("buckets", f"must be at most {MAX_BUCKETS:,}, got {config.buckets}")
    if config.batch_size % config.group_size:
        raise ConfigError(
            "batch_size",
            f"must be a multiple of 'group_size' ({config.group_size}), got {config.batch_size}",
        )


def ngram_lengths(subwords: str) -> tuple[int, int] | None:
    """(min, max) n-gram lengths from "MIN-MAX", None from "0"."""
    text = subwords.strip() if isinstance(subwords, str) else ""
    if text == "0":
        return None
    low, dash, high = text.partition("-")
    if dash and low.strip().isdigit() and high.strip().isdigit() \
            and 1 <= int(low) <= int(high):
        return int(low), int(high)
    raise ConfigError("subwords", f"must be 0 (none) or MIN-MAX n-gram lengths with "
                                  f"1 <= MIN <= MAX, such as 3-6, got {subwords!r}")


def load_config(path: Path | None, base: TrainConfig | None = None, device_type: str = "cpu",
                **overrides: Any) -> TrainConfig:
    """`base` (default: the built-in defaults on `device_type`), then the TOML file's values,
    then the non-None overrides (command-line flags). A bad value is reported by the flag or
    file that gave it."""
    from_file = read_toml(path) if path is not None else {}
    flags = {k: v for k, v in overrides.items() if v is not None}
    values = {**from_file, **flags}
    for name in ("sample", "lr", "min_lr_ratio", "step_limit"):
        if type(values.get(name)) is int:
            values[name] = float(values[name])
    if type(values.get("subwords")) is int:  # subwords = 0
        values["subwords"] = str(values["subwords"])
    if base is None:
        model, batch_size = values.get("model", TrainConfig.model), values.get("batch_size")
        base = defaults(model, device_type) if model in MODELS else TrainConfig()
        if model in MODELS and type(batch_size) is int and batch_size >= 1:
            base = base.replace(lr=default_lr(model, batch_size))
    try:
        return dataclasses.replace(base, **values)
    except ConfigError as e:
        if e.key in flags:
            raise W2VError(f"--{e.key.replace('_', '-')} {e.problem}") from None
        if e.key in from_file:
            raise W2VError(f"'{e.key}' in config file {path} {e.problem}") from None
        raise


def read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise W2VError(f"config file {path} does not exist") from None
    except OSError as e:
        raise W2VError(f"cannot read config file {path}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise W2VError(f"config file {path} is not valid TOML: {e}") from None
    known = {f.name for f in fields(TrainConfig)}
    for key in data:
        if key not in known:
            raise W2VError(
                f"unknown key '{key}' in config file {path}; known keys: {', '.join(sorted(known))}"
            )
    return data
