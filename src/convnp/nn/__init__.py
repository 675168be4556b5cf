"""Stateful layers that own Parameters and call ``convnp.functional``; containers and losses."""
from .module import Layer, Parameter, evaluating
from .recording import no_grad
from .model import Model
from .container import ModuleDict, ModuleList, Residual, Sequential
from .merge import Add, Cat, Mul, Reshape, Split, add, cat, mul, reshape, split
from .conv import Conv2d
from .conv_transpose import ConvTranspose2d
from .pool import MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, MaxUnpool2d
from .padding import ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d, CircularPad2d
from .resize import Upsample, PixelShuffle, PixelUnshuffle
from .linear import Linear, Flatten, Identity
from .activation import ReLU, LeakyReLU, ELU, GELU, Sigmoid, Tanh, Softmax, LogSoftmax
from .activation_hard import ReLU6, Hardtanh, Hardsigmoid, Hardswish, PReLU
from .activation_smooth import SiLU, Mish, SELU, CELU, Softplus, LogSigmoid, Softsign
from .norm import BatchNorm1d, BatchNorm2d
from .sync_batch_norm import SyncBatchNorm
from .layer_norm import LayerNorm, GroupNorm
from .instance_norm import InstanceNorm2d
from .local_response_norm import LocalResponseNorm
from .dropout import Dropout, Dropout2d
from .loss import Loss
from .classification_loss import CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, KLDivLoss
from .regression_loss import MSELoss, L1Loss, SmoothL1Loss, HuberLoss
