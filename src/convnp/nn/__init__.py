"""Stateful layers that own Parameters and call ``convnp.functional``; containers and losses."""
from .module import Layer, Parameter
from .container import Residual, Sequential
from .conv import Conv2d
from .conv_transpose import ConvTranspose2d
from .pool import MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, MaxUnpool2d
from .padding import ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d, CircularPad2d
from .resize import Upsample, PixelShuffle, PixelUnshuffle
from .linear import Linear, Flatten, Identity
from .activation import ReLU, LeakyReLU, ELU, GELU, Sigmoid, Tanh, Softmax, LogSoftmax
from .norm import BatchNorm1d, BatchNorm2d
from .dropout import Dropout
from .loss import Loss, CrossEntropyLoss, MSELoss, NLLLoss
