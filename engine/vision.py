"""Images for a Llava model: pixel values, and one image placeholder expanded per image.

The prompt formats put one `<image>` placeholder per image; the encoder turns template
placeholders (never typed ones) into the image token id. Llava then needs as many image
tokens as the vision tower yields features, which we expand here ourselves because we
encode prompts ourselves (the processor's own text path would also parse user text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

# Modules a 4-bit load leaves in 16-bit: the vision tower and projector are small next to
# the language model and quantizing them costs image understanding for little memory.
VISION_MODULES = (".*vision_tower", ".*multi_modal_projector")


@dataclass(frozen=True)
class VisionInputs:
    image_processor: object
    image_token_id: int
    tokens_per_image: int

    def expand(self, input_ids: Sequence[int]) -> list[int]:
        """Each image token becomes `tokens_per_image` image tokens."""
        out: list[int] = []
        for token in input_ids:
            out.extend([token] * self.tokens_per_image if token == self.image_token_id else [token])
        return out

    def model_inputs(self, images: Sequence, model) -> dict:
        """`pixel_values` for the images in prompt order (empty dict for none)."""
        if not images:
            return {}
        pixels = self.image_processor(list(images), return_tensors="pt")["pixel_values"]
        # Kept on the CPU: a generation request may be pickled to a GPU worker, which moves
        # it to the model's device.
        return {"pixel_values": pixels.to(dtype=_vision_dtype(model))}


def _vision_dtype(model) -> torch.dtype:
    # By name, so it works whatever wraps the Llava (PEFT, accelerate hooks).
    return next(p.dtype for n, p in model.named_parameters() if "vision_tower" in n)


def tokens_per_image(config) -> int:
    """Vision features per image as Llava uses them (CLIP: patches, plus CLS for "full")."""
    vision = config.vision_config
    patches = (vision.image_size // vision.patch_size) ** 2
    return patches + (1 if config.vision_feature_select_strategy == "full" else 0)


def vision_inputs_for(processor, config) -> VisionInputs:
    protect_image_token(processor.tokenizer, config.image_token_id)
    return VisionInputs(processor.image_processor, config.image_token_id, tokens_per_image(config))


def protect_image_token(tokenizer, image_token_id: int) -> None:
    """Make sure the image placeholder is a *special* token.

    Some checkpoints add `<image>` as an ordinary added token; tokenizers match those even
    with `split_special_tokens=True`, so a user typing "<image>" would create a phantom
    image. Marked special, it is recognised only where the prompt format puts it.
    """
    from transformers import AddedToken

    token = tokenizer.added_tokens_decoder.get(image_token_id)
    if token is not None and not token.special:
        tokenizer.add_tokens([AddedToken(str(token), special=True, normalized=False)], special_tokens=True)
