"""Student + SCFD (Table 1, row 2): concat fusion; losses L_original + alpha SCFD."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='concat', use_scfd=True, use_mpsd=False, use_hfrd=False,
                               description='Student + SCFD (Table 1, row 2)')
