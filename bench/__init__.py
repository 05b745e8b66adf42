"""`make bench`: each figure measured next to its physical floor, in the same run."""
