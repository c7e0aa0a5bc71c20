"""A bare Gradio client speaking the queue protocol the browser speaks (`/config`,
`/gradio_api/queue/join`, `/gradio_api/queue/data`), so a test can send what a script
would: any value for any input of any event, State inputs included, and the events a
`gr.render` adds (found in the render's own config, as the browser finds them)."""

from __future__ import annotations

import json
import secrets

import httpx


class QueueSession:
    """One Gradio session (one browser tab) of a served Blocks app, with its own cookie."""

    def __init__(self, base_url: str):
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.session_hash = secrets.token_hex(6)
        config = self.http.get("/config").json()
        self.components = {c["id"]: c for c in config["components"]}
        self.dependencies = {d["id"]: d for d in config["dependencies"]}
        self._rendered: dict[str, set[int]] = {}

    def close(self) -> None:
        self.http.close()

    def element(self, elem_id: str) -> int:
        """The component id of the element with this elem_id."""
        found = [i for i, c in self.components.items() if c.get("props", {}).get("elem_id") == elem_id]
        assert found, f"no element #{elem_id}"
        return found[0]

    def event_of(self, elem_id: str, trigger: str = "click") -> dict:
        target = self.element(elem_id)
        found = [d for d in self.dependencies.values() if [target, trigger] in d["targets"]]
        assert found, f"no {trigger} event on #{elem_id}"
        return found[0]

    def inputs_of(self, dependency: dict) -> list[dict]:
        return [self.components[i] for i in dependency["inputs"]]

    def call(self, dependency: dict, data: list) -> dict:
        """Run one event with `data` as its inputs; returns the `process_completed` output,
        after taking in the components and events a render sent with it."""
        joined = self.http.post("/gradio_api/queue/join", json={
            "data": data, "fn_index": dependency["id"], "session_hash": self.session_hash,
            "event_data": None, "trigger_id": dependency["targets"][0][0] if dependency["targets"] else None})
        assert joined.status_code == 200, joined.text
        output = self._completed(joined.json()["event_id"])
        render = output.get("render_config")
        if render:  # a render replaces what the last one drew, events included
            for kind, ids in self._rendered.items():
                for rendered in ids:
                    getattr(self, kind).pop(rendered, None)
            self._rendered = {"components": {c["id"] for c in render["components"]},
                              "dependencies": {d["id"] for d in render["dependencies"]}}
            self.components.update({c["id"]: c for c in render["components"]})
            self.dependencies.update({d["id"]: d for d in render["dependencies"]})
        return output

    def renders(self) -> list[dict]:
        """The render events (what the browser runs when a State a render reads changes)."""
        return [d for d in self.dependencies.values() if d.get("render_id") is not None]

    def _completed(self, event_id: str) -> dict:
        with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session_hash}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                    assert message.get("success"), message
                    return message["output"]
        raise AssertionError(f"event {event_id} never completed")
