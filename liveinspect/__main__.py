import sys

from liveinspect.cli import main

sys.exit(main())
