"""A password hasher as slow as production's in kind, not in cost."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class OverlappingPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 at a tenth of Django's iterations: a login's check still takes long enough for
    a burst's attempts to overlap, while eight at once on a loaded 2-core machine stay well
    inside the database's idle-in-transaction bound (full cost took over 10 s there)."""

    algorithm = "pbkdf2_sha256_overlapping"
    iterations = PBKDF2PasswordHasher.iterations // 10
