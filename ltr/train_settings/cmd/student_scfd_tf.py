"""Student + SCFD with the teacher's fusion TF (Table 3)."""
from ltr.train_settings.cmd import common


def run(settings):
    settings.description = "Student + SCFD with the teacher's fusion TF (Table 3)"
    return common.train_distilled_student(settings, fusion='tf', use_scfd=True, use_mpsd=True, use_hfrd=False)
