"""The synthetic Voxceleb-3D world.

``voice2mesh.config`` is imported first because it imports ``synth.spec``, which needs
``voice2mesh.config.schema``: entering through the config package keeps that cycle one-way
whichever module a caller imports first.
"""

import voice2mesh.config  # noqa: F401
