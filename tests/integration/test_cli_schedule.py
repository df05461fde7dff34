"""`hearth room list` shows each room's regular meeting time in short (issue 17).

The MEETS column appears only when some room has a regular time, so the table reads as before
for a host (or a script) without one; the room's name stays the last column.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import hearth, links


def create(data: str, name: str, *extra: str) -> str:
    made = hearth("room", "create", name, "--data-dir", data, *extra)
    assert made.returncode == 0, made.stderr
    return links(made.stdout)["Invite"][0]


def test_room_list_shows_each_rooms_schedule_in_short(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    plain = create(data, "Drop-in circle")
    listed = hearth("room", "list", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    assert "MEETS" not in listed.stdout  # no room has a time: the table as it always was
    assert listed.stdout.splitlines()[0].split() == ["ID", "MEMBERS", "WAITING", "NAME"]

    weekly = create(data, "Tuesday circle", "--schedule", "tue 19:00 90m weekly Europe/Berlin")
    other = create(
        data,
        "Grief group",
        "--schedule",
        "thursday 07:30 60m fortnightly America/New_York 2026-12-10",
    )
    listed = hearth("room", "list", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    head, *rows = listed.stdout.splitlines()
    assert head.split() == ["ID", "MEMBERS", "WAITING", "MEETS", "NAME"]
    by_id = {row.split()[0]: row for row in rows}
    assert by_id[weekly].split()[3:] == [
        "Tue",
        "19:00",
        "weekly",
        "Europe/Berlin",
        "Tuesday",
        "circle",
    ]
    assert by_id[other].split()[3:] == [
        "Thu", "07:30", "fortnightly", "America/New_York", "Grief", "group",
    ]  # fmt: skip
    assert by_id[plain].split()[3:] == ["-", "Drop-in", "circle"]
    # The names line up in one column, whatever the schedule's length.
    starts = {
        row.index(name)
        for row, name in zip(
            (by_id[weekly], by_id[other], by_id[plain]),
            ("Tuesday circle", "Grief group", "Drop-in circle"),
            strict=True,
        )
    }
    assert starts == {head.index("NAME")}
