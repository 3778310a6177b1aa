"""`python -m cgan_cli` (and `torchrun -m cgan_cli`) run the same CLI as `cgan`."""

from cgan_cli.cli import main

if __name__ == "__main__":
    main()
