"""A distributed fit in which rank 1 fails in step 3, run by tests/test_distributed_mpi.py as

    mpiexec -n 2 python tests/mpi_fault.py raise|exit

raise: the loss raises RuntimeError on rank 1 (rank 0 is then waiting in a collective);
exit: rank 1's process ends at once (os._exit), as a crash would. Neither rank may finish.
"""
import os
import sys
import time

import numpy as np

from convnp import data, distributed, models, nn, optim
from convnp.train import fit

MODE = sys.argv[1]
WORLD = distributed.init()


class FailingLoss(nn.CrossEntropyLoss):
    """Cross-entropy that fails on rank 1 at the third step."""

    steps = 0

    def forward(self, logits, targets):
        FailingLoss.steps += 1
        if WORLD.rank == 1 and FailingLoss.steps == 3:
            print(f"failing at {time.time()}", file=sys.stderr, flush=True)
            if MODE == "exit":
                os._exit(3)
            raise RuntimeError("boom in step 3")
        return super().forward(logits, targets)


train = data.mnist_sample(train=True).subset(np.arange(640))
model = models.lenet5(rng=0)
fit(model, train, epochs=2, optimizer=optim.SGD(model.parameters(), lr=0.05), loss=FailingLoss(),
    batch_size=64, seed=0, progress=False, distributed=True)
print(f"rank {WORLD.rank} finished", flush=True)
