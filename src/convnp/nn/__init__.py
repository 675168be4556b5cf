"""Stateful layers that own Parameters and call ``convnp.functional``; containers and losses."""
from .module import Layer, Parameter
from .recording import no_grad
from .model import Model
from .container import ModuleDict, ModuleList, Residual, Sequential
from .merge import Add, Cat, Mul, Reshape, Split, add, cat, mul, reshape, split
from .conv import Conv2d
from .pool import MaxPool2d, AvgPool2d, AdaptiveAvgPool2d
from .linear import Linear, Flatten, Identity
from .activation import ReLU, LeakyReLU, ELU, GELU, Sigmoid, Tanh, Softmax, LogSoftmax
from .norm import BatchNorm1d, BatchNorm2d
from .dropout import Dropout
from .loss import Loss, CrossEntropyLoss, MSELoss, NLLLoss
