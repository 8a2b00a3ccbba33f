"""The teacher: two ResNet50 streams, MDC + FRS fusion, DiMP-50 heads, trained with the DiMP loss
(DiMP-50 hyper-parameters). Initialise from a DiMP-50 checkpoint with --dimp-init."""
from ltr.actors import RGBTDiMPActor
from ltr.actors.tracking import dimp_objective
from ltr.train_settings.cmd import common
from rgbt.nets import cmd_teacher, init_from_dimp


def run(settings):
    settings.description = "CMD teacher (two-stream ResNet50, MDC + FRS)"
    config = common.configure(settings, 'teacher')
    net = cmd_teacher(**common.net_kwargs(settings))
    if config.dimp_init:
        init_from_dimp(net, config.dimp_init)
    return common.train(settings, RGBTDiMPActor(net, dimp_objective(config.hinge_threshold)), 'teacher')
