import sys

from netladder.cli import main

sys.exit(main())
