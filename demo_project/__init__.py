"""A small Django project that shows sessionkit in use."""
