"""One intake for HTTP and WebSocket: the same input is refused the same way, and counted the
same way, whichever transport brought it."""

from __future__ import annotations

import pytest
from support.jarvis_server import receive_turn, sample

from jarvis.chat.intake import ChatInputError, claimed_user_id, validate_chat_payload

REFUSED = [
    (b"{not json", "parse"),
    (b'{"message": 3}', "validation"),
    (b'{"message": "hi", "user_id": "enzo-has-a-far-too-long-name"}', "validation"),
]


def test_a_claimed_user_id_is_bounded_by_the_setting_not_a_constant():
    assert claimed_user_id({"user_id": "enzo"}, max_user_id_chars=4) == "enzo"
    assert claimed_user_id({"user_id": "enzo5"}, max_user_id_chars=4) is None
    assert claimed_user_id({"user_id": "u" * 200}, max_user_id_chars=256) == "u" * 200


def test_a_refused_payload_names_its_user_only_when_well_formed():
    with pytest.raises(ChatInputError) as caught:
        validate_chat_payload({"user_id": "enzo"}, max_message_chars=10, max_user_id_chars=8)
    assert caught.value.stage == "validation" and caught.value.user_id == "enzo"
    with pytest.raises(ChatInputError) as caught:
        validate_chat_payload({"user_id": "enzo"}, max_message_chars=10, max_user_id_chars=3)
    assert caught.value.user_id is None


async def test_http_and_websocket_refuse_and_count_bad_input_alike(jarvis_server):
    server = await jarvis_server(max_user_id_chars=16)
    http_stages = []
    for body, _ in REFUSED:
        async with server.session.post(server.url + "/chat", data=body) as response:
            http_stages.append((await response.json())["stage"])
    http_text = await server.metrics_text()
    ws_stages = []
    async with server.session.ws_connect(server.url + "/ws") as ws:
        for body, _ in REFUSED:
            await ws.send_str(body.decode())
            ws_stages.append((await receive_turn(ws))[-1]["stage"])
    ws_text = await server.metrics_text()
    assert http_stages == ws_stages == [stage for _, stage in REFUSED]
    for stage, per_transport in (("parse", 1), ("validation", 2)):
        assert sample(http_text, "chat_errors_total", stage=stage) == per_transport
        assert sample(ws_text, "chat_errors_total", stage=stage) == 2 * per_transport
    assert sample(http_text, "chat_requests_total", secure="false", status="error") == 3
    assert sample(ws_text, "chat_requests_total", secure="false", status="error") == 6


async def test_garbage_costs_its_address_a_token_whatever_the_transport(jarvis_server):
    """An HTTP body or a WebSocket frame naming no user still costs its address a token, or a
    flood of garbage would cost nothing; the WebSocket's upgrade paid one too."""
    server = await jarvis_server(
        rate_limit_burst=2, rate_limit_per_minute=1, rate_limit_address_factor=1
    )
    statuses = []
    for _ in range(3):
        async with server.session.post(server.url + "/chat", data=b"{garbage") as response:
            statuses.append(response.status)
    async with server.session.ws_connect(server.url + "/ws") as ws:
        frames = []
        for _ in range(2):
            await ws.send_str("{garbage")
            frames.append((await receive_turn(ws))[-1])
    assert statuses == [400, 400, 429]
    assert [frame.get("stage") for frame in frames] == ["parse", None]
    assert frames[-1]["error"] == "rate limit exceeded"
    text = await server.metrics_text()
    assert sample(text, "rate_limit_hits_total", endpoint="/chat", client_type="ip") == 1
    assert sample(text, "rate_limit_hits_total", endpoint="/ws", client_type="ip") == 1
    assert sample(text, "chat_errors_total", stage="parse") == 3, "a refused chat is not parsed"
