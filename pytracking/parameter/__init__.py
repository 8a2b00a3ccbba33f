"""Tracker parameter files: pytracking/parameter/<tracker>/<param>.py define parameters()."""
from pytracking.features.net_wrappers import NetworkFile
from pytracking.tracker.rgbt_dimp.defaults import DEFAULTS
from pytracking.utils.params import TrackerParams

# tracker name -> the training setting whose checkpoint is its network when no network file is found
TRAINING_SETTINGS = {'cmd_student': 'student_distill', 'cmd_teacher': 'teacher'}
# tracker name -> the network builders (rgbt.nets) its parameters are tuned for
NETWORK_KINDS = {'cmd_student': ('cmd_student', 'cmd_student_origin', 'cmd_student_two_stream'),
                 'cmd_teacher': ('cmd_teacher',)}


def make_parameters(tracker_name: str, default_dataset: str, **overrides) -> TrackerParams:
    """DiMP's tracking parameters with the tracker's network (<tracker_name>.pth.tar or its checkpoint)."""
    net = NetworkFile(f"{tracker_name}.pth.tar", training_setting=TRAINING_SETTINGS.get(tracker_name),
                      expected_kind=NETWORK_KINDS.get(tracker_name))
    return TrackerParams(DEFAULTS, net=net, default_dataset=default_dataset, **overrides)
