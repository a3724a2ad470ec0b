"""`python -m botkit` runs the command line."""

from botkit._cli import main

main()
