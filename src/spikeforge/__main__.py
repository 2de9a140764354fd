"""``python -m spikeforge``: the same as the ``spikeforge`` console script."""

from spikeforge.cli import console_main

if __name__ == "__main__":
    console_main()
