"""What only a model that fails can show: a failure after the stream began is one error event,
then [DONE]. The server runs in this process (uvicorn on a real socket) so that the model's
generate can be made to fail after a few tokens."""

from __future__ import annotations

import json
import threading
import time

import httpx
import torch
import uvicorn

from engine.admission import Admission
from engine.loading import load_model
from engine.server import create_app
from evaluate.servers import free_port


def test_a_failure_after_the_stream_began_is_one_error_event_then_done(tiny_dirs):
    loaded = load_model(str(tiny_dirs("llama")))

    def failing_generate(**kwargs):  # three tokens, then the device fails
        streamer = kwargs["streamer"]
        streamer.put(kwargs["input_ids"])
        for token in loaded.tokenizer("hello doctor again", add_special_tokens=False)["input_ids"][:3]:
            streamer.put(torch.tensor([token]))
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    loaded.model.generate = failing_generate
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app({"tiny": loaded}, Admission(4)), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        body = {"model": "tiny", "messages": [{"role": "user", "content": "hello"}], "stream": True,
                "stream_options": {"include_usage": True}, "max_tokens": 20}
        with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=30) as response:
            assert response.status_code == 200
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        last = json.loads(events[-2])
        assert last["error"]["type"] == "server_error" and last["error"]["code"] == "generation_failed"
        assert "RuntimeError" in last["error"]["message"]
        parsed = [json.loads(e) for e in events[:-2]]
        assert parsed[0]["choices"][0]["delta"]["role"] == "assistant"
        assert all("error" not in e and e.get("choices") for e in parsed)  # no usage chunk after a failure
        whole = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={**body, "stream": False}, timeout=30)
        assert whole.status_code == 500 and whole.json()["error"]["code"] == "generation_failed"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
