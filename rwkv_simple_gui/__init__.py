"""rwkv-simple-gui: fine-tune RWKV-7 / RWKV-6 models from a browser or the command line."""

__version__ = "0.1.0"
