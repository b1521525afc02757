"""Password hashers of the tests: one as slow as production's in kind, not in cost; one that
records where it was called."""

from django.contrib.auth.hashers import MD5PasswordHasher, PBKDF2PasswordHasher
from django.db import connection


class OverlappingPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 at a tenth of Django's iterations: a login's check still takes long enough for
    a burst's attempts to overlap, while eight at once on a loaded 2-core machine stay well
    inside the database's idle-in-transaction bound (full cost took over 10 s there)."""

    algorithm = "pbkdf2_sha256_overlapping"
    iterations = PBKDF2PasswordHasher.iterations // 10


class TransactionRecordingHasher(MD5PasswordHasher):
    """A fast hasher that records, each time it hashes, whether a transaction was open."""

    algorithm = "transaction_recording"
    in_transaction: list[bool] = []  # the class's record, read by the test

    def encode(self, password, salt):
        self.in_transaction.append(connection.in_atomic_block)
        return super().encode(password, salt)
