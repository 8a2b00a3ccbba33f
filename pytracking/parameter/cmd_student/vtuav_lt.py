"""cmd_student on vtuav_lt (DiMP's tracking parameters)."""
from pytracking.parameter import make_parameters


def parameters():
    return make_parameters('cmd_student', default_dataset='vtuav_lt')
