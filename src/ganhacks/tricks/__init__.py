"""Tricks: small units with no-op hooks that the training loop calls at named points."""

from ganhacks.tricks.base import StepContext, Trick, TrickStack

__all__ = ["StepContext", "Trick", "TrickStack"]
