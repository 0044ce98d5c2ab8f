import sys

from dbch.cli import main

sys.exit(main())
