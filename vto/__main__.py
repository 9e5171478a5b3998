import sys

from vto.cli.main import main

sys.exit(main())
