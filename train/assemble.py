"""`python -m train.assemble`: the starting point of LMM stage 1, an HF Llava made of a language
model, a CLIP vision tower and a new (untrained) projector.

BiMediX2 starts from Llama-3.1-8B-Instruct and CLIP ViT-L/14-336 (LLaVA's `--vision_tower`,
`--mm_projector_type mlp2x_gelu`, `--mm_vision_select_layer -2`). The LLaVA codebase builds
that model inside its training script; transformers needs it as one checkpoint, which is
what this writes:

    python -m train.assemble --language-model meta-llama/Llama-3.1-8B-Instruct \\
        --vision-tower openai/clip-vit-large-patch14-336 --out outputs/llava-llama3.1-8b-clip336

The language model and the tower keep their weights exactly; `<image>` becomes a special
token (its embedding row the mean of the others, as transformers' `mean_resizing` does);
the projector is HF Llava's two-layer GELU MLP with PyTorch's default initialization.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer

from engine.formats import IMAGE_PLACEHOLDER

app = typer.Typer(add_completion=False, help=__doc__)


def _tokenizer_with_image_token(language_model: str):
    from transformers import AddedToken, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(language_model)
    tokenizer.add_tokens([AddedToken(IMAGE_PLACEHOLDER, special=True, normalized=False)], special_tokens=True)
    return tokenizer


def _llava_config(text_config, vision_config, image_token_id: int, feature_layer: int):
    from transformers import LlavaConfig

    patches = (vision_config.image_size // vision_config.patch_size) ** 2
    return LlavaConfig(text_config=text_config, vision_config=vision_config, image_token_index=image_token_id,
                       image_seq_length=patches, projector_hidden_act="gelu", vision_feature_layer=feature_layer,
                       vision_feature_select_strategy="default", tie_word_embeddings=False)


def assemble_llava(language_model: str, vision_tower: str, out: str | Path, dtype: torch.dtype = torch.bfloat16,
                   vision_feature_layer: int = -2, seed: int = 0) -> Path:
    """Write the Llava checkpoint and its processor to `out`; returns `out`."""
    from accelerate import init_empty_weights
    from transformers import (AutoModelForCausalLM, CLIPImageProcessor, CLIPVisionModel,
                              LlavaForConditionalGeneration, LlavaProcessor)
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

    tokenizer = _tokenizer_with_image_token(language_model)
    text = AutoModelForCausalLM.from_pretrained(language_model, dtype=dtype)
    text.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    vision = CLIPVisionModel.from_pretrained(vision_tower, dtype=dtype)
    config = _llava_config(text.config, vision.config, tokenizer.convert_tokens_to_ids(IMAGE_PLACEHOLDER),
                           vision_feature_layer)
    with init_empty_weights():  # every part is replaced below: allocate nothing twice
        model = LlavaForConditionalGeneration(config)
    model.model.language_model, model.lm_head = text.model, text.lm_head
    model.model.vision_tower = vision
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.model.multi_modal_projector = LlavaMultiModalProjector(config).to(dtype)
    model.generation_config = text.generation_config
    out = Path(out)
    model.save_pretrained(out)
    processor = LlavaProcessor(image_processor=CLIPImageProcessor.from_pretrained(vision_tower), tokenizer=tokenizer,
                               patch_size=vision.config.patch_size, vision_feature_select_strategy="default",
                               num_additional_image_tokens=1, image_token=IMAGE_PLACEHOLDER)
    processor.save_pretrained(out)
    return out


@app.command()
def assemble(
    language_model: Annotated[str, typer.Option(help="hub id or directory of the causal LM (Llama-3.1-8B-Instruct)")],
    vision_tower: Annotated[str, typer.Option(help="hub id or directory of the CLIP model (clip-vit-large-patch14-336)")],
    out: Annotated[Path, typer.Option(help="directory for the assembled Llava checkpoint")],
    dtype: Annotated[str, typer.Option(help="weight dtype: bfloat16, float16 or float32")] = "bfloat16",
    vision_feature_layer: Annotated[int, typer.Option(help="CLIP layer whose features the projector reads")] = -2,
    seed: Annotated[int, typer.Option(help="seed of the projector's initialization")] = 0,
) -> None:
    """Assemble LM + vision tower + new projector into one HF Llava checkpoint."""
    if dtype not in ("bfloat16", "float16", "float32"):
        raise typer.BadParameter("--dtype must be bfloat16, float16 or float32")
    typer.echo(str(assemble_llava(language_model, vision_tower, out, getattr(torch, dtype), vision_feature_layer, seed)))


if __name__ == "__main__":
    app()
