"""Ready-made GAN architectures, built from minigan.nn layers."""

from minigan.models.dcgan_mnist import dcgan_mnist_discriminator, dcgan_mnist_generator
from minigan.models.toy import mlp, toy_discriminator, toy_generator

__all__ = ["dcgan_mnist_discriminator", "dcgan_mnist_generator", "mlp", "toy_discriminator", "toy_generator"]
