"""Student + SCFD with the teacher's fusion TF (Table 3): L_original + alpha (SCFD + L_fus); no L_p.
L_fus on a non-MPSD fusion is our choice, as for student_scfd_saf. The reconstructed MDC + FRS
fusion gives a 20.4 M student where the paper has 25.9 M (MFNet's modules are not public)."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='tf', use_scfd=True, use_mpsd=True, use_hfrd=False,
                               description="Student + SCFD with the teacher's fusion TF (Table 3)")
