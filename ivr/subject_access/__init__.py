"""The citizen's copy (ст. 14 152-ФЗ): every call, appeal and recording of one identity, as one archive.

:mod:`find` finds them from a ИНН, СНИЛС or phone number (through their keyed hashes: the
numbers themselves are kept nowhere); :mod:`archive` writes the archive (the recordings
decrypted, a summary of the appeals and calls) and audits the whole request.
"""
