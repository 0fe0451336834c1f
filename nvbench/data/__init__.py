"""Dataset plugins (cards and readers) and the data root."""

from nvbench.data.base import DatasetCard, DatasetPlugin, SequenceInfo, data_root

__all__ = ["DatasetCard", "DatasetPlugin", "SequenceInfo", "data_root"]
