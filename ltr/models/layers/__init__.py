from .prroi_pool import PrRoIPool2D, prroi_pool2d
from .normalization import InstanceL2Norm
from .blocks import conv_bn_relu, LinearBlock
from .distance import DistanceMap
