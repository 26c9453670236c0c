"""Training: the loop, run directories and checkpoints."""

from ganhacks.training.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from ganhacks.training.loop import Trainer
from ganhacks.training.rundir import RunDir, new_run_dir

__all__ = ["RunDir", "Trainer", "list_checkpoints", "load_checkpoint", "new_run_dir", "save_checkpoint"]
