"""The command line shared by `python -m train.sft` and `python -m train.lmm`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from train.config import ConfigError, load_config
from train.data import DataError

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="training config (YAML), e.g. train/configs/bimedix_qlora.yaml",
                                            exists=True, dir_okay=False)]
ResumeOption = Annotated[Optional[str], typer.Option(
    help="resume from a checkpoint: 'last' (the newest in output_dir, if any) or a checkpoint directory; "
         "default: training.resume_from_checkpoint of the config")]
CheckOption = Annotated[bool, typer.Option("--check-data", help="validate, mix and tokenize the data, print the report, and stop")]


def main(config_path: Path, resume: str | None, check_data: bool, multimodal: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(config_path)
        if check_data:
            _check_data(config, multimodal)
            return
        from train.pipeline import run

        result = run(config, multimodal, resume)
    except (ConfigError, DataError, OSError) as error:  # OSError: a base model that cannot be found
        sys.stderr.write(f"error: {error}\n")
        raise typer.Exit(2) from None
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    evals = [entry["eval_loss"] for entry in result.log_history if "eval_loss" in entry]
    summary = f"adapter saved to {result.output_dir}"
    if losses:
        summary += f"; train loss {losses[0]:.4f} -> {losses[-1]:.4f}"
    if evals:
        summary += f"; eval loss {evals[-1]:.4f}"
    typer.echo(summary)


def _check_data(config, multimodal: bool) -> None:
    from train.pipeline import prepare_data

    data, _ = prepare_data(config.data, config.model, multimodal)
    typer.echo(f"{data.mix}\ntraining samples: {len(data.train)} ({data.skipped})")
    if data.eval is not None:
        typer.echo(f"eval samples: {len(data.eval)} ({data.eval_skipped})")
