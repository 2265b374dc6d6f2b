"""Dataset readers. Each reader names the file and the problem when a file is malformed."""

from .fashion_mnist import CLASSES as FASHION_MNIST_CLASSES
from .fashion_mnist import find_fashion_mnist, load_fashion_mnist
from .idx import read_idx

__all__ = ["FASHION_MNIST_CLASSES", "find_fashion_mnist", "load_fashion_mnist", "read_idx"]
