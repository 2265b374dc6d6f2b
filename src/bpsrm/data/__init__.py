"""Dataset readers, offline first.

``get_dataset(name, split, root=None, download=False, **options)`` returns a
``torch.utils.data.Dataset`` of ``(input tensor, int label)`` with
``.classes``. Every reader names the file and the problem when a file is
malformed (:class:`bpsrm.errors.DataError`).
"""

from . import asl_dvs, cwru, fashion_mnist, nmnist, weather
from .asl_dvs import ASLDVS, read_asl_dvs
from .base import DATASETS, SampleDataset, get_dataset, register
from .cwru import CWRU, read_cwru_record
from .download import extract, fetch, sha256_of
from .fashion_mnist import CLASSES as FASHION_MNIST_CLASSES
from .fashion_mnist import FashionMNIST, find_fashion_mnist, load_fashion_mnist
from .idx import read_idx
from .locate import cache_dir, search_roots
from .nmnist import NMNIST, read_nmnist
from .weather import Weather

__all__ = [
    "ASLDVS",
    "CWRU",
    "NMNIST",
    "asl_dvs",
    "nmnist",
    "read_asl_dvs",
    "read_nmnist",
    "DATASETS",
    "Weather",
    "cwru",
    "read_cwru_record",
    "weather",
    "FASHION_MNIST_CLASSES",
    "FashionMNIST",
    "SampleDataset",
    "register",
    "cache_dir",
    "extract",
    "fashion_mnist",
    "fetch",
    "find_fashion_mnist",
    "get_dataset",
    "load_fashion_mnist",
    "read_idx",
    "search_roots",
    "sha256_of",
]
