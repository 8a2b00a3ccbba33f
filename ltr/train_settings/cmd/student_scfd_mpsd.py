"""Student + SCFD + MPSD (Table 1, row 3): MPSD fusion; L_original + alpha (SCFD + L_fus + L_p)."""
from ltr.train_settings.cmd import common


def run(settings):
    settings.description = 'Student + SCFD + MPSD (Table 1, row 3)'
    return common.train_distilled_student(settings, fusion='mpsd', use_scfd=True, use_mpsd=True,
                                          use_hfrd=False, paper_params_m=19.9)
