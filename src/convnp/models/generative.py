"""Generative models for 28x28 images: a convolutional autoencoder and DCGAN's generator and discriminator.

``Autoencoder``: the usual PyTorch convolutional autoencoder for MNIST, ``encoder`` (two
stride-2 3x3 convs, 28 -> 14 -> 7, then a 7x7 conv to a latent vector) and ``decoder`` (the
mirror image in transposed convs, 1 -> 7 -> 14 -> 28, sigmoid output in [0, 1]).

``DCGANGenerator`` / ``DCGANDiscriminator``: the structure and names of PyTorch's DCGAN
tutorial (a ``main`` Sequential: ``main.0.weight``, ``main.1.weight`` ...; transposed convs
without bias, BatchNorm, ReLU and Tanh in G; strided convs, BatchNorm and LeakyReLU(0.2) in D),
sized for 28x28 instead of 64x64: G maps noise (N, nz, 1, 1) to 7x7, 14x14, 28x28; D mirrors
it and ends in one logit per image (use BCEWithLogitsLoss; the tutorial's Sigmoid + BCELoss is
the same loss, less stable). Both start from the tutorial's ``weights_init``: conv weights
N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0 (``dcgan_init_``).
"""
from .. import checks, init, nn
from ..init import as_rng


class Autoencoder(nn.Model):
    """Convolutional autoencoder: x -> encoder -> (N, latent, 1, 1) -> decoder -> x_hat in [0, 1].

    Args: in_channels=1, latent=64 (channels of the code), rng=None.
    Shape: (N, in_channels, 28, 28) -> (N, in_channels, 28, 28); in general H and W multiples
    of 4 and at least 28 (the code is then (H/4 - 6) x (W/4 - 6)).
    """

    def __init__(self, in_channels=1, latent=64, rng=None):
        super().__init__()
        rng = as_rng(rng)
        self.in_channels = in_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, stride=2, padding=1, rng=rng), nn.ReLU(),   # 28 -> 14
            nn.Conv2d(16, 32, 3, stride=2, padding=1, rng=rng), nn.ReLU(),            # 14 -> 7
            nn.Conv2d(32, latent, 7, rng=rng))                                        # 7 -> 1
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(latent, 32, 7, rng=rng), nn.ReLU(),                    # 1 -> 7
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1, rng=rng), nn.ReLU(),  # 7 -> 14
            nn.ConvTranspose2d(16, in_channels, 3, stride=2, padding=1, output_padding=1, rng=rng),   # 14 -> 28
            nn.Sigmoid())

    def forward(self, x):
        checks.input_shape(x, "Autoencoder", f"(N, {self.in_channels}, H, W)", 4, self.in_channels)
        h, w = x.shape[2:]
        if h % 4 or w % 4 or min(h, w) < 28:
            raise ValueError(f"Autoencoder: H and W must be multiples of 4 and at least 28 (28x28 MNIST),"
                             f" got input {tuple(x.shape)}")
        return self.decoder(self.encoder(x))


def dcgan_init_(model, rng=None):
    """The DCGAN tutorial's weights_init, in place: conv and transposed-conv weights ~ N(0, 0.02),
    BatchNorm weights ~ N(1, 0.02), BatchNorm biases 0. Returns the model."""
    rng = as_rng(rng)
    for _, layer in model.named_modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            init.normal_(layer.weight, 0.0, 0.02, rng=rng)
        elif isinstance(layer, nn.BatchNorm2d):
            init.normal_(layer.weight, 1.0, 0.02, rng=rng)
            init.zeros_(layer.bias)
    return model


class DCGANGenerator(nn.Model):
    """DCGAN generator for 28x28: noise (N, nz, 1, 1) -> image (N, nc, 28, 28) in [-1, 1].

    main: ConvTranspose2d(nz, 4*ngf, 7, 1, 0) -> 7x7, BN, ReLU; ConvTranspose2d(4*ngf, 2*ngf, 4, 2, 1)
    -> 14x14, BN, ReLU; ConvTranspose2d(2*ngf, nc, 4, 2, 1) -> 28x28, Tanh. No biases (BatchNorm
    follows, or the tutorial's choice for the last layer).
    Args: nz=100, ngf=32, nc=1, rng=None (the dcgan_init_ draws).
    """

    def __init__(self, nz=100, ngf=32, nc=1, rng=None):
        super().__init__()
        self.nz = nz
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 7, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(),
            nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False), nn.Tanh())
        dcgan_init_(self, rng)

    def forward(self, z):
        checks.input_shape(z, "DCGANGenerator", f"(N, {self.nz}, 1, 1)", 4, self.nz)
        return self.main(z)


class DCGANDiscriminator(nn.Model):
    """DCGAN discriminator for 28x28: image (N, nc, 28, 28) -> one logit per image (N, 1).

    main: Conv2d(nc, 2*ndf, 4, 2, 1) -> 14x14, LeakyReLU(0.2); Conv2d(2*ndf, 4*ndf, 4, 2, 1)
    -> 7x7, BN, LeakyReLU(0.2); Conv2d(4*ndf, 1, 7, 1, 0) -> 1x1; Flatten. No biases, no BatchNorm
    on the first layer (as the tutorial), no Sigmoid (a logit for BCEWithLogitsLoss).
    Args: nc=1, ndf=32, rng=None (the dcgan_init_ draws).
    """

    def __init__(self, nc=1, ndf=32, rng=None):
        super().__init__()
        self.nc = nc
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf * 2, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 4, 1, 7, 1, 0, bias=False), nn.Flatten())
        dcgan_init_(self, rng)

    def forward(self, x):
        checks.input_shape(x, "DCGANDiscriminator", f"(N, {self.nc}, 28, 28)", 4, self.nc)
        if x.shape[2:] != (28, 28):
            raise ValueError(f"DCGANDiscriminator: expected input (N, {self.nc}, 28, 28), got {tuple(x.shape)}")
        return self.main(x)


def autoencoder(in_channels=1, latent=64, rng=None):
    """Convolutional autoencoder for 28x28 images (MNIST); see Autoencoder."""
    return Autoencoder(in_channels, latent, rng)


def dcgan_generator(nz=100, ngf=32, nc=1, rng=None):
    """DCGAN generator, noise (N, nz, 1, 1) -> (N, nc, 28, 28); see DCGANGenerator."""
    return DCGANGenerator(nz, ngf, nc, rng)


def dcgan_discriminator(nc=1, ndf=32, rng=None):
    """DCGAN discriminator, (N, nc, 28, 28) -> (N, 1) logits; see DCGANDiscriminator."""
    return DCGANDiscriminator(nc, ndf, rng)
