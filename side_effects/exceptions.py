class SideEffectLost(Exception):
    """Every recent attempt at this side effect lost its worker before it ended: the next
    would too (it kills or freezes its process), so it is failed instead."""
