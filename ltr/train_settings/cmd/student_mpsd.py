"""Student with MPSD fusion and the MPSD loss only (L_original + alpha (L_fus + L_p)); not a row of the paper."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='mpsd', use_scfd=False, use_mpsd=True, use_hfrd=False,
                               description='Student with MPSD fusion and the MPSD loss only')
