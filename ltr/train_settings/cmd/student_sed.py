"""Table 2, SED: Student-Origin + SCFD with SEM targets (Eq. 1) at every level (ABF kept)."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='concat', use_scfd=True, use_mpsd=False, use_hfrd=False,
                               scfd_targets='sed', description='Table 2, SED')
