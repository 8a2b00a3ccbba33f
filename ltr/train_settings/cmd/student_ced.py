"""Table 2, CED: Student-Origin + SCFD with CEM targets (Eq. 2) at every level (ABF kept)."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='concat', use_scfd=True, use_mpsd=False, use_hfrd=False,
                               scfd_targets='ced', description='Table 2, CED')
