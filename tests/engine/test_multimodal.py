"""Images at any turn on a tiny Llava (real CLIP image processor, hub -hf layout)."""

import dataclasses

import pytest
import torch
from PIL import Image

from engine.backend import local_tokens
from engine.generation import GenerationSettings
from engine.loading import load_model
from engine.reply import ReplyOptions
from engine.session import ChatSession

GREEDY = GenerationSettings(temperature=0, max_new_tokens=6, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def llava(tiny_dirs):
    return load_model(str(tiny_dirs("llava")))


def picture(color):
    return Image.new("RGB", (64, 48), color)


def session_on(model, **options):
    return ChatSession(model, ReplyOptions(settings=GREEDY, **options))


def spy_inputs(session):
    """Record what each send puts in front of the model: (token ids, model inputs), as
    the generation request carries them to the token backend."""
    calls = []

    def recording(request, stop_event):
        calls.append((list(request.input_ids), request.model_inputs))
        return local_tokens(request, stop_event)

    session.backend = recording
    return calls


def drain(reply):
    for _ in reply:
        pass
    return reply


def image_tokens(llava, ids):
    return sum(1 for i in ids if i == llava.vision.image_token_id)


def test_local_llava_uses_bimedix2_format(llava):
    assert llava.card.family == "llava" and llava.card.multimodal
    assert llava.prompt_format.name == "llama3_llava" and llava.vision.tokens_per_image == 4


@pytest.mark.parametrize("first,second", [("What is in this scan?", "Is it normal?"),
                                          ("ماذا ترى في هذه الصورة؟", "هل هي طبيعية؟")])
def test_image_in_the_first_turn_then_text(llava, first, second):
    session = session_on(llava)
    calls = spy_inputs(session)
    drain(session.send(first, images=[picture("red")]))
    drain(session.send(second))
    for ids, inputs in calls:
        assert image_tokens(llava, ids) == 4  # the image stays with its turn
        assert inputs["pixel_values"].shape[0] == 1
    assert session.messages[0].images and not session.messages[2].images


def test_image_arrives_in_the_third_turn_and_a_second_image_later(llava):
    session = session_on(llava)
    calls = spy_inputs(session)
    drain(session.send("I have chest pain."))
    drain(session.send("عندي أيضا سعال"))
    drain(session.send("Here is my X-ray.", images=[picture("white")]))
    drain(session.send("وهذه صورة أخرى", images=[picture("black")]))
    counts = [image_tokens(llava, ids) for ids, _ in calls]
    assert counts == [0, 0, 4, 8]
    assert "pixel_values" not in calls[0][1]
    pixels = calls[3][1]["pixel_values"]
    assert pixels.shape[0] == 2
    assert pixels[0].mean() > pixels[1].mean()  # white first, then black: prompt order
    text = llava.tokenizer.decode(calls[3][0])
    assert text.index("Here is my X-ray.") < text.rindex("وهذه صورة أخرى")


def test_two_images_in_one_turn(llava):
    session = session_on(llava)
    calls = spy_inputs(session)
    reply = drain(session.send("Compare these two scans.", images=[picture("red"), picture("blue")]))
    assert reply.finish_reason in ("done", "stop_string", "length")
    ids, inputs = calls[0]
    assert image_tokens(llava, ids) == 8 and inputs["pixel_values"].shape[0] == 2


def test_an_image_alone_is_a_valid_message(llava):
    reply = drain(session_on(llava).send("", images=[picture("green")]))
    assert reply.finish_reason in ("done", "stop_string", "length")


def test_regenerate_sends_the_image_again(llava):
    session = session_on(llava)
    calls = spy_inputs(session)
    drain(session.send("What is in this scan?", images=[picture("white")]))
    drain(session.regenerate())
    (first_ids, first), (ids, inputs) = calls
    assert image_tokens(llava, ids) == 4 and ids == first_ids
    assert torch.equal(inputs["pixel_values"], first["pixel_values"])
    assert len(session.messages) == 2 and session.messages[0].images


def test_typed_image_placeholder_is_not_an_image(llava):
    session = session_on(llava)
    calls = spy_inputs(session)
    drain(session.send("<image> <image> what is this?"))
    ids, inputs = calls[0]
    assert image_tokens(llava, ids) == 0 and inputs == {}


def test_history_fitting_drops_image_turns_whole(llava):
    session = session_on(dataclasses.replace(llava, context_window=GREEDY.max_new_tokens + 140),
                         system_prompt="Be brief.")
    calls = spy_inputs(session)
    drain(session.send("First scan, please look.", images=[picture("red")]))
    for index in range(8):
        reply = drain(session.send(f"Follow-up question {index} about the chest scan."))
    assert reply.dropped_turns > 0
    ids, inputs = calls[-1]
    kept_images = inputs.get("pixel_values", torch.empty(0)).shape[0]
    assert image_tokens(llava, ids) == 4 * kept_images  # placeholder and pixels dropped together
    assert kept_images == 0 and image_tokens(llava, calls[1][0]) == 4  # kept at first, then dropped


def test_four_bit_llava_keeps_the_vision_tower_in_16_bit(tiny_dirs):
    loaded = load_model(str(tiny_dirs("llava")), load_in_4bit=True)
    four_bit = {n for n, m in loaded.model.named_modules() if type(m).__name__ == "Linear4bit"}
    assert any("language_model" in n for n in four_bit)
    assert not any("vision_tower" in n or "multi_modal_projector" in n for n in four_bit)
    reply = drain(session_on(loaded).send("look", images=[picture("red")]))
    assert reply.finish_reason in ("done", "stop_string", "length")


def test_lora_adapter_on_the_language_model(tiny_dirs, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import LlavaForConditionalGeneration

    directory = tiny_dirs("llava")
    torch.manual_seed(0)
    base = LlavaForConditionalGeneration.from_pretrained(directory)
    config = LoraConfig(r=4, lora_alpha=32, init_lora_weights=False,
                        target_modules=r".*language_model.*\.(q_proj|v_proj)")
    get_peft_model(base, config).save_pretrained(tmp_path / "bimedix2-lora")
    loaded = load_model(str(directory), adapters=[str(tmp_path / "bimedix2-lora")])
    lora_layers = [n for n, _ in loaded.model.named_modules() if n.endswith("lora_A")]
    assert lora_layers and all("language_model" in n for n in lora_layers)
    session = session_on(loaded, adapter=loaded.default_adapter)
    calls = spy_inputs(session)
    drain(session.send("describe", images=[picture("red")]))
    with_adapter = calls[-1]
    assert loaded.adapters.current == "bimedix2-lora"  # the reply's own adapter was switched in
    with torch.inference_mode():
        ids = torch.tensor([with_adapter[0]])
        adapted = loaded.model(input_ids=ids, **with_adapter[1]).logits[0, -1]
        loaded.adapters.activate(None)
        plain = loaded.model(input_ids=ids, **with_adapter[1]).logits[0, -1]
    assert not torch.allclose(adapted, plain, atol=1e-4)


def test_an_image_token_added_as_ordinary_text_is_protected(tiny_dirs, tmp_path):
    import json
    import shutil

    directory = tmp_path / "llava-plain-image-token"
    shutil.copytree(tiny_dirs("llava"), directory)
    for name, key in (("tokenizer.json", "added_tokens"), ("tokenizer_config.json", "added_tokens_decoder")):
        data = json.loads((directory / name).read_text())
        entries = data[key] if isinstance(data[key], list) else data[key].values()
        for entry in entries:
            if entry["content"] == "<image>":
                entry["special"] = False
        (directory / name).write_text(json.dumps(data))
    loaded = load_model(str(directory))
    session = session_on(loaded)
    calls = spy_inputs(session)
    drain(session.send("what is <image> here?"))
    drain(session.send("and now", images=[picture("red")]))
    assert image_tokens(loaded, calls[0][0]) == 0
    assert image_tokens(loaded, calls[1][0]) == 4


def test_image_files_go_through_intake(llava, tmp_path):
    from engine.errors import UserFacingError

    picture("red").save(tmp_path / "scan.png")
    (tmp_path / "report.png").write_bytes(b"%PDF-1.7 not an image")
    session = session_on(llava)
    drain(session.send("look at this", images=[tmp_path / "scan.png"]))
    assert session.messages[0].images[0].kind == "png"
    with pytest.raises(UserFacingError) as caught:
        session.send("وهذا؟", images=[tmp_path / "report.png"])
    assert caught.value.code == "image_not_an_image"
    assert len(session.messages) == 2  # the bad file lost nothing
