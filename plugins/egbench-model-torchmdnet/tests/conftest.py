"""One torch thread for these tests: the structures are tiny, so a second thread buys nothing,
and on a shared, busy machine two threads that wait for each other make every step many times
slower (measured: 10x on this project's 2-core box)."""
import torch

torch.set_num_threads(1)
