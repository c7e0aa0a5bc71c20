"""The command line: ``python -m engine.convert_llava SRC DST [--vision-tower DIR] [--dtype ...]``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine.convert_llava.common import ConversionError
from engine.convert_llava.convert import convert_llava_llama
from engine.convert_llava.weights import DEFAULT_MAX_SHARD_SIZE


class DType(str, Enum):
    bfloat16 = "bfloat16"
    float16 = "float16"
    float32 = "float32"


app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Convert an original LLaVA llava_llama checkpoint (MBZUAI/BiMediX2-8B) to HF Llava.")


@app.command()
def main(
    src: Annotated[Path, typer.Argument(help="the llava_llama checkpoint directory (config.json + weights + tokenizer)")],
    dst: Annotated[Path, typer.Argument(help="output directory for the HF LlavaForConditionalGeneration checkpoint")],
    vision_tower: Annotated[Optional[Path], typer.Option(
        "--vision-tower", help="local copy of the CLIP repo named by mm_vision_tower (for its weights when the "
                               "checkpoint lacks them, and its config and preprocessor_config.json)")] = None,
    dtype: Annotated[Optional[DType], typer.Option("--dtype", help="weight dtype; default: the source config's")] = None,
    max_shard_size: Annotated[str, typer.Option("--max-shard-size", help="largest safetensors shard, e.g. 5GB")]
    = DEFAULT_MAX_SHARD_SIZE,
) -> None:
    """Convert SRC (LLaVA codebase layout) into DST (transformers Llava layout, like BiMediX2-8B-hf)."""
    try:
        out = convert_llava_llama(src, dst, vision_tower, dtype.value if dtype else None, max_shard_size)
    except ConversionError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(out))
