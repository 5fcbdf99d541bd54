"""Where a notify replica starts a status partition: its committed offset, never before the history window."""

from __future__ import annotations

from datetime import timedelta

from services.notify.start_position import HISTORY_MARGIN, start_offset, window_start_ms


def test_a_new_group_starts_at_the_window_not_at_the_log_beginning() -> None:
    assert start_offset(None, 120) == 120


def test_an_offset_committed_before_the_window_moves_to_the_window() -> None:
    assert start_offset(7, 120) == 120


def test_an_offset_inside_the_window_is_kept_so_nothing_published_while_down_is_lost() -> None:
    assert start_offset(120, 120) is None
    assert start_offset(500, 120) is None


def test_the_window_starts_a_margin_after_the_sweeps_cutoff() -> None:
    now = 1_000_000.0
    history = timedelta(hours=48)
    assert window_start_ms(history, now) == int((now - (history - HISTORY_MARGIN).total_seconds()) * 1000)


def test_a_short_history_keeps_most_of_its_window() -> None:
    now = 1_000_000.0
    history = timedelta(hours=5)
    assert window_start_ms(history, now) == int((now - 4.5 * 3600) * 1000)
