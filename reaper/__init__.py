"""Instance Reaper's core: find idle EC2 instances, stop or keep them safely, record every decision."""
