"""`python -m train.sft --config train/configs/bimedix_qlora.yaml`: supervised fine-tuning of a
causal LM (BiMediX: QLoRA on Mixtral's attention, router and experts) on conversations.

Multi-GPU: `accelerate launch --config_file train/configs/accelerate_ddp.yaml -m train.sft ...`
(see train/README.md).
"""

from __future__ import annotations

import typer

from train.cli import CheckOption, ConfigOption, ResumeOption, main

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def sft(config: ConfigOption, resume: ResumeOption = None, check_data: CheckOption = False) -> None:
    """Train a LoRA/QLoRA adapter on text conversations; loss on the assistant turns only."""
    main(config, resume, check_data, multimodal=False)


if __name__ == "__main__":
    app()
