"""The `hearth` command as a host runs it: `python -m server ...` in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from server.room_store_sqlite import SqliteRoomStore
from tests.integration.nodes import ROOT, NodeFactory, clean_env
from tests.redis_server import RedisServer, free_port

LINK = re.compile(r"^(Facilitator|Invite) link: (http://\S+/r/(\S+)#(\S+))$", re.MULTILINE)


def hearth(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env=clean_env(env or {}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def links(stdout: str) -> dict[str, tuple[str, str]]:
    """{"Facilitator": (room_id, token), "Invite": (room_id, token)} from printed links."""
    return {m.group(1): (m.group(3), m.group(4)) for m in LINK.finditer(stdout)}


def test_help_lists_the_commands() -> None:
    result = hearth("--help")
    assert result.returncode == 0
    for word in ("serve", "room", "--version"):
        assert word in result.stdout
    serve_help = hearth("serve", "--help").stdout
    for flag in ("--data-dir", "--redis", "--grace-seconds", "--frame-bytes", "--demo"):
        assert flag in serve_help


def test_version() -> None:
    result = hearth("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"hearth \S+\n", result.stdout)


def test_room_create_then_list_with_no_node_running(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    created = hearth(
        "room", "create", "Tuesday circle", "--data-dir", data, "--share-seconds", "240"
    )
    assert created.returncode == 0, created.stderr
    found = links(created.stdout)
    assert set(found) == {"Facilitator", "Invite"}
    room_id = found["Invite"][0]
    assert "shown only now" in created.stdout
    assert created.stderr == ""

    listed = hearth("room", "list", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(room_id))
    assert row.split() == [room_id, "-", "-", "Tuesday", "circle"]
    assert listed.stderr == "(live counts: set HEARTH_ADMIN_TOKEN to the node's to see them)\n"
    for token in (found["Invite"][1], found["Facilitator"][1]):
        assert token not in listed.stdout

    unanswered = hearth(
        "room",
        "list",
        "--data-dir",
        data,
        "--port",
        str(free_port()),
        env={"HEARTH_ADMIN_TOKEN": "an-admin-token-of-some-length"},
    )
    assert unanswered.returncode == 0, unanswered.stderr
    assert unanswered.stdout == listed.stdout
    assert unanswered.stderr.startswith("(live counts: no node answered at http://127.0.0.1:")


def test_room_list_when_empty(tmp_path: Path) -> None:
    listed = hearth("room", "list", "--data-dir", str(tmp_path / "data"))
    assert listed.returncode == 0
    assert "No rooms yet" in listed.stdout


def test_room_list_shows_live_counts_from_a_running_node(
    tmp_path: Path, node_factory: NodeFactory
) -> None:
    node = node_factory(data_dir=tmp_path / "shared")
    assert hearth("room", "create", "Live circle", "--data-dir", str(node.data_dir)).returncode == 0
    listed = hearth(
        "room",
        "list",
        "--data-dir",
        str(node.data_dir),
        "--port",
        str(node.port),
        env={"HEARTH_ADMIN_TOKEN": node.admin_token},
    )
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.endswith("Live circle"))
    assert row.split()[1:3] == ["0", "0"]
    assert listed.stderr == ""


def test_bad_settings_and_fields_exit_2_with_one_line(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    for args, env, source in [
        (("room", "list", "--data-dir", data, "--port", "nope"), {}, "--port"),
        (("room", "list", "--data-dir", data), {"HEARTH_FRAME_BYTES": "-1"}, "HEARTH_FRAME_BYTES"),
        (("room", "create", "", "--data-dir", data), {}, "name"),
        (("room", "create", "x", "--data-dir", data, "--share-seconds", "1"), {}, "share_seconds"),
    ]:
        result = hearth(*args, env=env)
        assert result.returncode == 2, args
        assert result.stderr.startswith(f"hearth: error: {source}: "), result.stderr
        assert result.stderr.count("\n") == 1


def test_rooms_live_in_redis_with_redis_and_nothing_lands_in_the_data_dir(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with RedisServer.launch(tmp_path / "redis") as redis:
        created = hearth("room", "create", "Shared circle", "--data-dir", str(data),
                         "--redis", redis.url)  # fmt: skip
        assert created.returncode == 0, created.stderr
        room_id = links(created.stdout)["Invite"][0]
        listed = hearth("room", "list", "--redis", redis.url, "--data-dir", str(tmp_path / "other"))
        assert listed.returncode == 0, listed.stderr
        assert room_id in listed.stdout
        assert "Shared circle" in listed.stdout
    assert not data.exists() or not any(data.iterdir())


def test_an_unreachable_redis_is_one_clear_line(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = hearth("room", "list", "--data-dir", str(tmp_path), "--redis", url)
    assert result.returncode == 2
    assert result.stderr.startswith("hearth: error: room store redis://")
    assert len(result.stderr.strip().splitlines()) == 1


def test_rotate_prints_new_links(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    first = links(hearth("room", "create", "Circle", "--data-dir", data).stdout)
    room_id = first["Invite"][0]
    rotated = hearth("room", "rotate", room_id, "--data-dir", data)
    assert rotated.returncode == 0, rotated.stderr
    second = links(rotated.stdout)
    assert second["Invite"][0] == room_id
    assert second["Invite"][1] != first["Invite"][1]
    missing = hearth("room", "rotate", "nope", "--data-dir", data)
    assert missing.returncode == 2


async def test_serve_demo_prints_links_that_work_and_refreshes_them(
    tmp_path: Path, node_factory: NodeFactory
) -> None:
    data = tmp_path / "demo-data"
    # The factory returns once /healthz answers; the links are printed before serving.
    first = links(node_factory(args=["--demo"], data_dir=data).stdout_text())
    assert set(first) == {"Facilitator", "Invite"}
    node = node_factory(args=["--demo"], data_dir=data)
    second = links(node.stdout_text())
    assert second["Invite"][0] == first["Invite"][0]  # the same room, fresh tokens
    assert second["Invite"][1] != first["Invite"][1]
    assert f"http://127.0.0.1:{node.port}/r/" in node.stdout_text()

    async with httpx.AsyncClient(base_url=node.url, headers=node.auth, trust_env=False) as api:
        rooms = (await api.get("/api/rooms")).json()["rooms"]
    assert [room["name"] for room in rooms] == ["Demo circle"]
    assert rooms[0]["guidelines"]
    assert rooms[0]["crisis"]

    store = SqliteRoomStore.in_data_dir(data)
    try:
        room_id = second["Invite"][0]
        room = await store.get(room_id)
        assert room is not None
        assert await store.enter(room_id, second["Facilitator"][1]) == (room, "facilitator")
        assert await store.enter(room_id, second["Invite"][1]) == (room, "member")
        assert await store.enter(room_id, first["Invite"][1]) is None
    finally:
        await store.close()
    for _, token in (*first.values(), *second.values()):
        assert token not in node.log_text()


def test_an_unusable_data_dir_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for command in (("room", "list"), ("serve", "--port", "1")):
        result = hearth(*command, "--data-dir", str(blocker / "data"))
        assert result.returncode == 2, command
        assert result.stderr.startswith("hearth: error: room store "), result.stderr
        assert result.stderr.count("\n") == 1
