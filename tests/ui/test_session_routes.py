"""A session is reachable only from the browser that owns it, by every route (issue 26, item 1).

The routes are read off Gradio's own route table (every route whose path, query or body
names a session hash or an event id, and those whose handler reads one from the body
itself), not listed by hand: a Gradio upgrade that adds one fails the first test until the
middleware checks it or closes it. The second test is the attack: a real app in a
subprocess, a victim with a real chat, and an attacker who knows the victim's session hash
trying every such route with every mix of their own hash and the victim's, in the path, the
query (several times) and the body.
"""

from __future__ import annotations

import inspect
import re

import httpx
import pytest

SECRET = "KEEPSAKE-4711 patient Anna Example"
NAMES = ("session_hash", "event_id")


def gradio_routes_naming_a_session() -> list[tuple[str, str, set[str]]]:
    """(method, path template, where: path/query/body) for each route of Gradio's table
    that names a session hash or an event id."""
    import gradio as gr
    from fastapi.routing import APIRoute
    from gradio.routes import App
    from pydantic import BaseModel

    with gr.Blocks() as demo:
        gr.Textbox()
    app = App.create_app(demo)
    routes = []
    for route in app.routes:
        routes += getattr(getattr(route, "original_router", None), "routes", [route])
    found = []
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        dependant, where = route.dependant, set()
        if {p.name for p in dependant.path_params} & set(NAMES):
            where.add("path")
        if {p.name for p in dependant.query_params} & set(NAMES):
            where.add("query")
        for param in dependant.body_params:
            model = param.field_info.annotation
            if inspect.isclass(model) and issubclass(model, BaseModel) and set(model.model_fields) & set(NAMES):
                where.add("body")
        source = inspect.getsource(route.endpoint)
        if not where and re.search(r"body\.(session_hash|event_id)|\[\"session_hash\"\]", source):
            where.add("body")  # a handler that parses its own body (component_server)
        if where:
            found += [(method, route.path, where) for method in route.methods]
    return found


def concrete(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path).replace("{", "").replace("}", "")


def test_every_gradio_route_naming_a_session_or_an_event_is_checked_or_closed():
    from ui.sessions import closed_route, hashes_in_url, needs_body

    routes = gradio_routes_naming_a_session()
    paths = {path for _, path, _ in routes}
    # The table really was read: the routes the attack in the issue used are in it.
    assert {"/gradio_api/queue/data", "/gradio_api/queue/join", "/gradio_api/call/{api_name}/{event_id}",
            "/gradio_api/heartbeat/{session_hash}", "/gradio_api/cancel"} <= paths
    unchecked = []
    for method, path, where in routes:
        scope = {"method": method, "path": concrete(path, "victim"), "query_string": b"session_hash=victim"}
        if closed_route(scope):
            continue
        checked = {"query"}  # every route's query is read (hashes_in_url)
        if "victim" in hashes_in_url({**scope, "query_string": b""}):
            checked.add("path")
        if needs_body(scope):
            checked.add("body")
        if "path" in where and "{session_hash}" not in path:
            checked.discard("path")  # an event id in a path is only accepted on closed routes
        if not where <= checked:
            unchecked.append((method, path, sorted(where - checked)))
    assert unchecked == []


def requests_naming(method: str, path: str, where: set[str], mine: str, victim: str, event: str):
    """Every request an attacker can make to this route with the victim's hash or event id
    somewhere: in the path, in the query (alone, before or after their own), in the body
    with their own in the query, their own in the body with the victim's in the query, and
    the victim's event id with their own session."""
    body = {"data": [], "fn_index": 0, "session_hash": victim, "event_id": event}
    queries = [[victim], [mine, victim], [victim, mine]]
    if "path" in where:
        for value in (victim, event):
            yield concrete(path, value), [("session_hash", mine)], None
            yield concrete(path, value), [], None
    for query in queries:
        yield concrete(path, mine), [("session_hash", value) for value in query], (
            {**body, "session_hash": mine, "event_id": None} if method == "POST" else None)
    if method == "POST":
        yield concrete(path, mine), [("session_hash", mine)], body
        yield concrete(path, mine), [], body
        yield concrete(path, mine), [], {**body, "session_hash": mine}  # the victim's event id alone


def status_of(client: httpx.Client, method: str, url: str, params, body) -> tuple[int, str]:
    """The status and the first bytes (streams are not read to their end)."""
    with client.stream(method, url, params=params, json=body, timeout=10) as response:
        head = b""
        for chunk in response.iter_bytes():
            head += chunk
            if len(head) > 4096 or response.status_code == 200:
                break
        return response.status_code, head.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def victims_session(llava_app_url):
    """A person's browser (its cookie) with a real conversation holding SECRET, and the id
    of its last event, whose reply (with SECRET in it) waits unread in the queue."""
    from gradio_client import Client

    cookie = {"Cookie": "bimedix_browser=victims-browser-id"}
    victim = Client(llava_app_url, verbose=False, headers=cookie)
    victim.predict({"text": SECRET, "files": []}, "auto", 0.0, 0.9, 4, 1.0, -1, "none", "en", api_name="/respond")
    config = httpx.get(llava_app_url + "config", headers=cookie).json()
    respond = next(d for d in config["dependencies"] if d.get("api_name") == "respond")
    data = [{"text": SECRET, "files": []}, None, "auto", 0.0, 0.9, 4, 1.0, -1, "none", "en"]
    joined = httpx.post(llava_app_url + "gradio_api/queue/join", headers=cookie, json={
        "data": data, "fn_index": respond["id"], "trigger_id": None, "session_hash": victim.session_hash})
    assert joined.status_code == 200, joined.text
    return victim.session_hash, joined.json()["event_id"]


def test_a_session_hash_opens_nothing_from_another_browser_by_any_route(llava_app_url, victims_session):
    victims_hash, victims_event = victims_session
    attacker = httpx.Client(base_url=llava_app_url, cookies={"bimedix_browser": "attackers-browser-id"})
    mine = "attackers-own-session"
    let_through = []
    for method, path, where in gradio_routes_naming_a_session():
        for url, params, body in requests_naming(method, path, where, mine, victims_hash, victims_event):
            status, head = status_of(attacker, method, url.lstrip("/"), params, body)
            if status not in (403, 404) or SECRET in head:
                let_through.append((method, url, params, body and {k: body[k] for k in NAMES}, status))
    assert let_through == [], "\n".join(map(str, let_through))
    # The victim's own browser still reaches its session (the refusals above are the binding's).
    victim = httpx.Client(base_url=llava_app_url, cookies={"bimedix_browser": "victims-browser-id"})
    assert status_of(victim, "GET", "gradio_api/queue/data", [("session_hash", victims_hash)], None)[0] == 200
    assert status_of(victim, "GET", "gradio_api/queue/data",
                     [("session_hash", victims_hash), ("session_hash", mine)], None)[0] == 403


def test_the_page_keeps_working_with_only_the_routes_left_open(llava_app_url):
    """What the page itself calls is open: its config, its queue, its unqueued /run/ events."""
    page = httpx.Client(base_url=llava_app_url)
    page.get("")
    config = page.get("config").json()
    unqueued = next(dependency for dependency in config["dependencies"] if dependency.get("queue") is False)
    ran = page.post("gradio_api/run/predict", json={"data": [None] * len(unqueued["inputs"]),
                                                     "fn_index": unqueued["id"], "session_hash": "own"})
    assert ran.status_code != 404
    assert page.post("gradio_api/call/respond", json={"data": []}).status_code == 404
    assert page.get("gradio_api/call/respond/own").status_code == 404
    assert status_of(page, "GET", "gradio_api/queue/data", [("session_hash", "own")] * 2, None)[0] == 200


# What a read-only review of the binding found (each was a way around it before its fix).

def test_another_apps_cookie_on_the_same_host_does_not_hide_the_browsers_own():
    from ui.sessions import cookie_value, identity

    headers = [(b"cookie", b'x={"k":1}; t=a b; bimedix_browser=mine')]
    assert cookie_value(headers) == "mine"
    assert identity([], "10.0.0.9") == "address:10.0.0.9"  # cookieless clients are not one shared nobody


def test_a_flood_of_made_up_hashes_binds_nothing_and_pushes_no_live_session_out():
    from ui.sessions import SessionBindings

    bindings = SessionBindings(capacity=100, per_address=50)
    assert bindings.allows("victim", "alice", "10.0.0.1")
    assert not bindings.allows("made-up", "mallory", "10.0.0.2", may_start=False)  # not a route that starts one
    flooded = sum(bindings.allows(f"h{n}", "mallory", "10.0.0.2") for n in range(500))
    assert flooded == 50  # one address binds at most its share
    for n in range(200):  # many addresses: the victim, still in use, is not the oldest
        bindings.allows("victim", "alice", "10.0.0.1")
        bindings.allows(f"x{n}", f"m{n}", f"10.1.{n}.1")
    assert not bindings.allows("victim", "mallory", "10.0.0.2") and bindings.allows("victim", "alice", "10.0.0.1")


def test_a_file_is_named_however_the_body_spells_it(tmp_path, monkeypatch):
    import json
    import os

    from ui.file_owners import FileOwners

    root = tmp_path / "port-1"
    (root / "gradio" / "h").mkdir(parents=True)
    scan = root / "gradio" / "h" / "scan.dcm"
    scan.write_bytes(b"DICM")
    owners = FileOwners(root)
    owners.note("alice", json.dumps([str(scan)]))
    monkeypatch.chdir(tmp_path)
    spellings = [str(scan), str(root / "gradio" / "." / "h" / "scan.dcm"), os.path.relpath(scan),
                 "http://x/gradio_api/file=" + str(scan)]
    bodies = [json.dumps({"data": [{"files": [{"path": spelling}]}]}).encode() for spelling in spellings]
    bodies.append(bodies[0].replace(b"/", b"\\/"))  # JSON's escaped slashes
    for body in bodies:
        assert owners.foreign_in("mallory", body) and not owners.foreign_in("alice", body), body
    (root / "gradio" / "h" / "never-shown.dcm").write_bytes(b"DICM")
    assert owners.foreign_in("alice", json.dumps({"path": str(root / "gradio" / "h" / "never-shown.dcm")}).encode())
    assert not owners.may_fetch("alice", "/gradio_api/file=/proc/self/fd/3")  # a link: refused
    assert owners.may_fetch("alice", f"/gradio_api/file={scan}") and not owners.may_fetch("mallory", f"/gradio_api/file={scan}")
