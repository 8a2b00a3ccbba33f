"""Table 4, MD [29] with the one-stream ResNet18 student. A reconstruction from MD's abstract (its
full text and code are not available here): MD distils a two-stream network with feature-level
fusion into a one-stream network with image-level fusion, so the student stacks RGB and TIR as the
six input channels of one ResNet18 (rgbt.nets, fusion='image'; 19.7 M parameters, paper 19.9 M) and
regresses the teacher's fused layer2 and layer3 features from its own through the one-function
adapters (L_fus, weight alpha). Which of MD's own loss terms go beyond that feature regression is
not known to us; no SCFD, MPSD path or HFRD term."""
from ltr.train_settings.cmd import student_distill


def run(settings):
    return student_distill.run(settings, fusion='image', use_scfd=False, use_mpsd=True, use_hfrd=False,
                               description='Table 4, MD (reconstructed): image-level fusion student, '
                                           'fused-feature distillation')
