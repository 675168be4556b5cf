"""Ready architectures. Each takes ``rng`` (seed or Generator) so that weights are reproducible.

Classifiers output logits (no softmax: CrossEntropyLoss takes logits, ``convnp.train.predict``
gives probabilities). The chains (``classic.py``) are ``nn.Sequential``; the others are
``nn.Model`` classes whose ``state_dict()`` keys are those of the usual PyTorch code, so weights
move between the two.
"""
from .classic import lenet5, mnist_cnn, resnet_small, simple_cnn, vgg_small
from .mobilenet import InvertedResidual, MobileNetV2, mobilenet_v2
from .resnet import BasicBlock, ResNet, resnet18

MODELS = {"lenet5": lenet5, "simple_cnn": simple_cnn, "mnist_cnn": mnist_cnn,
          "vgg_small": vgg_small, "resnet_small": resnet_small, "resnet18": resnet18,
          "mobilenet_v2": mobilenet_v2}


def get(name, **kwargs):
    """Build a model by name (one of MODELS), e.g. ``get("lenet5", rng=0)``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](**kwargs)
