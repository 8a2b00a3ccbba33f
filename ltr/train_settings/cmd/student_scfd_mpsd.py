"""Student + SCFD + MPSD (Table 1, row 3)."""
from ltr.train_settings.cmd import common


def run(settings):
    settings.description = "Student + SCFD + MPSD (Table 1, row 3)"
    return common.train_distilled_student(settings, fusion='mpsd', use_scfd=True, use_mpsd=True, use_hfrd=False)
