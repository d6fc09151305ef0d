"""The veil console: the privacy office's web pages, served by ``veil serve`` at
``/console`` with the API's authentication and the bundle's rules (see ``pages``)."""

from .pages import mount_console

__all__ = ["mount_console"]
