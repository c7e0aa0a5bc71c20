"""``python -m engine.tiny_models --family mixtral --out DIR [--seed N]``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from engine.tiny_models import FAMILIES, build_tiny_model

# typer renders an Enum as a choice list in --help and rejects any other value.
Family = Enum("Family", {name: name for name in FAMILIES}, type=str)

app = typer.Typer(add_completion=False, help="Tiny random stand-ins for the hub checkpoints.")


@app.command()
def main(
    family: Annotated[Family, typer.Option("--family", help="which hub architecture to imitate")],
    out: Annotated[Path, typer.Option("--out", help="directory to write the checkpoint into")],
    seed: Annotated[int, typer.Option("--seed", help="seed for the random weights")] = 0,
) -> None:
    """Write a tiny random model with the hub checkpoint's file names and key layout."""
    path = build_tiny_model(family.value, out, seed=seed)
    typer.echo(str(path))


if __name__ == "__main__":
    app()
