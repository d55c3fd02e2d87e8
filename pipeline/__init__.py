"""Thin steps with I/O and tracking around the pure ``features`` and ``models`` packages."""

import os

# LightGBM's OpenMP threads spin while waiting by default; on a shared 2-core machine (a scheduler, a
# second job, CI) spinning threads starve each other and a 10-second fit takes minutes. Passive waiting
# costs nothing measurable when the machine is idle. Must be set before lightgbm loads its library.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
