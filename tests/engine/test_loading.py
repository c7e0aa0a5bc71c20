"""Loading local checkpoints (tiny models in the real hub layouts) and switching adapters."""

import json

import pytest
import torch
from peft import LoraConfig, get_peft_model

from engine.adapters import ADAPTER_META_FILE
from engine.cards import CARDS, resolve_card
from engine.generation import GenerationSettings, generate_reply
from engine.loading import load_model
from engine.reply import ReplyOptions
from engine.session import ChatSession

GREEDY = GenerationSettings(temperature=0, max_new_tokens=8, repetition_penalty=1.0)


def make_adapter(model_dir, out, seed, targets=("q_proj", "v_proj")):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    # init_lora_weights=False: random B matrices, so the adapter really changes outputs
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=32, target_modules=list(targets),
                                                 init_lora_weights=False))
    peft_model.save_pretrained(out)
    return out


def logits(loaded, text="hello شكرا"):
    ids = loaded.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return loaded.model(ids).logits[0, -1]


@pytest.mark.parametrize("family,expected_format", [("mixtral", "transcript"), ("llama", "chat_template"),
                                                    ("gemma", "chat_template")])
def test_local_checkpoints_load_and_chat(tiny_dirs, family, expected_format):
    directory = tiny_dirs(family)
    card = resolve_card(str(directory))
    assert card.family == ("mixtral" if family == "mixtral" else "causal")
    loaded = load_model(str(directory))
    assert loaded.prompt_format.name == expected_format
    assert not loaded.card.medical and "cannot tell" in loaded.card.notice
    reply = ChatSession(loaded, ReplyOptions(settings=GREEDY)).send("عندي صداع")
    assert reply.language == "ar"
    assert sum(1 for _ in reply) >= 1 and reply.finish_reason in ("done", "stop_string", "length")


def test_named_format_overrides_the_checkpoint(tiny_dirs):
    loaded = load_model(str(tiny_dirs("mixtral")), prompt_format="vicuna")
    assert loaded.prompt_format.name == "vicuna"
    assert loaded.tokenizer.convert_tokens_to_ids("</s>") in loaded.stop_token_ids


def test_adapters_load_list_and_switch_without_reloading(tiny_dirs, tmp_path):
    directory = tiny_dirs("llama")
    first = make_adapter(directory, tmp_path / "first", seed=1)
    second = make_adapter(directory, tmp_path / "second", seed=2)
    base = load_model(str(directory))
    base_logits = logits(base)
    loaded = load_model(str(directory), adapters=[str(first), str(second)])
    adapters = loaded.adapters
    assert adapters.names() == ["first", "second"] and loaded.default_adapter == "second"
    assert adapters.current == "second"
    base_weights = {n: p.data_ptr() for n, p in loaded.model.named_parameters() if "lora" not in n}
    second_logits = logits(loaded)
    adapters.activate("first")
    first_logits = logits(loaded)
    adapters.activate(None)
    none_logits = logits(loaded)
    assert adapters.current is None and loaded.default_adapter == "second"  # the weights' state is not the default
    adapters.activate("second")
    assert torch.allclose(logits(loaded), second_logits)
    assert not torch.allclose(first_logits, second_logits, atol=1e-4)
    assert not torch.allclose(first_logits, base_logits, atol=1e-4)
    assert torch.allclose(none_logits, base_logits, atol=1e-5)  # "no adapter" is the exact base
    # switching never reloaded or copied the base weights
    assert base_weights == {n: p.data_ptr() for n, p in loaded.model.named_parameters() if "lora" not in n}
    with pytest.raises(KeyError, match="third"):
        adapters.activate("third")


def test_adapter_changes_generation_and_names_its_format(tiny_dirs, tmp_path):
    directory = tiny_dirs("mixtral")
    adapter = make_adapter(directory, tmp_path / "bimedix-lora", seed=3, targets=("q_proj", "k_proj", "v_proj"))
    (adapter / ADAPTER_META_FILE).write_text(json.dumps({"prompt_format": "vicuna"}))
    loaded = load_model(str(directory), adapters=[str(adapter)])
    assert loaded.prompt_format.name == "vicuna"  # taken from the adapter
    ids = loaded.tokenizer("USER: hello ASSISTANT:")["input_ids"]
    with_adapter = generate_reply(loaded.model, loaded.tokenizer, ids, GREEDY)
    loaded.adapters.activate(None)
    without = generate_reply(loaded.model, loaded.tokenizer, ids, GREEDY)
    assert with_adapter != without


def test_bad_adapter_and_model_paths(tiny_dirs, tmp_path):
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        load_model(str(tiny_dirs("gemma")), adapters=[str(tmp_path)])
    with pytest.raises(ValueError, match="neither a model card"):
        resolve_card(str(tmp_path / "missing"))


def test_cards_cover_the_papers_models():
    assert {"bimedix-bi", "bimedix-ara", "bimedix-eng", "bimedix2-8b", "preview"} <= set(CARDS)
    assert CARDS["bimedix-bi"].prompt_format == "vicuna" and CARDS["bimedix-bi"].load_in_4bit
    assert CARDS["bimedix2-8b"].prompt_format == "llama3_llava" and CARDS["bimedix2-8b"].multimodal
    assert not CARDS["preview"].medical and "not a medical model" in CARDS["preview"].notice


def test_mixtral_loads_in_4bit_through_the_engine_and_chats(tiny_dirs, tmp_path):
    from engine.quantization import is_4bit_everywhere

    directory = tiny_dirs("mixtral")
    adapter = make_adapter(directory, tmp_path / "qlora", seed=4, targets=("q_proj", "v_proj"))
    loaded = load_model(str(directory), adapters=[str(adapter)], load_in_4bit=True, prompt_format="vicuna")
    assert loaded.load_in_4bit
    assert is_4bit_everywhere(loaded.adapters.model, min_elements=64) == []
    experts = [m for m in loaded.model.modules() if type(m).__name__ == "Experts4bit"]
    assert len(experts) == 2  # one per layer
    reply = ChatSession(loaded, ReplyOptions(settings=GREEDY, adapter=loaded.default_adapter)).send("I have a fever")
    assert sum(1 for _ in reply) >= 1
