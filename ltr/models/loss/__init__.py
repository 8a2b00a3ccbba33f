from .target_classification import LBHinge
