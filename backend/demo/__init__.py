"""The demo world that `qonys demo load` builds; see :mod:`backend.demo.load`."""
