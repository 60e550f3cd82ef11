"""``core_runtime.rumi_syscall`` is the top-level ``rumi_syscall`` module itself (one module, two names),
as in the original system, where this file was the single source of the SDK."""

import sys

import rumi_syscall as _module

sys.modules[__name__] = _module
