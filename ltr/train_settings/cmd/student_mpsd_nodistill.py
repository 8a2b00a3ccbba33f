"""The control of distillation: the CMD student's network (MPSD fusion at layer2 and layer3) trained
with the DiMP loss alone, no teacher. It is student_distill with every distillation weight at zero
(same initialisation, same samples, same schedule), without the cost of running the teacher.
Not a row of the paper: the row that tells what distillation adds."""
from ltr.train_settings.cmd import student


def run(settings):
    return student.run(settings, fusion='mpsd',
                       description='MPSD student, no distillation (control of student_distill)')
