"""Layer 0: the exceptions and warnings (``errors``) and the strict-mode switch (``config``)."""
