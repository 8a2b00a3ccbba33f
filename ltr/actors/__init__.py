from .base_actor import BaseActor
from .tracking import RGBTDiMPActor, dimp_objective, DIMP_LOSS_WEIGHT
from .distillation import CMDDistillActor, CMDTrainingNet
