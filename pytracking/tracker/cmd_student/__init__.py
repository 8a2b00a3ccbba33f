"""Tracker name `cmd_student`: the RGB-T DiMP tracker (parameters in pytracking/parameter/cmd_student)."""
from pytracking.tracker.rgbt_dimp import get_tracker_class  # noqa: F401
