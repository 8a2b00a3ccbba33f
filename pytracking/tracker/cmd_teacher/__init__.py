"""Tracker name `cmd_teacher`: the RGB-T DiMP tracker (parameters in pytracking/parameter/cmd_teacher)."""
from pytracking.tracker.rgbt_dimp import get_tracker_class  # noqa: F401
