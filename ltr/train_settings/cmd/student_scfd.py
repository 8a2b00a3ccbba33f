"""Student + SCFD (Table 1, row 2)."""
from ltr.train_settings.cmd import common


def run(settings):
    settings.description = "Student + SCFD (Table 1, row 2)"
    return common.train_distilled_student(settings, fusion='concat', use_scfd=True, use_mpsd=False, use_hfrd=False)
