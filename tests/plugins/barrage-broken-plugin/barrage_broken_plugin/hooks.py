"""Hook module of the broken plugin: importing it fails, as a plugin with a bug would."""

raise RuntimeError("barrage-broken-plugin hooks are broken on purpose")
