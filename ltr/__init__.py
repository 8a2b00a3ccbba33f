"""ltr package."""
from ltr.admin.threads import default_openmp_wait_policy

# Before torch loads OpenMP: waiting threads sleep instead of spinning (ltr/admin/threads.py).
default_openmp_wait_policy()
