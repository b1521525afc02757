#!/usr/bin/env python
"""The naive design's manage.py (docs/performance.md says what the design is)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naiveshop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
