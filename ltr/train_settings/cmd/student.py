"""Student-Origin (Table 1, row 1): ResNet18, concatenation fusion, no distillation."""
from ltr.train_settings.cmd import common


def run(settings):
    settings.description = "Student-Origin (concat fusion, DiMP loss only)"
    return common.train_plain_student(settings, fusion='concat')
