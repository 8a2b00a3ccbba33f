from .linear_filter import LinearFilter
from .initializer import FilterInitializerLinear
from .optimizer import DiMPSteepestDescentGN
from .features import classification_features
from .filter import apply_filter, apply_feat_transpose
