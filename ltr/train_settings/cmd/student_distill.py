"""CMD student (Table 1, row 4): MPSD fusion; L_original + alpha (SCFD + L_fus + L_p) + beta HFRD.

The recipe of every distilled student, top to bottom: configuration -> data -> networks (the
frozen teacher, the student) -> objective (DiMP's loss + the distillation loss) and actor ->
optimiser and schedule -> trainer. The ablations of Tables 1-4 call `run` with their difference.

Args of `run` (the ablations' knobs):
    fusion: the student's fusion ('mpsd', 'concat', 'saf', 'caf', 'tf', 'image').
    use_scfd, use_mpsd, use_hfrd: the CMD terms. With `use_mpsd`, L_fus applies to any fusion module
        (at `fusion_layers`); L_p only where the fusion has MPSD's paths.
    scfd_targets: SCFD's teacher targets ('scfd', Table 2's 'afd' / 'sed' / 'ced', Table 4's 'reviewkd').
    two_stream: Table 4's two-ResNet18 student. use_kd: Table 4's response KD.
"""
from typing import Optional, Sequence

from ltr.actors import CMDDistillActor, CMDTrainingNet
from ltr.actors.tracking import dimp_objective
from ltr.admin.loading import load_network
from ltr.train_settings.cmd import common
from ltr.trainers import LTRTrainer
from rgbt.distill import CMDDistillLoss
from rgbt.nets import FUSED_LAYERS, cmd_student, cmd_student_two_stream, distill_channels, init_from_dimp


def run(settings, fusion: str = 'mpsd', use_scfd: bool = True, use_mpsd: bool = True, use_hfrd: bool = True,
        scfd_targets: str = 'scfd', two_stream: bool = False,
        fusion_layers: Optional[Sequence[str]] = None, use_kd: bool = False,
        description: str = 'CMD student: SCFD + MPSD + HFRD (Table 1, row 4)'):
    settings.description = description
    config = common.configure(settings, 'student')
    # Data: LasHeR's (or the synthetic) training split, DiMP's processing, sampler and loader.
    loader = common.train_loader(settings)
    # Networks: the trained teacher, frozen, then the student (one ResNet18, or two with `two_stream`).
    # In this order: rebuilding the teacher draws from the random generator before the student's
    # initialisation does, so a seed gives the student the initialisation it always had.
    teacher, _ = load_network(common.find_teacher(settings), expected_kind=('cmd_teacher',), role='teacher')
    build = cmd_student_two_stream if two_stream else cmd_student
    student = build(fusion=fusion, backbone_pretrained=config.backbone_pretrained)
    common.report_parameters(settings, student)
    if config.dimp_init:
        init_from_dimp(student, config.dimp_init)
    # Objective: DiMP's loss on the student + alpha (SCFD + L_fus + L_p) + beta HFRD (Eq. 14).
    distill = CMDDistillLoss(distill_channels(student), distill_channels(teacher),
                             use_scfd=use_scfd, use_mpsd=use_mpsd, use_hfrd=use_hfrd,
                             alpha=config.distill_alpha, beta=config.distill_beta,
                             mid_channels=config.abf_mid_channels, shared_abf=config.abf_shared,
                             hfrd_iterate=config.hfrd_iterate, reduction=config.distill_reduction,
                             scfd_targets=scfd_targets, fusion_layers=fusion_layers or FUSED_LAYERS, use_kd=use_kd,
                             scfd_target_norm=config.scfd_target_norm)
    actor = CMDDistillActor(CMDTrainingNet(student, distill), teacher, dimp_objective(config.hinge_threshold))
    # Optimiser: Adam at DiMP-18's per-group rates (config.lr_dimp18), fusion and adapters at lr_base; StepLR.
    optimizer, scheduler = common.optimiser(settings, actor.net, 'student')
    trainer = LTRTrainer(actor, [loader], optimizer, settings, scheduler)
    return trainer.train(config.epochs, load_latest=True, fail_safe=config.fail_safe)
