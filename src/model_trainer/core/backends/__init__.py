"""Model families behind one adapter, and the registry that finds them."""
