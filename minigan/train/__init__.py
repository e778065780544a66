"""The papers' training algorithms, each written next to its pseudocode."""

from minigan.train.cgan import CGAN, one_hot
from minigan.train.cyclegan import CycleGAN, ImagePool
from minigan.train.gan import GAN
from minigan.train.history import History
from minigan.train.pix2pix import Pix2Pix
from minigan.train.stackgan import StackGAN
from minigan.train.trainer import StateError, Trainer, TrainingDiverged, every
from minigan.train.wgan import WGAN
from minigan.train.wgan_gp import WGANGP

__all__ = ["CGAN", "GAN", "WGAN", "WGANGP", "CycleGAN", "History", "ImagePool", "Pix2Pix", "StackGAN", "StateError", "Trainer",
           "TrainingDiverged", "every", "one_hot"]
