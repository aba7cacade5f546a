#!/usr/bin/env python3
"""Black-box tests: placeholder until its issue lands."""
import sys
sys.exit(0)
