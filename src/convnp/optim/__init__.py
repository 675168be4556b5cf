"""Optimizers and learning-rate schedules with PyTorch's update rules, names and defaults.

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.StepLR(opt, step_size=10, gamma=0.1)
    for epoch in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            model.backward(loss_fn.backward())
            opt.step()
        sched.step()

``convnp.save(path, model, optimizer)`` keeps an optimizer's state in a model file.
"""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from .lr_scheduler import LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LRScheduler", "StepLR",
           "ExponentialLR", "CosineAnnealingLR"]
