"""Table 4, KD with the two-stream ResNet18 student (concat fusion): the final score map regressed to
the teacher's (see rgbt.distill.CMDDistillLoss use_kd), weighted by beta."""
from ltr.train_settings.cmd import common


def run(settings):
    settings.description = 'Table 4, KD with the two-stream ResNet18 student'
    return common.train_distilled_student(settings, fusion='concat', two_stream=True, use_scfd=False,
                                          use_mpsd=False, use_hfrd=False, use_kd=True, paper_params_m=31.6)
