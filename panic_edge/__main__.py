import sys

from panic_edge.cli import main

sys.exit(main())
