"""Tricks: small units with no-op hooks that the training loop calls at named points."""

from ganhacks.tricks.base import StepContext, Trick, TrickStack
from ganhacks.tricks.catalogue import CATALOGUE, HOOK_TRICKS, build_tricks, catalogue

__all__ = ["CATALOGUE", "HOOK_TRICKS", "StepContext", "Trick", "TrickStack", "build_tricks", "catalogue"]
