"""`python -m train.lmm --config train/configs/bimedix2_stage1.yaml` (then `..._stage2.yaml`):
the two BiMediX2 stages on a Llava model, one script.

- Stage 1: only the multimodal projector trains (lr 1e-3), aligning image features to the LM.
- Stage 2: starts from stage 1's projector; LoRA (r=8, alpha=16) on the language model and the
  projector train together, each at its own learning rate (LoRA 2e-4, projector 2e-5, as
  BiMediX2's released script: `training.projector_learning_rate`).
Each stage saves a PEFT adapter directory the engine loads (`--adapter DIR`).
"""

from __future__ import annotations

import typer

from train.cli import CheckOption, ConfigOption, ResumeOption, main

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def lmm(config: ConfigOption, resume: ResumeOption = None, check_data: CheckOption = False) -> None:
    """Train one LMM stage on image and text conversations; loss on the assistant turns only."""
    main(config, resume, check_data, multimodal=True)


if __name__ == "__main__":
    app()
