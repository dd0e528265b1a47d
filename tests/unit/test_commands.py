"""commands: the one table of the pipeline's commands."""

from __future__ import annotations

from adeline_infra import commands


def test_the_table_says_where_each_command_is_answered() -> None:
    assert commands.COMMANDS == ("pause", "resume", "stop", "status", "metrics", "health")
    assert commands.OPTIONAL_COMMANDS == ("toggle_crop", "stabilization_stats")
    assert commands.ANSWERS["metrics"] == "metrics"
    assert {commands.ANSWERS[c] for c in ("pause", "resume", "stop", "status", "health")} == {
        "status"
    }
    assert all(doc.endswith(".") for _, doc in commands.TABLE.values())
