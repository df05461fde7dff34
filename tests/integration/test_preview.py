"""`POST /api/preview` on a real node: the join page's look at a room before hello.

It answers a valid invite or facilitator token with the room's public face and the role the
token gives, and every wrong room or token with the same 404; it counts against the
address's hello budget and never logs what it was sent.
"""

from __future__ import annotations

import httpx

from tests.integration.nodes import Node, NodeFactory


def room(node: Node, **body: object) -> dict[str, str]:
    answer = httpx.post(
        f"{node.url}/api/rooms",
        headers=node.auth,
        json={"name": "Tuesday circle", "guidelines": "Be kind.", "crisis": "Call 112.", **body},
        trust_env=False,
    )
    assert answer.status_code == 201, answer.text
    made: dict[str, str] = answer.json()
    return made


def preview(node: Node, body: object) -> httpx.Response:
    return httpx.post(f"{node.url}/api/preview", json=body, trust_env=False, timeout=5)


def test_a_valid_token_shows_the_room_and_the_role(node: Node) -> None:
    made = room(node, share_seconds=240)
    answer = preview(node, {"room": made["id"], "token": made["invite"]})
    assert answer.status_code == 200
    assert answer.json() == {
        "name": "Tuesday circle",
        "guidelines": "Be kind.",
        "crisis": "Call 112.",
        "share_seconds": 240,
        "role": "member",
        "ice": [],  # no STUN/TURN configured: the connection check stays host-only
        "ice_policy": "all",
        "schedule": None,  # no regular meeting time: nothing to show or download
        "next_start": None,
        "calendar": None,
    }
    assert answer.headers["cache-control"] == "no-store"
    assert "content-security-policy" in answer.headers
    fac = preview(node, {"room": made["id"], "token": made["facilitator"]})
    assert fac.json()["role"] == "facilitator"


def test_every_wrong_room_or_token_gets_the_same_answer(node: Node) -> None:
    made = room(node)
    answers = [
        preview(node, {"room": made["id"], "token": "not-the-token"}),
        preview(node, {"room": "no-such-room", "token": made["invite"]}),
        preview(node, {"room": made["id"], "token": "x" * 129}),
    ]
    assert {(a.status_code, a.text) for a in answers} == {(404, '{"error":"bad_token"}')}
    assert made["invite"] not in node.log_text()


def test_a_malformed_request_is_invalid(node: Node) -> None:
    for body in ({"room": "r"}, ["room", "token"], {"room": 1, "token": 2}, "x" * 2000):
        answer = preview(node, body)
        assert answer.status_code == 400, body
        assert answer.json() == {"error": "invalid"}


def test_previews_count_against_the_hello_budget(node_factory: NodeFactory) -> None:
    node = node_factory(env={"HEARTH_HELLO_PER_MINUTE": "2"})
    made = room(node)
    body = {"room": made["id"], "token": made["invite"]}
    assert [preview(node, body).status_code for _ in range(3)] == [200, 200, 429]
    assert preview(node, body).json() == {"error": "rate_limited"}
