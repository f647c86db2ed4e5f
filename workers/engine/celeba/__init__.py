"""CelebA for the convolutional GANs: zip of JPEGs -> HDF5 -> float tensors in [0, 1].

By role, so a reader pulls in neither the zip handling nor the builder's bookkeeping:
``layout`` (the two HDF5 layouts and CelebaError), ``archive`` (zips and folders of JPEGs),
``build`` (the resumable HDF5 builder), ``reader`` (CelebaImages and loading into memory) and
``faces`` (offline stand-ins for CelebA).
"""
