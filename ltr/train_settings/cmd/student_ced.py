"""Table 2, CED: Student-Origin + SCFD with CEM targets (Eq. 2) at every level (ABF kept)."""
from ltr.train_settings.cmd import common


def run(settings):
    settings.description = 'Table 2, CED'
    return common.train_distilled_student(settings, fusion='concat', use_scfd=True, use_mpsd=False,
                                          use_hfrd=False, scfd_targets='ced', paper_params_m=19.8)
