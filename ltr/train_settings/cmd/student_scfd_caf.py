"""Student + SCFD with CAF fusion (Table 3): L_original + alpha (SCFD + L_fus); no L_p (no MPSD paths).
L_fus on a non-MPSD fusion is our choice, as for student_scfd_saf."""
from ltr.train_settings.cmd import common


def run(settings):
    settings.description = 'Student + SCFD with CAF fusion (Table 3)'
    return common.train_distilled_student(settings, fusion='caf', use_scfd=True, use_mpsd=True,
                                          use_hfrd=False, paper_params_m=19.9)
