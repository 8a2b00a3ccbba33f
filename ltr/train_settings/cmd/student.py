"""Student-Origin: concatenation + 1x1 conv fusion, DiMP loss only (Table 1, row 1)."""
from ltr.train_settings.cmd import common


def run(settings):
    settings.description = 'Student-Origin (Table 1, row 1)'
    return common.train_plain_student(settings, fusion='concat', paper_params_m=19.8)
