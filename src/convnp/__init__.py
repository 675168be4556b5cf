"""convnp: a convolutional neural network library in plain NumPy.

    from convnp import nn, optim
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 14 * 14, 10))
"""
__version__ = "0.1.0"  # first: the modules below may read it

from . import (backend, callbacks, data, functional, gradcheck, init, io, metrics, models, nn, optim, parallel, train,
               utils, viz)
from .io import load, save
from . import onnx  # the OnnxModel class, for model files (the onnx package is imported only when used)
from .nn.recording import no_grad
from .parallel import get_num_threads, set_num_threads
from .receptive import receptive_field
