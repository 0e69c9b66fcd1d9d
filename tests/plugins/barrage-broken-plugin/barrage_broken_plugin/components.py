"""Component module of the broken plugin: importing it fails, like a missing dependency."""

raise ImportError("barrage-broken-plugin components need a package that is not installed")
