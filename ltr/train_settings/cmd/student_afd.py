"""Table 2, AFD: Student-Origin + SCFD whose teacher targets are rgb + tir at every level (ABF kept)."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='concat', use_scfd=True, use_mpsd=False, use_hfrd=False,
                               scfd_targets='afd', description='Table 2, AFD')
