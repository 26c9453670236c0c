import sys

from ganhacks.cli import main

sys.exit(main())
