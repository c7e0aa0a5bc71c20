"""``python -m engine.convert_llava SRC DST [--vision-tower DIR] [--dtype ...]``: see ``cli``."""

from engine.convert_llava.cli import app

if __name__ == "__main__":
    app()
