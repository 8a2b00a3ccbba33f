"""Table 4, FitNets with the two-stream ResNet18 student (concat fusion): one hint, the teacher's
fused layer3, regressed from the student's fused layer3 through a 1x1 convolution (L_fus at layer3)."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='concat', two_stream=True, use_scfd=False, use_mpsd=True,
                               use_hfrd=False, fusion_layers=('layer3',),
                               description='Table 4, FitNets with the two-stream ResNet18 student')
