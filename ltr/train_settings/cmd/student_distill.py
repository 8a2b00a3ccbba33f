"""CMD student (Table 1, row 4): MPSD fusion; L_original + alpha (SCFD + L_fus + L_p) + beta HFRD."""
from ltr.train_settings.cmd import common


def run(settings):
    settings.description = 'CMD student: SCFD + MPSD + HFRD (Table 1, row 4)'
    return common.train_distilled_student(settings, fusion='mpsd', use_scfd=True, use_mpsd=True,
                                          use_hfrd=True, paper_params_m=19.9)
