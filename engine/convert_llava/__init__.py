"""Convert an original LLaVA(-pp) ``llava_llama`` checkpoint to the HF Llava layout.

BiMediX2 was released twice: ``MBZUAI/BiMediX2-8B`` in the LLaVA codebase's layout
(``LlavaLlamaForCausalLM``, config ``model_type: "llava_llama"``) and ``MBZUAI/BiMediX2-8B-hf``
as a transformers ``LlavaForConditionalGeneration``. This module turns the first kind into the
second, with the safetensors keys in the transformers-4.x form the -hf hub checkpoint has::

    python -m engine.convert_llava SRC DST [--vision-tower DIR] [--dtype bfloat16|float16|float32]

or ``convert_llava_llama(src, dst, vision_tower=None, dtype=None)`` from Python.

Weights (LLaVA codebase name -> HF Llava name; ``KEY_PREFIXES`` in ``keys.py``)::

    model.embed_tokens.*                          -> language_model.model.embed_tokens.*
    model.layers.N.*                              -> language_model.model.layers.N.*
    model.norm.*                                  -> language_model.model.norm.*
    lm_head.*                                     -> language_model.lm_head.*
    model.mm_projector.0.*  (mlp2x_gelu Linear 1) -> multi_modal_projector.linear_1.*
    model.mm_projector.2.*  (mlp2x_gelu Linear 2) -> multi_modal_projector.linear_2.*
    model.vision_tower.vision_tower.vision_model.* -> vision_tower.vision_model.*

This is the mapping of transformers' ``models/llava/convert_llava_weights_to_hf.py``
(``KEYS_TO_MODIFY_MAPPING``; that script is not shipped in the 5.x wheels, so it is written
out here as exact prefixes instead of its chained substring replacements). Like it, we drop
the ``rotary_emb.inv_freq`` buffers older checkpoints saved (and CLIP's ``position_ids``),
which the model recomputes. Any other key is an error that lists it: nothing is silently
dropped. LLaVA only saves the CLIP tower inside the checkpoint when it was trained; otherwise
the tower is ``CLIPVisionModel.from_pretrained(mm_vision_tower)`` at run time, and here it is
read from ``--vision-tower DIR`` (a local copy of that hub repo: a full ``CLIPModel`` as
``openai/clip-vit-large-patch14-336`` ships, whose text half is ignored, or a
``CLIPVisionModel`` save), or from ``mm_vision_tower`` itself when that is a local directory.

Config: the Llama fields become ``text_config``; the CLIP tower's config becomes
``vision_config``; ``mm_vision_select_layer`` -> ``vision_feature_layer``;
``mm_vision_select_feature`` "patch" -> ``vision_feature_select_strategy`` "default" (CLS
dropped), "cls_patch" -> "full"; ``mm_projector_type`` "mlp2x_gelu" -> ``projector_hidden_act``
"gelu" (the only projector HF Llava has); ``image_seq_length`` = patches per image (+1 CLS
for "full"). LLaVA never had an image token in its vocabulary (it splices id -200 into the
ids), so ``<image>`` is added to the tokenizer as a special token and ``image_token_index`` is
its id; the new embedding and lm_head rows are the mean of the existing rows (transformers'
converter samples near that mean; the mean keeps the output deterministic). No pad token is
added: a pad token or chat template the tokenizer has is kept as it is.

``image_aspect_ratio: "pad"``: LLaVA pads every image to a square with the CLIP mean colour
(``expand2square``) before the CLIP processor resizes the short side and centre-crops, so the
whole image is seen. HF's ``CLIPImageProcessor`` has no such step and would crop the sides of
a non-square image. transformers 5 has ``LlavaImageProcessor`` (a CLIP processor plus
``do_pad``, which pads to square with ``int(mean * 255)`` centred exactly like
``expand2square``), so for "pad" the written ``preprocessor_config.json`` names it with
``do_pad: true``; other aspect ratios keep the plain ``CLIPImageProcessor``. "anyres" (LLaVA-NeXT)
is not a Llava checkpoint and is refused.

Modules: ``convert`` (the conversion), ``source`` (reading and checking the llava_llama config),
``keys`` (key mapping), ``weights`` (reading and writing weights), ``tower`` (the CLIP vision
tower and its image processor), ``configs`` (the HF text/vision/Llava configs), ``tokenizer``
(adding ``<image>``), ``cli`` (the typer command ``python -m engine.convert_llava`` runs).
"""

from __future__ import annotations

from engine.convert_llava.cli import DType, app, main
from engine.convert_llava.common import ConversionError
from engine.convert_llava.convert import convert_llava_llama
from engine.convert_llava.keys import (
    DROPPED_BUFFERS,
    EMBED_KEY,
    KEY_PREFIXES,
    LM_HEAD_KEY,
    TOWER_BARE,
    TOWER_IGNORED,
    TOWER_PREFIX,
    map_key,
)
from engine.convert_llava.source import SELECT_FEATURE, SOURCE_MODEL_TYPES
from engine.convert_llava.tokenizer import IMAGE_TOKEN
from engine.convert_llava.tower import KNOWN_TOWERS
from engine.convert_llava.weights import DEFAULT_MAX_SHARD_SIZE, DTYPES, parse_size

__all__ = [
    "DEFAULT_MAX_SHARD_SIZE",
    "DROPPED_BUFFERS",
    "DTYPES",
    "EMBED_KEY",
    "IMAGE_TOKEN",
    "KEY_PREFIXES",
    "KNOWN_TOWERS",
    "LM_HEAD_KEY",
    "SELECT_FEATURE",
    "SOURCE_MODEL_TYPES",
    "TOWER_BARE",
    "TOWER_IGNORED",
    "TOWER_PREFIX",
    "ConversionError",
    "DType",
    "app",
    "convert_llava_llama",
    "main",
    "map_key",
    "parse_size",
]
