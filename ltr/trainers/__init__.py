from .ltr_trainer import LTRTrainer
