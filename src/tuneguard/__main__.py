"""`python -m tuneguard` entry point (used under torchrun / accelerate launch)."""

from tuneguard.cli.main import run

if __name__ == "__main__":
    run()
