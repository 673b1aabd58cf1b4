"""Stand-in for get-pip.py, which ansible-test downloads from a host this machine cannot reach.

ansible-test runs it in a new virtual environment (without pip) with pip's install arguments:
ensurepip gives the bundled pip, which then installs the requested versions from PyPI.
"""

import subprocess
import sys

ARGS = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
                      stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *ARGS])
