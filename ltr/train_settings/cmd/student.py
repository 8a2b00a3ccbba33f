"""Student-Origin: concatenation + 1x1 conv fusion, DiMP loss only (Table 1, row 1).

The recipe of every student trained without a teacher, top to bottom: configuration -> data ->
network -> objective and actor -> optimiser and schedule -> trainer. Other plain students call
`run` with their difference (student_mpsd_nodistill: fusion='mpsd')."""
from ltr.actors import RGBTDiMPActor
from ltr.actors.tracking import dimp_objective
from ltr.train_settings.cmd import common
from ltr.trainers import LTRTrainer
from rgbt.nets import cmd_student, init_from_dimp


def run(settings, fusion: str = 'concat', description: str = 'Student-Origin (Table 1, row 1)'):
    settings.description = description
    config = common.configure(settings, 'student')
    # Data: LasHeR's (or the synthetic) training split, DiMP's processing, sampler and loader.
    loader = common.train_loader(settings)
    # Network: one ResNet18 for both modalities, `fusion` at layer2 and layer3, DiMP-18 heads.
    net = cmd_student(fusion=fusion, backbone_pretrained=config.backbone_pretrained)
    common.report_parameters(settings, net)
    if config.dimp_init:
        init_from_dimp(net, config.dimp_init)
    # Objective: DiMP's classification and IoU losses, nothing else.
    actor = RGBTDiMPActor(net, dimp_objective(config.hinge_threshold))
    # Optimiser: Adam at DiMP-18's per-group rates (config.lr_dimp18), fusion at lr_base; StepLR.
    optimizer, scheduler = common.optimiser(settings, actor.net, 'student')
    trainer = LTRTrainer(actor, [loader], optimizer, settings, scheduler)
    return trainer.train(config.epochs, load_latest=True, fail_safe=config.fail_safe)
