"""cmd_teacher on vtuav_lt (DiMP's tracking parameters)."""
from pytracking.parameter import make_parameters


def parameters():
    return make_parameters('cmd_teacher', default_dataset='vtuav_lt')
