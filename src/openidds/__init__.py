"""OpenIDDS: open software for implantable intrathecal drug delivery systems."""

__version__ = "0.1.0"
