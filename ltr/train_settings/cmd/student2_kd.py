"""Table 4, KD with the two-stream ResNet18 student (concat fusion): the final score map regressed to
the teacher's (see rgbt.distill.CMDDistillLoss use_kd), weighted by beta."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='concat', two_stream=True, use_scfd=False, use_mpsd=False,
                               use_hfrd=False, use_kd=True,
                               description='Table 4, KD with the two-stream ResNet18 student')
