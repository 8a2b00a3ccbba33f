"""The teacher: two ResNet50 streams, MDC + FRS fusion, DiMP-50 heads, trained with the DiMP loss
(DiMP-50 hyper-parameters). Initialise from a DiMP-50 checkpoint with --dimp-init.

The recipe, top to bottom: configuration -> data -> network -> objective and actor -> optimiser
and schedule -> trainer (pytracking's dimp50 order)."""
from ltr.actors import RGBTDiMPActor
from ltr.actors.tracking import dimp_objective
from ltr.train_settings.cmd import common
from ltr.trainers import LTRTrainer
from rgbt.nets import cmd_teacher, init_from_dimp


def run(settings):
    settings.description = "CMD teacher (two-stream ResNet50, MDC + FRS)"
    config = common.configure(settings, 'teacher')
    # Data: LasHeR's (or the synthetic) training split, DiMP's processing, sampler and loader.
    loader = common.train_loader(settings)
    # Network: ImageNet-initialised backbones (backbone_pretrained), or a DiMP-50 checkpoint.
    net = cmd_teacher(backbone_pretrained=config.backbone_pretrained)
    if config.dimp_init:
        init_from_dimp(net, config.dimp_init)
    # Objective: DiMP's classification and IoU losses.
    actor = RGBTDiMPActor(net, dimp_objective(config.hinge_threshold))
    # Optimiser: Adam at DiMP-50's per-group rates (config.lr_dimp50; see TrainConfig.lr_role), StepLR.
    optimizer, scheduler = common.optimiser(settings, actor.net, 'teacher')
    trainer = LTRTrainer(actor, [loader], optimizer, settings, scheduler)
    return trainer.train(config.epochs, load_latest=True, fail_safe=config.fail_safe)
