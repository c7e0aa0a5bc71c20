"""train.assemble: a language model + a CLIP tower + a new projector -> one HF Llava the engine loads."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, CLIPImageProcessor, CLIPVisionModel, LlavaConfig

from engine.images import load_image
from tests.train.conftest import FIXTURES, greedy_reply
from train.assemble import assemble_llava


def _tiny_clip(llava_dir, out):
    """A CLIP vision tower repo: weights plus preprocessor_config.json, like openai/clip-vit-*."""
    config = LlavaConfig.from_pretrained(llava_dir).vision_config
    torch.manual_seed(0)
    CLIPVisionModel(config).save_pretrained(out)
    CLIPImageProcessor.from_pretrained(llava_dir).save_pretrained(out)
    return out


def test_assembled_llava_keeps_the_language_model_and_serves_images(tiny_dirs, tmp_path):
    from engine.loading import load_model

    llama_dir = tiny_dirs("llama")
    tower = _tiny_clip(tiny_dirs("llava"), tmp_path / "clip")
    out = assemble_llava(str(llama_dir), str(tower), tmp_path / "llava", dtype=torch.float32)

    loaded = load_model(str(out), device="cpu")
    assert loaded.card.family == "llava" and loaded.prompt_format.name == "llama3_llava"
    assert loaded.vision.tokens_per_image == 4  # 30x30 pixels in 15x15 patches, CLS dropped
    image_token = loaded.tokenizer.added_tokens_decoder[loaded.vision.image_token_id]
    assert str(image_token) == "<image>" and image_token.special

    # Text-only, the assembled model is exactly the language model it was made from.
    llama = AutoModelForCausalLM.from_pretrained(llama_dir, dtype=torch.float32)
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        expected = llama(input_ids=ids).logits
        got = loaded.model(input_ids=ids).logits[..., :expected.shape[-1]]
    torch.testing.assert_close(got, expected)

    reply = greedy_reply(loaded, "What does this X-ray show?", (load_image(FIXTURES / "images" / "chest.png").image,))
    assert len(reply) == 8
