"""FileProgress: the acknowledged offset only moves over a contiguous acknowledged prefix."""

from shipper.file_progress import FileProgress


def make_progress_with_three_lines() -> FileProgress:
    progress = FileProgress("fp", "app.jsonl", size=30)
    for start in (0, 10, 20):
        progress.track(start, start + 10)
    return progress


def test_out_of_order_acknowledgements_wait_for_the_earlier_lines() -> None:
    progress = make_progress_with_three_lines()
    assert not progress.acknowledge(20)
    assert not progress.acknowledge(10)
    assert progress.acked == 0
    assert progress.acknowledge(0)
    assert progress.acked == 30 and progress.complete


def test_an_unacknowledged_line_holds_back_everything_after_it() -> None:
    progress = make_progress_with_three_lines()
    progress.acknowledge(0)
    progress.acknowledge(20)
    assert progress.acked == 10
    assert progress.pending == 2 and not progress.complete
    assert progress.lag_bytes == 20


def test_skipped_empty_lines_ride_with_the_line_before() -> None:
    progress = FileProgress("fp", "app.jsonl", size=13)
    progress.skip(0, 1)
    assert progress.acked == 1
    progress.track(1, 12)
    progress.skip(12, 13)
    assert progress.acked == 1
    progress.acknowledge(1)
    assert progress.acked == 13


def test_batches_acknowledged_out_of_order_move_the_offset_only_over_a_whole_prefix() -> None:
    """Two batches in flight: the later one answered first waits for the earlier one."""
    progress = FileProgress("fp", "app.jsonl", size=60)
    progress.track_lines([(start, start + 10, b"x", False) for start in range(0, 60, 10)], 1.0)
    assert progress.read == 60 and progress.pending == 6
    assert not progress.acknowledge_all([30, 40, 50])
    assert progress.acked == 0
    assert progress.acknowledge_all([0, 20])
    assert progress.acked == 10 and progress.pending == 5
    assert progress.acknowledge_all([10])
    assert progress.acked == 60 and progress.complete
