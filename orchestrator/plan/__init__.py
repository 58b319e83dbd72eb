"""Planning: a validated spec plus a site become a pure, inspectable task graph."""
