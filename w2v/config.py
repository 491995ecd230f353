"""Training hyperparameters: built-in defaults, a TOML file, flag overrides, validation."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from w2v.errors import W2VError


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes. configs/ptb.toml holds the same values."""

    model: str = "skipgram"
    dim: int = 100
    window: int = 5
    negatives: int = 5
    sample: float = 1e-4
    epochs: int = 20
    batch_size: int = 2048
    group_size: int = 64
    lr: float = 0.025
    min_lr_ratio: float = 1e-4
    chunk_tokens: int = 4_000_000
    seed: int = 1
    log_every: int = 20

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


MODELS = ("skipgram", "cbow")

_AT_LEAST_ONE = ("dim", "window", "negatives", "epochs", "batch_size", "group_size",
                 "chunk_tokens", "log_every")


def validate(config: TrainConfig) -> None:
    for f in fields(config):
        value = getattr(config, f.name)
        expected = {"int": int, "float": (int, float), "str": str}[f.type]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise W2VError(f"config '{f.name}' must be {f.type}, got {value!r}")
    for name in _AT_LEAST_ONE:
        if getattr(config, name) < 1:
            raise W2VError(f"config '{name}' must be at least 1, got {getattr(config, name)}")
    if config.model not in MODELS:
        raise W2VError(f"config 'model' must be one of {', '.join(MODELS)}, got {config.model!r}")
    if not config.lr > 0:
        raise W2VError(f"config 'lr' must be positive, got {config.lr}")
    if not 0 < config.min_lr_ratio <= 1:
        raise W2VError(f"config 'min_lr_ratio' must be in (0, 1], got {config.min_lr_ratio}")
    if not config.sample >= 0:
        raise W2VError(f"config 'sample' must be 0 (off) or positive, got {config.sample}")
    if config.batch_size % config.group_size:
        raise W2VError(
            f"config 'batch_size' ({config.batch_size}) must be a multiple of "
            f"'group_size' ({config.group_size})"
        )


def load_config(path: Path | None, **overrides: Any) -> TrainConfig:
    """Defaults, then the TOML file's values, then the non-None overrides (command-line flags)."""
    values: dict[str, Any] = read_toml(path) if path is not None else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(values.get("sample"), int):
        values["sample"] = float(values["sample"])
    if isinstance(values.get("lr"), int):
        values["lr"] = float(values["lr"])
    return TrainConfig(**values)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise W2VError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise W2VError(f"config file {path} is not valid TOML: {e}") from None
    known = {f.name for f in fields(TrainConfig)}
    for key in data:
        if key not in known:
            raise W2VError(
                f"unknown key '{key}' in config file {path}; known keys: {', '.join(sorted(known))}"
            )
    return data


def config_from_json(text: str) -> TrainConfig:
    return TrainConfig(**json.loads(text))
