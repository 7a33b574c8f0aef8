"""Instance Reaper's core: find idle EC2 instances, stop or keep them safely, record every decision."""

__version__ = "0.1.0"  # the same as pyproject.toml's (a unit test keeps them equal)
