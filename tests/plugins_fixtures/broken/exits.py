import sys

sys.exit("plugins must not exit the daemon")
