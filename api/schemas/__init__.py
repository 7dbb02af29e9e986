"""Request and response models of the API: ``XCreate`` bodies in, ``XPublic`` documents out."""
