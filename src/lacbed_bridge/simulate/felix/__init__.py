"""The Felix side of the simulator: Felix's input and output files (``inp``, ``cif``, ``files``),
its reflection pool reproduced bit for bit (``pool``), the subprocess runner (``runner``) and the
backend that runs the real Felix program (``backend``; docs/felix.md)."""
