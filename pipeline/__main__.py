"""`python -m pipeline ...` runs the `capcode` command line (also under `torchrun -m pipeline`)."""

from pipeline.cli import main

if __name__ == "__main__":
    main()
