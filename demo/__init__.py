"""The embedded AWS emulator (moto's server on loopback) and a demo fleet to run the reaper against."""
