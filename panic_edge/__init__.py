"""panic-edge: the appliance that runs PANIC!, generative models wired end to end in a loop."""

__version__ = "0.1.0"
