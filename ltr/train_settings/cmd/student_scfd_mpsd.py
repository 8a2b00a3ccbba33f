"""Student + SCFD + MPSD (Table 1, row 3): MPSD fusion; L_original + alpha (SCFD + L_fus + L_p)."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='mpsd', use_scfd=True, use_mpsd=True, use_hfrd=False,
                               description='Student + SCFD + MPSD (Table 1, row 3)')
