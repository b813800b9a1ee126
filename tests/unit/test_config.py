"""RunConfig round trips: dataclass <-> dict <-> config.json <-> CLI flags; validation."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from engine.cli import build_parser, config_from_args, config_to_args
from engine.config import ConfigError, RunConfig, config_fields


def _non_default() -> RunConfig:
    return RunConfig(
        data="a.csv",
        text_column="review",
        label_column="stars",
        backbone="gpt2",
        strategy="full",
        epochs=2.5,
        learning_rate=3e-4,
        batch_size=8,
        max_length=64,
        freeze_embeddings=True,
        lr_scheduler="cosine",
        seed=7,
        max_rows=500,
        run_name="mine",
        time_budget_seconds=120,
        lora_target_modules="query,key",
    )


def test_every_field_has_help_and_group():
    for f in fields(RunConfig):
        assert f.metadata.get("help"), f.name
        assert f.metadata.get("group") in {"data", "model", "training"}, f.name


def test_json_file_round_trip(tmp_path):
    cfg = _non_default()
    cfg.save(tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text())["backbone"] == "gpt2"
    assert RunConfig.load(tmp_path) == cfg  # a run folder works as well as the file


def test_cli_flags_round_trip():
    cfg = _non_default()
    args = build_parser().parse_args(["train", *config_to_args(cfg)])
    assert config_from_args(args) == cfg


def test_cli_defaults_equal_dataclass_defaults():
    args = build_parser().parse_args(["train", "--data", "x.csv"])
    assert config_from_args(args) == RunConfig(data="x.csv")


def test_cli_config_file_then_flags_override(tmp_path):
    _non_default().save(tmp_path / "config.json")
    args = build_parser().parse_args(["train", "--config", str(tmp_path), "--epochs", "1"])
    cfg = config_from_args(args)
    assert cfg.epochs == 1 and cfg.backbone == "gpt2"


def test_from_dict_coerces_strings_like_a_form():
    cfg = RunConfig.from_dict(
        {"epochs": "2", "batch_size": "32", "freeze_embeddings": "true", "learning_rate": "1e-4"}
    )
    assert (cfg.epochs, cfg.batch_size, cfg.freeze_embeddings, cfg.learning_rate) == (
        2.0,
        32,
        True,
        1e-4,
    )


@pytest.mark.parametrize(
    "values, words",
    [
        ({"strategy": "magic"}, "strategy must be one of"),
        ({"batch_size": 0}, "batch-size must be at least 1"),
        ({"batch_size": "many"}, "batch-size expects a whole number"),
        ({"epochs": 1000}, "epochs must be at most"),
        ({"validation_fraction": 0.5, "test_fraction": 0.45}, "too few training rows"),
    ],
)
def test_bad_values_give_human_errors(values, words):
    with pytest.raises(ConfigError, match=words):
        RunConfig.from_dict(values)


def test_unknown_key_only_rejected_when_strict():
    assert RunConfig.from_dict({"nonsense": 1}).backbone == "minilm-l6"
    with pytest.raises(ConfigError, match="nonsense"):
        RunConfig.from_dict({"nonsense": 1}, strict=True)


def test_load_bad_file(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a readable configuration"):
        RunConfig.load(tmp_path)
    with pytest.raises(ConfigError, match="No configuration file"):
        RunConfig.load(tmp_path / "missing.json")


def test_advanced_filter():
    basic = {f.name for f in config_fields(advanced=False)}
    assert {"backbone", "strategy", "epochs", "learning_rate", "batch_size"} <= basic
    assert "lora_r" not in basic
