"""cmd_teacher on vtuav (DiMP's tracking parameters)."""
from pytracking.parameter import make_parameters


def parameters():
    return make_parameters('cmd_teacher', default_dataset='vtuav')
