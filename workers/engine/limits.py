"""What one generation request may ask for: the numbers the gateway, the request contract and the
TorchServe handler share; and the default ceiling on one job's steps. Plain constants that import
nothing, so the file is packed into every archive as it is and the gateway reads it without torch.
"""

MAX_SEED = 2**31 - 1  # a seed is 0..MAX_SEED; image i of a request uses seed + i
MAX_IMAGES = 256  # the most images one request may ask for, whatever a model's config says
GATEWAY_MAX_IMAGES = 64  # the gateway's default cap (GANFOUNDRY_MAX_IMAGES), at most MAX_IMAGES
MIN_STEPS = 2  # interpolation frames, both ends included
MAX_STEPS = 64
DEFAULT_STEPS = 12  # the book's 12 frames (k/11)
ARITHMETIC_IMAGES = 4  # seed arithmetic draws a, b, a + b, a - b
DEFAULT_MAX_TOTAL_STEPS = 5_000_000  # optimizer steps per job (GANFOUNDRY_MAX_TOTAL_STEPS)
