"""Export formats of a merged model besides the ``rwkv`` package's ``.pth``: Ai00 / web-rwkv ``.st``."""
