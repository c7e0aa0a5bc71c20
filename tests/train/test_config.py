"""Every YAML in train/configs parses: our training configs into their dataclasses, the
accelerate configs through accelerate's own config classes and launcher."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from train.config import ConfigError, load_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "train" / "configs"
ACCELERATE_CONFIGS = sorted(CONFIG_DIR.glob("accelerate_*.yaml"))
TRAINING_CONFIGS = sorted(set(CONFIG_DIR.glob("*.yaml")) - set(ACCELERATE_CONFIGS))


def test_the_shipped_configs_are_all_covered():
    names = {path.name for path in CONFIG_DIR.glob("*.yaml")}
    assert {"bimedix_qlora.yaml", "bimedix2_stage1.yaml", "bimedix2_stage2.yaml",
            "accelerate_deepspeed_zero3.yaml", "accelerate_fsdp.yaml"} <= names
    assert len(TRAINING_CONFIGS) + len(ACCELERATE_CONFIGS) == len(names)


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=lambda p: p.name)
def test_training_configs_parse_into_their_dataclasses(path):
    from transformers import TrainingArguments

    config = load_config(path)
    assert isinstance(config.training, TrainingArguments)
    assert isinstance(config.training.learning_rate, float) and config.training.output_dir
    assert config.data.sources and config.model.base


def test_the_paper_settings():
    qlora = load_config(CONFIG_DIR / "bimedix_qlora.yaml")
    assert (qlora.lora.r, qlora.lora.alpha, qlora.model.load_in_4bit) == (128, 64, True)
    assert {"q_proj", "k_proj", "v_proj", "gate"} <= set(qlora.lora.target_modules)
    assert set(qlora.lora.target_parameters) == {"experts.gate_up_proj", "experts.down_proj"}
    assert qlora.data.language_ratio == {"ar": 1.0, "en": 2.0} and qlora.model.prompt_format == "vicuna"
    assert qlora.training.lr_scheduler_type.value == "cosine" and qlora.training.activation_checkpointing
    stage1 = load_config(CONFIG_DIR / "bimedix2_stage1.yaml")
    assert stage1.training.learning_rate == 1e-3 and stage1.lora.target_modules == []
    assert stage1.training.projector_learning_rate is None  # the projector is all that trains: learning_rate
    assert stage1.lora.modules_to_save == ["multi_modal_projector"]
    stage2 = load_config(CONFIG_DIR / "bimedix2_stage2.yaml")
    # BiMediX2's scripts/stage2_train.sh: --learning_rate 2e-4 (LoRA), --mm_projector_lr 2e-5.
    assert (stage2.lora.r, stage2.lora.alpha, stage2.training.learning_rate) == (8, 16, 2e-4)
    assert stage2.training.projector_learning_rate == 2e-5
    assert stage2.lora.modules_to_save == ["multi_modal_projector"]
    assert stage2.model.start_from_adapter == stage1.training.output_dir


def _write(tmp_path, data) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


BASE = {"model": {"base": "some/model"}, "data": {"sources": [{"path": "a.jsonl"}]},
        "training": {"output_dir": "out"}}


@pytest.mark.parametrize("change, message", [
    ({"model": {"base": "m", "prompt_fromat": "vicuna"}}, "unknown option(s) prompt_fromat"),
    ({"extra": {}}, "unknown section(s) extra"),
    ({"model": {"base": "m", "prompt_format": "alpaca"}}, "model.prompt_format 'alpaca'"),
    ({"data": {"sources": [{"path": "a", "language": "fr"}]}}, "language 'fr'"),
    ({"data": {"sources": []}}, "data.sources is empty"),
    ({"data": {"sources": [{"path": "a"}], "language_ratio": {"ar": 1}}}, "language_ratio"),
    ({"lora": {"dropout": 0.1, "target_modules": ["q_proj", "gate"]}}, "lora.dropout must be 0"),
    ({"training": {"learning_rate": 1e-3}}, "output_dir is required"),
    ({"training": {"output_dir": "o", "no_such_argument": 1}}, "unknown option(s) no_such_argument"),
    ({"model": {}}, "model"),
])
def test_bad_configs_name_the_option_at_fault(tmp_path, change, message):
    with pytest.raises(ConfigError) as error:
        load_config(_write(tmp_path, BASE | change))
    assert message in str(error.value) and str(tmp_path) in str(error.value)


def test_numbers_written_as_yaml_strings_become_numbers(tmp_path):
    config = load_config(_write(tmp_path, BASE | {"training": {"output_dir": "o", "learning_rate": "1e-3"},
                                                  "lora": {"r": "16"}}))
    assert config.training.learning_rate == 1e-3 and config.lora.r == 16


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_accelerate_configs_load_and_every_key_is_a_launch_option(path):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    config = load_config_from_file(str(path))  # accelerate's own class: unknown keys raise
    assert isinstance(config, ClusterConfig) and config.num_processes > 1
    parser = launch_command_parser()
    options = set(parser._option_string_actions)
    # Keys the launcher does not know would be ignored silently: all must be real options.
    for key in [*config.deepspeed_config, *config.fsdp_config]:
        assert f"--{key}" in options, key
    args = parser.parse_args(["--config_file", str(path), "-m", "train.sft", "--config", "x.yaml"])
    args = _validate_launch_command(args)[0]  # the config file's values, as the launcher reads them
    assert args.mixed_precision == "bf16" and args.num_processes == config.num_processes
    assert args.module and args.training_script == "train.sft"


def test_the_zero3_and_fsdp_configs_shard_what_they_say():
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    parser = launch_command_parser()

    def launch_args(name):
        args = parser.parse_args(["--config_file", str(CONFIG_DIR / name), "-m", "train.lmm"])
        return _validate_launch_command(args)[0]

    zero3 = launch_args("accelerate_deepspeed_zero3.yaml")
    assert zero3.use_deepspeed and int(zero3.zero_stage) == 3
    fsdp = launch_args("accelerate_fsdp.yaml")
    env = prepare_multi_gpu_env(fsdp)  # the environment accelerate hands to each process
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_SHARDING_STRATEGY"] == "FULL_SHARD"
    assert env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
    assert "LlamaDecoderLayer" in env["FSDP_TRANSFORMER_CLS_TO_WRAP"].split(",")
    assert launch_args("accelerate_ddp.yaml").multi_gpu
