# The optional C extension built from _speedups.c (see there).
from typing import Any, Optional, Sequence, Tuple

def float_rows(rows: Sequence[Any], keys: Tuple[str, ...], /) -> Optional[bytearray]: ...
