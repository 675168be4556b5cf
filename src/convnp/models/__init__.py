"""Ready architectures. Each takes ``rng`` (seed or Generator) so that weights are reproducible.

Classifiers output logits (no softmax: CrossEntropyLoss takes logits, ``convnp.train.predict``
gives probabilities). The chains (``classic.py``) are ``nn.Sequential``; the others are
``nn.Model`` classes whose ``state_dict()`` keys are those of the usual PyTorch code, so weights
move between the two.
"""
from .classic import lenet5, mnist_cnn, resnet_small, simple_cnn, vgg_small
from .generative import (Autoencoder, DCGANDiscriminator, DCGANGenerator, autoencoder, dcgan_discriminator,
                         dcgan_generator, dcgan_init_)
from .mobilenet import InvertedResidual, MobileNetV2, mobilenet_v2
from .resnet import BasicBlock, ResNet, resnet18
from .unet import DoubleConv, Down, OutConv, UNet, Up, unet

MODELS = {"lenet5": lenet5, "simple_cnn": simple_cnn, "mnist_cnn": mnist_cnn,
          "vgg_small": vgg_small, "resnet_small": resnet_small, "resnet18": resnet18,
          "mobilenet_v2": mobilenet_v2, "unet": unet, "autoencoder": autoencoder,
          "dcgan_generator": dcgan_generator, "dcgan_discriminator": dcgan_discriminator}

# the shape (C, H, W) of one input of each architecture built with its default arguments
INPUT_SHAPES = {"lenet5": (1, 28, 28), "simple_cnn": (1, 28, 28), "mnist_cnn": (1, 28, 28),
                "vgg_small": (3, 32, 32), "resnet_small": (3, 32, 32), "resnet18": (3, 32, 32),
                "mobilenet_v2": (3, 32, 32), "unet": (1, 32, 32), "autoencoder": (1, 28, 28),
                "dcgan_generator": (100, 1, 1), "dcgan_discriminator": (1, 28, 28)}


def get(name, **kwargs):
    """Build a model by name (one of MODELS), e.g. ``get("lenet5", rng=0)``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](**kwargs)
