"""Table 4, ReviewKD with the two-stream ResNet18 student (concat fusion): ABF review chains regress each
stream's features onto the teacher's same-modality features at levels 1-4."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='concat', two_stream=True, use_scfd=True, use_mpsd=False,
                               use_hfrd=False, scfd_targets='reviewkd',
                               description='Table 4, ReviewKD with the two-stream ResNet18 student')
