"""plugin_utils/asg_window.py: batch sizes and patch.yml's Standby windows."""

from __future__ import annotations

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils import asg_window
from hypothesis import given
from hypothesis import strategies as st

TAG = asg_window.WINDOW_TAG


def group(name="ideation-prod-api", desired=2, min_size=2, states=("InService", "InService"),
          tags=None):
    return {
        "auto_scaling_group_name": name,
        "desired_capacity": desired,
        "min_size": min_size,
        "max_size": 10,
        "instances": [
            {"instance_id": f"i-{n}", "lifecycle_state": s} for n, s in enumerate(states)
        ],
        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
    }


@pytest.mark.parametrize(("serial", "count", "size"), [
    ("25%", 10, 2), ("25%", 2, 1), ("50%", 3, 1), ("100%", 4, 4), (1, 5, 1), ("3", 2, 2),
    ("25%", 0, 0), (2, 0, 0),
])
def test_batch_size_follows_serial(serial, count, size):
    assert asg_window.batch_size(serial, count) == size


@pytest.mark.parametrize("serial", ["0", "0%", "-1", "25 %", "x", "", "1.5"])
def test_batch_size_refuses_what_serial_would_not_take(serial):
    with pytest.raises(ValueError, match="a batch size is a positive number or percentage"):
        asg_window.batch_size(serial, 4)


@given(st.integers(1, 100), st.integers(0, 500))
def test_a_percentage_batch_is_between_one_and_the_tier(percent, count):
    size = asg_window.batch_size(f"{percent}%", count)
    assert size == 0 if count == 0 else 1 <= size <= count
    if count and percent * count >= 100:
        assert size == percent * count // 100


def test_a_group_at_its_minimum_gets_a_window_down_to_desired_minus_the_batch():
    windows, problems = asg_window.standby_windows(
        {"api": [group()]}, {"api": "ideation-prod-api"}, {"api": 1})
    assert problems == []
    assert [w.as_dict() for w in windows] == [{
        "tier": "api", "group": "ideation-prod-api", "batch": 1, "desired": 2, "min_size": 2,
        "restore_min": 2, "window_min": 1}]


def test_a_group_with_room_needs_no_window():
    windows, _ = asg_window.standby_windows(
        {"api": [group(desired=4, min_size=2, states=("InService",) * 4)]}, {}, {"api": 2})
    assert windows[0].window_min is None and windows[0].restore_min == 2


def test_the_lone_bastion_goes_to_zero_for_its_window():
    windows, _ = asg_window.standby_windows(
        {"bastion": [group("b", 1, 1, ("InService",))]}, {}, {"bastion": 1})
    assert windows[0].window_min == 0


def test_an_interrupted_window_restores_the_tagged_minimum():
    """An earlier run lowered 2 to 1 and died: this run must put back 2, not 1."""
    windows, problems = asg_window.standby_windows(
        {"api": [group(min_size=1, tags={TAG: "2"})]}, {}, {"api": 1})
    assert problems == [] and windows[0].restore_min == 2 and windows[0].window_min is None


@pytest.mark.parametrize(("found", "message"), [
    ([], "auto-scaling group ideation-prod-api of the api hosts not found"),
    ([group(), group()], "auto-scaling group ideation-prod-api of the api hosts not found"),
    ([group(states=("InService", "Standby"))],
     "ideation-prod-api: instances not InService: i-1 (Standby)"),
    ([group(states=("Pending:Wait", "InService"))],
     "ideation-prod-api: instances not InService: i-0 (Pending:Wait)"),
    ([group(desired=1, min_size=1, states=("InService",))],
     "ideation-prod-api: a batch of 2 is more than its desired capacity 1"),
    ([group(tags={TAG: "two"})], "ideation-prod-api: tag ideation:standby-window-min-size must"
                                 " be the group's"
                                 " original minimum size, a number, not 'two'"),
])
def test_problems_stop_the_run_with_the_numbers(found, message):
    windows, problems = asg_window.standby_windows(
        {"api": found}, {"api": "ideation-prod-api"}, {"api": 2 if "batch of 2" in message else 1})
    assert windows == [] and problems == [message]


def test_a_tier_without_a_batch_is_not_looked_at():
    assert asg_window.standby_windows({}, {}, {"celery": 0}) == ([], [])


def test_the_minimum_goes_back_only_with_no_instance_in_standby():
    assert asg_window.restore_size(group(min_size=1, tags={TAG: "2"})) == (
        2, "ideation-prod-api: minimum back to 2")
    min_size, reason = asg_window.restore_size(
        group(desired=1, min_size=1, states=("InService", "Standby"), tags={TAG: "2"}))
    assert min_size is None
    assert reason == ("ideation-prod-api: keeps its minimum at 1 (was 2) while i-1 is in Standby;"
                      " the next patch.yml run puts it back once every instance is in service")


def test_a_group_without_a_window_is_left_alone():
    assert asg_window.restore_size(group(min_size=1)) == (
        None, "ideation-prod-api: no standby window open")


@given(st.integers(1, 20), st.integers(0, 20), st.integers(1, 20))
def test_a_window_never_goes_below_zero_and_lets_aws_take_the_batch(desired, min_size, batch):
    min_size = min(min_size, desired)
    found = {"api": [group(desired=desired, min_size=min_size, states=("InService",) * desired)]}
    windows, problems = asg_window.standby_windows(found, {}, {"api": batch})
    if batch > desired:
        assert problems and not windows
        return
    [window] = windows
    effective_min = min_size if window.window_min is None else window.window_min
    assert 0 <= effective_min <= min_size
    assert desired - batch >= effective_min  # what AWS checks on EnterStandby
    assert window.restore_min == min_size


def test_batch_sizes_take_an_inventory_groups_mapping():
    groups = {"api": ["api-1", "api-2", "api-3", "api-4"], "nginx": ["n-1"], "all": ["x"] * 9}
    assert asg_window.batch_sizes({"api": "50%", "nginx": 1, "celery": "25%"}, groups) == {
        "api": 2, "nginx": 1, "celery": 0}
