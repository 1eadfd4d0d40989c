"""mmc_utils: the helper package of the book *Mechanistic Mode Connectivity, reproduced*.

Modules (data flows top to bottom; imports follow the same direction):

- ``runtime``, ``scales``: device, seeding, progress bars, the three scales
- ``data``: base images, cues, splits, the four evaluation sets
- ``models``, ``train``: networks and seeded training/evaluation
- ``store``: the checkpoint cache (safetensors + JSON metadata)
- ``paths``, ``align``, ``finetune``: the science of the chapters
- ``plots``, ``widgets``, ``claims``: presentation, on top of everything
"""
__version__ = "0.2.0"  # the one place the version is set (pyproject, notebooks and the book read it)
