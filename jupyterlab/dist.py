"""meson dist script: put the built (git-ignored) JupyterLab extension into the sdist.

An sdist then installs the extension without Node. Without a built one it says so and goes on.
"""

import os
import shutil
import sys
from pathlib import Path

source = Path(os.environ["MESON_SOURCE_ROOT"]) / "jupyterlab" / "labextension"
dist = Path(os.environ["MESON_DIST_ROOT"]) / "jupyterlab" / "labextension"
if (source / "package.json").is_file():
    shutil.copytree(source, dist, dirs_exist_ok=True)
else:
    print("jupyterlab/labextension is not built: the sdist has no JupyterLab extension", file=sys.stderr)
