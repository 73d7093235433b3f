import sys

from agf_core.analyze.cli import main

sys.exit(main())
