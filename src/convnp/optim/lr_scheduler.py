"""Learning-rate schedules: StepLR, ExponentialLR, CosineAnnealingLR, as in PyTorch.

Call ``scheduler.step()`` once per epoch, after that epoch's ``optimizer.step()`` calls.
Each schedule works on every parameter group and updates ``group["lr"]`` in place from
the group's current lr, as PyTorch's ``step()`` does, so the values agree with PyTorch's
to the last bit.
"""
import math

from .. import checks
from .optimizer import Optimizer


class LRScheduler:
    """Base class: keeps ``last_epoch`` and sets every group's lr on ``step()``.

    On construction it records each group's lr as ``group["initial_lr"]`` (unless a
    scheduler already did), keeps them as ``base_lrs`` and takes the first step to
    epoch 0. Subclasses implement ``get_lr()``: the lrs for the new ``last_epoch``.
    """

    hyperparameters = ()     # names of the constructor arguments kept in state_dict

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected a convnp.optim Optimizer,"
                            f" got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def get_lr(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement get_lr()")

    def step(self):
        """Advance one epoch and write the new lr into every parameter group."""
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise ValueError(f"{type(self).__name__}: the optimizer has {len(groups)} parameter"
                             f" groups, the scheduler was made for {len(self.base_lrs)}")
        self.last_epoch += 1
        for group, lr in zip(groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def get_last_lr(self):
        """The lrs set by the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self):
        """JSON-friendly state: last_epoch, base_lrs, the last lrs and the constructor arguments."""
        state = {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs),
                 "_last_lr": list(self._last_lr)}
        state.update((k, getattr(self, k)) for k in self.hyperparameters)
        return state

    def load_state_dict(self, state_dict):
        """Restore ``state_dict()``; the optimizer's lrs come from the optimizer's own state."""
        expected = {"last_epoch", "base_lrs", "_last_lr", *self.hyperparameters}
        missing, unexpected = expected - set(state_dict), set(state_dict) - expected
        if missing or unexpected:
            raise ValueError(f"{type(self).__name__}.load_state_dict: missing keys {sorted(missing)},"
                             f" unexpected keys {sorted(unexpected)}")
        for key in expected:
            value = state_dict[key]
            setattr(self, key, list(value) if isinstance(value, (list, tuple)) else value)

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.hyperparameters)
        return f"{type(self).__name__}({args}, last_epoch={self.last_epoch})"


class StepLR(LRScheduler):
    """Multiply the lr by gamma every ``step_size`` epochs.

    Follows torch.optim.lr_scheduler.StepLR: lr(epoch) = initial_lr * gamma ** (epoch // step_size),
    computed as lr <- lr * gamma at epochs step_size, 2 * step_size, ...
    """

    hyperparameters = ("step_size", "gamma")

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = checks.positive_int(step_size, "step_size", type(self).__name__)
        self.gamma = checks.real(gamma, "gamma", type(self).__name__)
        super().__init__(optimizer)

    def get_lr(self):
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]


class ExponentialLR(LRScheduler):
    """Multiply the lr by gamma every epoch.

    Follows torch.optim.lr_scheduler.ExponentialLR: lr(epoch) = initial_lr * gamma ** epoch,
    computed as lr <- lr * gamma.
    """

    hyperparameters = ("gamma",)

    def __init__(self, optimizer, gamma):
        self.gamma = checks.real(gamma, "gamma", type(self).__name__)
        super().__init__(optimizer)

    def get_lr(self):
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr from initial_lr to eta_min along half a cosine over T_max epochs.

    Follows torch.optim.lr_scheduler.CosineAnnealingLR, whose values follow

        lr(epoch) = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    but are computed from the current lr, as PyTorch computes them (so a change made to
    group["lr"] by hand carries on):

        lr <- eta_min + (lr - eta_min) * (1 + cos(pi * e / T_max)) / (1 + cos(pi * (e - 1) / T_max))

    and, at e = T_max + 1 (mod 2 * T_max), where that ratio is 0 / 0, the schedule
    starts rising again: lr <- lr + (initial_lr - eta_min) * (1 - cos(pi / T_max)) / 2.
    Past T_max the lr therefore climbs back to initial_lr at 2 * T_max, and so on.
    """

    hyperparameters = ("T_max", "eta_min")

    def __init__(self, optimizer, T_max, eta_min=0):
        self.T_max = checks.positive_int(T_max, "T_max", type(self).__name__)
        self.eta_min = checks.real(eta_min, "eta_min", type(self).__name__)
        super().__init__(optimizer)

    def get_lr(self):
        groups, e, T, eta_min = self.optimizer.param_groups, self.last_epoch, self.T_max, self.eta_min
        if e == 0:
            return [group["lr"] for group in groups]
        if (e - 1 - T) % (2 * T) == 0:
            return [group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base_lr, group in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
                * (group["lr"] - eta_min) + eta_min
                for group in groups]
