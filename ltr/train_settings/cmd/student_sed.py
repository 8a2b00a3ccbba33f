"""Table 2, SED: Student-Origin + SCFD with SEM targets (Eq. 1) at every level (ABF kept)."""
from ltr.train_settings.cmd import common


def run(settings):
    settings.description = 'Table 2, SED'
    return common.train_distilled_student(settings, fusion='concat', use_scfd=True, use_mpsd=False,
                                          use_hfrd=False, scfd_targets='sed', paper_params_m=19.8)
