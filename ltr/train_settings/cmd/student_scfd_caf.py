"""Student + SCFD with CAF fusion (Table 3): L_original + alpha (SCFD + L_fus); no L_p (no MPSD paths).
L_fus on a non-MPSD fusion is our choice, as for student_scfd_saf."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='caf', use_scfd=True, use_mpsd=True, use_hfrd=False,
                               description='Student + SCFD with CAF fusion (Table 3)')
