"""Table 4, ReviewKD with the one-stream ResNet18 student: ABF review chains regress each modality's
student features onto the teacher's features of the same modality at levels 1-4 (no SEM/CEM), with
MPSD fusion and no MPSD or HFRD loss. Our reading of the baseline; the paper gives no details."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='mpsd', use_scfd=True, use_mpsd=False, use_hfrd=False,
                               scfd_targets='reviewkd',
                               description="Table 4, ReviewKD with the one-stream ResNet18 student")
