"""The pack-side helper modules of the original system's ``core_runtime`` package, so blocks
written for it import unchanged.

Only what pack code used is here; the original's kernel is not (Rumi's is rumid):

- ``core_runtime.syscall``: re-exports of ``rumi_syscall`` (network through rumi-egressd);
- ``core_runtime.rumi_syscall``, ``core_runtime.rumi_capability``: the SDK modules themselves;
- ``core_runtime.logging_utils``: structured (JSON) logging with correlation ids;
- ``core_runtime.error_messages``: ``RUMI-CAT-NNN`` error codes and ``RumiError``;
- ``core_runtime.types``: shared type names (``PackId``, ``JsonDict``, ``Result``, ``Severity``);
- ``core_runtime.deprecation``: the ``deprecated`` decorators, controlled by
  ``RUMI_DEPRECATION_LEVEL``.

Standard library only. Importing the package imports none of its modules.
"""
